from __future__ import annotations

from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from marshmallow import Schema, ValidationError, fields, post_dump, validate

from ..auth import current_principal
from ..netguard import AddressPolicy, OutboundError, check_url, redact_url
from ..runtime import config
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


_zone.openapi = lambda: {"enum": sorted(available_timezones())}


def _public_webhook(url: str | None) -> None:
    """A person's webhook is a URL Herald does not own: public addresses only (HERALD_ALLOW_PRIVATE_URLS=1 lifts it).

    A name that does not resolve yet passes; the Teams channel checks again before every send.
    """
    if url is None:
        return
    try:
        check_url(url, AddressPolicy(allow_private=config().allow_private_urls), unresolvable_ok=True)
    except OutboundError as exc:
        raise ValidationError(str(exc)) from exc


# What marshmallow's URL validator takes (http(s), a host name with a top-level domain), for the document.
WEBHOOK_URL = {"format": "uri", "pattern": r"^https?://([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+"
                                           r"[A-Za-z]{2,6}(:([0-9]{1,4}|[1-5][0-9]{4}|6[0-4][0-9]{3}|65[0-4][0-9]{2}|655[0-2][0-9]|6553[0-5]))?"
                                           r"(/[!-~]*)?$"}
WEBHOOK = dict(allow_none=True, schemes={"https", "http"}, validate=_public_webhook,
               metadata={"description": "a Teams Workflows webhook URL whose host resolves to public addresses; "
                                        "shown with `sig=REDACTED` to non-admin tokens", **WEBHOOK_URL})


class PersonCreate(StrictSchema):
    handle = fields.String(required=True, validate=HANDLE)
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    email = fields.Email(required=True)
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=320)), load_default=list)
    teams_webhook = fields.Url(**WEBHOOK)
    timezone = fields.String(allow_none=True, validate=_zone)
    aad_object_id = fields.String(allow_none=True, validate=AAD_OBJECT_ID)


class PersonPatch(StrictSchema):
    name = fields.String(validate=validate.Length(min=1, max=200))
    email = fields.Email()
    aliases = fields.List(fields.String(validate=validate.Length(min=1, max=320)))
    teams_webhook = fields.Url(**WEBHOOK)
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

    @post_dump
    def _hide_webhook_credential(self, data: dict, **_) -> dict:
        """A Workflows URL's `sig=` posts into the channel: only admin tokens (who set it) see it."""
        principal = current_principal()
        if data.get("teams_webhook") and not (principal and principal.can("admin")):
            data["teams_webhook"] = redact_url(data["teams_webhook"])
        return data
