from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from marshmallow import Schema, ValidationError, fields, validate

from ..schemas import StrictSchema

HANDLE = validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,63}$", error="lower-case letters, digits, '.', '_' or '-', at most 64")


def _zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {value!r}") from exc


_zone.openapi = lambda: {"enum": sorted(available_timezones())}


# What marshmallow's URL validator takes (http(s), a host name with a top-level domain), for the document.
WEBHOOK_URL = {"format": "uri", "pattern": r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                                           r"[A-Za-z]{2,6}(:[0-9]{1,5})?(/[!-~]*)?$"}


class PersonCreate(StrictSchema):
    handle = fields.String(required=True, validate=HANDLE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=320)), load_default=list)
    teams_webhook = fields.Url(allow_none=True, schemes={"https", "http"}, metadata=WEBHOOK_URL)
    timezone = fields.String(allow_none=True, validate=_zone)


class PersonPatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email()
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=320)))
    teams_webhook = fields.Url(allow_none=True, schemes={"https", "http"}, metadata=WEBHOOK_URL)
    timezone = fields.String(allow_none=True, validate=_zone)


class PersonOut(Schema):
    handle = fields.String()
    name = fields.String()
    email = fields.String()
    aliases = fields.List(fields.String())
    teams_webhook = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
