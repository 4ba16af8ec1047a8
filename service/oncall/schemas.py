from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..schemas import AwareDateTime, PageArgs, StrictSchema
from .models import SWAP_STATUSES

HANDLE = validate.Length(min=1, max=64)


class SwapIn(StrictSchema):
    requester = fields.String(required=True, validate=HANDLE)
    start = AwareDateTime(load_default=None, metadata={"description": "default now: take it now"})
    end = AwareDateTime(required=True)
    to = fields.String(load_default=None, allow_none=True, validate=HANDLE,
                       metadata={"description": "a person's handle; absent: anyone on the rotation"})
    reason = fields.String(load_default="", validate=validate.Length(max=500))

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("must be after start", "end")


class AcceptIn(StrictSchema):
    person = fields.String(required=True, validate=HANDLE)


class SwapListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(SWAP_STATUSES))


class SwapOut(Schema):
    id = fields.Integer()
    rotation = fields.Function(lambda s: s.rotation.name)
    requester = fields.Function(lambda s: s.requester.handle)
    start = AwareDateTime()
    end = AwareDateTime()
    to = fields.Function(lambda s: s.to.handle if s.to else None, allow_none=True)
    status = fields.String(metadata={"description": " | ".join(SWAP_STATUSES)})
    reason = fields.String()
    accepted_by = fields.Function(lambda s: s.accepted_by.handle if s.accepted_by else None, allow_none=True)
    via = fields.String(allow_none=True, metadata={"description": "api | link | email | teams"})
    created_at = AwareDateTime()
    decided_at = AwareDateTime(allow_none=True)
