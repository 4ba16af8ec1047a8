from __future__ import annotations

import json

from marshmallow import Schema, fields, post_dump, validate

from ..auth import current_principal
from ..netguard import redact_url
from ..schemas import AwareDateTime, PageArgs
from .models import CHANNELS, KINDS, STATUSES


class NotificationListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    kind = fields.String(validate=validate.OneOf(KINDS))
    channel = fields.String(validate=validate.OneOf(CHANNELS))


class OutboxListArgs(NotificationListArgs):
    recipient = fields.String(validate=validate.Length(min=1, max=2000),
                              metadata={"description": "an address (email, webhook URL) or a person's handle"})


class NotificationOut(Schema):
    id = fields.Integer()
    incident_id = fields.Integer(allow_none=True)
    kind = fields.String()
    slot = fields.String()
    channel = fields.String()
    recipient = fields.String()
    recipient_name = fields.String()
    status = fields.String()
    attempts = fields.Integer()
    created_at = AwareDateTime()
    next_attempt_at = AwareDateTime(allow_none=True)
    sent_at = AwareDateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    message_id = fields.String(allow_none=True)
    provider_id = fields.String(allow_none=True)
    payload = fields.Dict(metadata={"description": "the rendered message: Teams card, or email subject/text/html"})

    @post_dump(pass_original=True)
    def _hide_ack_token(self, data: dict, notification, **_) -> dict:
        """An ack token acknowledges as its person: only callers who may write see it in the payload."""
        principal = current_principal()
        token = notification.ack_token
        if token and "payload" in data and not (principal and principal.can("write")):
            data["payload"] = json.loads(json.dumps(data["payload"]).replace(token, "REDACTED"))
        if not (principal and principal.can("admin")):  # a Workflows URL's sig= posts into the channel
            for key in ("recipient", "last_error"):
                if data.get(key):
                    data[key] = redact_url(data[key])
        return data
