"""Schemas shared by every domain: pagination and strict base schemas."""
from __future__ import annotations

from datetime import timezone

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from . import clock


class StrictSchema(Schema):
    """Input schema that rejects unknown fields (so typos get a 422, not silence)."""

    class Meta:
        unknown = RAISE


class QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE


class PageArgs(QuerySchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0))


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 in and out; naive input is taken as UTC, output is always UTC."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=timezone.utc, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return clock.as_utc(value).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):
        return clock.as_utc(super()._deserialize(value, attr, data, **kwargs))


def one_of_policy(kind: str):
    """Validate against keys the running policy defines (severities, roles)."""

    def check(value):
        from .runtime import policy

        known = getattr(policy(), kind)
        if value not in known:
            raise ValidationError(f"must be one of: {', '.join(known)}")

    return check
