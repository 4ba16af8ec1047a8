from __future__ import annotations

import math
from datetime import timedelta

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from ..policy import parse_duration
from ..schemas import AwareDateTime, PageArgs, QuerySchema, StrictSchema

NAME = validate.Regexp(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$",
                       error="letters, digits, '.', '_' or '-', starting with a letter or digit, at most 100")


class Duration(fields.Field):
    """A duration as the policy writes it ("10m", "1h30m") or a number of seconds, from 1 second to
    `MAXIMUM`; out in the compact form."""

    MAXIMUM = timedelta(days=365)

    def __init__(self, **kwargs):
        most = int(self.MAXIMUM.total_seconds())
        kwargs["metadata"] = {
            "oneOf": [{"type": "string", "pattern": "^([0-9]+[smhdw])+$"},
                      {"type": "number", "minimum": 1, "maximum": most}],
            "description": "a duration like '10m' or '1h30m', or a number of seconds; 1 second to 365 days",
            **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs) -> timedelta:
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise ValidationError("expected a duration like '10m' or a number of seconds")
        if isinstance(value, (int, float)):
            if not math.isfinite(value) or value < 1:
                raise ValidationError("must be at least 1 second")
            if value > self.MAXIMUM.total_seconds():
                raise ValidationError("must be at most 365 days")
            return timedelta(seconds=int(value))
        try:
            duration = parse_duration(value)
        except ValueError as exc:
            raise ValidationError(str(exc)) from exc
        if duration > self.MAXIMUM:
            raise ValidationError("must be at most 365 days")
        return duration

    def _serialize(self, value, attr, obj, **kwargs):
        if value is None:
            return None
        return compact_duration(value)


def compact_duration(value: timedelta | int) -> str:
    seconds = int(value.total_seconds()) if isinstance(value, timedelta) else int(value)
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"


class SubscriptionIn(StrictSchema):
    name = fields.String(required=True, validate=NAME)
    url = fields.String(required=True, validate=validate.Length(min=1, max=2000), metadata={
        "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^/?#@\s]+([/?#]\S*)?$",
        "description": "an http(s) URL whose host resolves to public addresses (unless HERALD_ALLOW_PRIVATE_URLS=1)"})
    refresh_every = Duration(load_default=None)


class ImportReportOut(Schema):
    rotation = fields.String()
    events = fields.Integer()
    shifts = fields.Integer()
    people = fields.List(fields.String())
    unknown = fields.List(fields.String())
    warnings = fields.List(fields.String())


class OnCallOut(Schema):
    person = fields.String(allow_none=True,
                           metadata={"description": "the person's handle; null when the label names nobody known"})
    name = fields.String(allow_none=True)
    label = fields.String()
    start = fields.String()
    end = fields.String()
    override = fields.Boolean()


class RotationOut(Schema):
    name = fields.String()
    kind = fields.String(metadata={"description": "subscription | upload"})
    url = fields.String(allow_none=True)
    refresh_every = fields.String(allow_none=True)
    last_refreshed_at = AwareDateTime(allow_none=True)
    next_refresh_at = AwareDateTime(allow_none=True)
    last_error = fields.String(allow_none=True)
    updated_at = AwareDateTime()
    shifts_from = AwareDateTime(allow_none=True)
    shifts_until = AwareDateTime(allow_none=True)
    roles = fields.List(fields.String())
    on_call = fields.Nested(OnCallOut, allow_none=True)
    report = fields.Nested(ImportReportOut, allow_none=True)


class RefreshOut(Schema):
    status = fields.String(metadata={"description": "imported | unchanged"})
    report = fields.Nested(ImportReportOut, allow_none=True)


class WindowArgs(QuerySchema):
    from_ = AwareDateTime(data_key="from", load_default=None)
    to = AwareDateTime(load_default=None, metadata={"description": "after `from`"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("from_") and data.get("to") and data["to"] <= data["from_"]:
            raise ValidationError("must be after 'from'", "to")


class OverrideListArgs(WindowArgs, PageArgs):
    pass


class ShiftOut(Schema):
    start = AwareDateTime()
    end = AwareDateTime()
    person = fields.Function(lambda s: s.person.handle if s.person else None, allow_none=True)
    name = fields.Function(lambda s: s.person.name if s.person else None, allow_none=True)
    label = fields.String()
    override = fields.Boolean()
    uid = fields.String()


class GapOut(Schema):
    start = fields.String()
    end = fields.String()
    label = fields.String(allow_none=True,
                          metadata={"description": "the title of an event naming nobody Herald knows; null: no event"})


class OverrideIn(StrictSchema):
    person = fields.String(required=True, validate=validate.Length(min=1, max=64))
    start = AwareDateTime(required=True)
    end = AwareDateTime(required=True, metadata={"description": "after start"})

    @validates_schema
    def _ordered(self, data, **kwargs):
        if data.get("start") and data.get("end") and data["end"] <= data["start"]:
            raise ValidationError("must be after start", "end")


class OverrideOut(Schema):
    id = fields.Integer()
    rotation = fields.Function(lambda o: o.rotation.name)
    person = fields.Function(lambda o: o.person.handle)
    name = fields.Function(lambda o: o.person.name)
    start = AwareDateTime()
    end = AwareDateTime()
    created_at = AwareDateTime()
    created_by = fields.String()


class FeedUrlOut(Schema):
    url = fields.String()


class OnCallArgs(QuerySchema):
    at = AwareDateTime(load_default=None)


class OnCallNowOut(Schema):
    at = fields.String()
    rotations = fields.Dict(keys=fields.String(), values=fields.Nested(OnCallOut, allow_none=True))
    roles = fields.Dict(keys=fields.String(), values=fields.Nested(OnCallOut, allow_none=True))
