from __future__ import annotations

from marshmallow import Schema, fields, post_dump

from ..auth import current_principal
from ..netguard import redact_url
from ..schemas import AwareDateTime

VIAS = "email | link | teams"


class EscalationRecipientOut(Schema):
    address = fields.String(metadata={"description": "the email address, Teams webhook (its sig= shown to admin "
                                                     "tokens only) or, for the Teams bot, the person's handle"})
    channel = fields.String(metadata={"description": "email | teams | teams_bot | log"})
    sent_at = AwareDateTime(allow_none=True, metadata={"description": "when the message left (null: not yet)"})
    acknowledged_at = AwareDateTime(allow_none=True)

    @post_dump
    def _redact(self, data: dict, **_) -> dict:
        principal = current_principal()
        if data.get("address") and not (principal and principal.can("admin")):
            data["address"] = redact_url(data["address"])
        return data


class EscalationOut(Schema):
    rule = fields.String(metadata={"description": "the escalation rule's name (\"Team not assembled\" for the "
                                                  "assemble check's message to the Incident Commander)"})
    step = fields.Integer(metadata={"description": "0 for the rule's own contacts, 1… for its `then` steps"})
    contacts = fields.List(fields.String(), metadata={"description": "the policy's contact keys the step notified"})
    reason = fields.String()
    fired_at = AwareDateTime()
    acknowledged_at = AwareDateTime(allow_none=True, metadata={"description": "the step's first acknowledgement"})
    acknowledged_by = fields.String(allow_none=True,
                                    metadata={"description": "a person's handle, else the address that acknowledged"})
    via = fields.String(allow_none=True, attribute="acknowledged_via", metadata={"description": VIAS})
    recipients = fields.List(fields.Nested(EscalationRecipientOut))
