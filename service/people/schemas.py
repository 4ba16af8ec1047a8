from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from marshmallow import Schema, ValidationError, fields, validate

from ..schemas import StrictSchema

HANDLE = validate.Regexp(r"^[a-z0-9][a-z0-9._-]{0,63}$", error="lower-case letters, digits, '.', '_' or '-', at most 64")


# The Entra (Azure AD) object id of the person's account: a GUID.
AAD_OBJECT_ID = validate.Regexp(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$",
                                error="an Entra object id (a GUID such as 00000000-0000-0000-0000-000000000000)")


def _zone(value: str) -> None:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationError(f"unknown time zone {value!r}") from exc


class PersonCreate(StrictSchema):
    handle = fields.String(required=True, validate=HANDLE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=320)), load_default=list)
    teams_webhook = fields.Url(allow_none=True, schemes={"https", "http"})
    timezone = fields.String(allow_none=True, validate=_zone)
    aad_object_id = fields.String(allow_none=True, validate=AAD_OBJECT_ID)


class PersonPatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email()
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=320)))
    teams_webhook = fields.Url(allow_none=True, schemes={"https", "http"})
    timezone = fields.String(allow_none=True, validate=_zone)
    aad_object_id = fields.String(allow_none=True, validate=AAD_OBJECT_ID)


class PersonOut(Schema):
    handle = fields.String()
    name = fields.String()
    email = fields.String()
    aliases = fields.List(fields.String())
    teams_webhook = fields.String(allow_none=True)
    timezone = fields.String(allow_none=True)
    aad_object_id = fields.String(allow_none=True)
