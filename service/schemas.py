"""Schemas shared by every domain: pagination and strict base schemas."""
from __future__ import annotations

from datetime import timezone

from marshmallow import EXCLUDE, RAISE, Schema, ValidationError, fields, validate

from . import clock
from .inputs import MAX_ID

# Times Herald reasons about; beyond them date arithmetic overflows (and nothing is on call).
MIN_YEAR, MAX_YEAR = 1900, 2200


class StrictSchema(Schema):
    """Input schema that rejects unknown fields (so typos get a 422, not silence)."""

    class Meta:
        unknown = RAISE


class ErrorSchema(Schema):
    """Every error of the API: a stable machine-readable `code` ("not_found", "unprocessable_entity"…),
    a sentence for people, and the field errors (`{field: [messages]}`, empty when none)."""

    code = fields.String(required=True, metadata={"example": "unprocessable_entity"})
    message = fields.String(required=True, metadata={"example": "the request has invalid fields"})
    errors = fields.Dict(keys=fields.String(), required=True,
                         metadata={"example": {"severity": ["must be one of: P1, P2, P3, P4"]}})


class QuerySchema(Schema):
    class Meta:
        unknown = EXCLUDE


class PageArgs(QuerySchema):
    limit = fields.Integer(load_default=100, validate=validate.Range(min=1, max=1000))
    offset = fields.Integer(load_default=0, validate=validate.Range(min=0, max=MAX_ID))


class AwareDateTime(fields.AwareDateTime):
    """ISO 8601 in and out; naive input is taken as UTC, output is always UTC."""

    def __init__(self, **kwargs):
        super().__init__(default_timezone=timezone.utc, **kwargs)

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return clock.as_utc(value).isoformat().replace("+00:00", "Z")

    def _deserialize(self, value, attr, data, **kwargs):
        moment = super()._deserialize(value, attr, data, **kwargs)
        try:
            moment = clock.as_utc(moment)
        except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the year 1 in UTC
            moment = None
        if moment is None or not MIN_YEAR <= moment.year <= MAX_YEAR:
            raise ValidationError(f"must lie between the years {MIN_YEAR} and {MAX_YEAR}")
        return moment


def one_of_policy(kind: str):
    """Validate against keys the running policy defines (severities, roles)."""
    from .runtime import policy

    def check(value):
        known = getattr(policy(), kind)
        if value not in known:
            raise ValidationError(f"must be one of: {', '.join(known)}")

    check.openapi = lambda: {"enum": list(getattr(policy(), kind))}
    return check


def validators_in_openapi(self, field, ret, **kwargs) -> dict:
    """apispec attribute function: a validator that carries `openapi()` (the JSON Schema it enforces,
    e.g. the policy's severities as an enum) puts that into the OpenAPI document, so the document
    states every constraint the API checks."""
    properties: dict = {}
    for validator in field.validators:
        describe = getattr(validator, "openapi", None)
        if describe is not None:
            properties.update(describe())
    if "enum" in properties and field.allow_none and None not in properties["enum"]:
        properties["enum"] = [*properties["enum"], None]
    return properties
