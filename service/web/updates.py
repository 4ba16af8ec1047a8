"""`GET /api/incidents/<id>/updates`: each stakeholder update in its own words, whom it reached and who has
said Got it (CONTRACT §8). It lives here, above notify (the receipts) and the status page (the update's
wording), because it joins the two; posting an update is the incidents API's (`POST …/updates`).
"""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, post_dump
from sqlalchemy import select

from ..auth import current_principal, require_scope
from ..db import page_of, session
from ..incidents.models import IncidentUpdate
from ..incidents.schemas import UpdateOut
from ..incidents.views import incident_or_404
from ..netguard import redact_url
from ..notify import receipts
from ..runtime import config, policy
from ..schemas import AwareDateTime, PageArgs
from .public import update_text

blp = Blueprint("updates", __name__, url_prefix="/api/incidents",
                description="Stakeholder updates: what they said, whom they reached, who has seen them")


class RecipientOut(Schema):
    address = fields.String(metadata={"description": "email address, Teams channel id, or webhook (redacted "
                                                     "unless the token is admin)"})
    channel = fields.String()
    name = fields.String()
    status = fields.String(metadata={"description": "the message's delivery status"})
    sent_at = AwareDateTime(allow_none=True)
    acknowledged_at = AwareDateTime(allow_none=True, metadata={"description": "when this recipient said Got it"})


class SeenOut(Schema):
    address = fields.String(metadata={"description": "the email address, or teams:<Entra object id>"})
    name = fields.String()
    at = AwareDateTime()
    via = fields.String(metadata={"description": "link | email | teams"})


class SeenCountOut(Schema):
    count = fields.Integer(metadata={"description": "N of \"seen by N of M\""})
    of = fields.Integer(metadata={"description": "M: recipients whose message carries Got it (email, the bot's "
                                                 "channel card; a Workflows webhook card cannot answer)"})


class UpdateReceiptsOut(UpdateOut):
    text = fields.String(metadata={"description": "the update in the stakeholder template's words"})
    recipients = fields.List(fields.Nested(RecipientOut))
    acknowledged_by = fields.List(fields.Nested(SeenOut))
    seen = fields.Nested(SeenCountOut)

    @post_dump
    def _hide_webhooks(self, data: dict, **_) -> dict:
        """A Workflows URL's sig= posts into the channel: only admin tokens see it."""
        principal = current_principal()
        if not (principal and principal.can("admin")):
            for recipient in data.get("recipients", []):
                recipient["address"] = redact_url(recipient.get("address") or "")
        return data


def with_receipts(incident, update: IncidentUpdate, got: receipts.Receipts) -> dict:
    out = {name: getattr(update, name) for name in UpdateOut._declared_fields}
    out.update(
        text=update_text(incident, update, policy(), templates_dir=config().templates_dir),
        recipients=got.recipients,
        acknowledged_by=got.acknowledged_by,
        seen={"count": got.seen, "of": got.of},
    )
    return out


@blp.route("/<ident>/updates", methods=["GET"])
@require_scope("read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, UpdateReceiptsOut(many=True))
def list_updates(page, ident):
    incident = incident_or_404(ident)
    query = (select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id)
             .order_by(IncidentUpdate.posted_at, IncidentUpdate.id))
    updates = page_of(query, page)
    got = receipts.receipts_of(session, incident.id) if updates else {}
    return [with_receipts(incident, u, got.get(u.id, receipts.NO_RECEIPTS)) for u in updates]
