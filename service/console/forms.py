"""HTML forms through the API's own input schemas: one validation for both doors.

Browsers send every field as text, empty when left blank; a blank optional field means "not given".
`datetime-local` inputs carry no zone: they are read in the policy's time zone, which the form names.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from marshmallow import Schema, ValidationError

from ..clock import as_utc


def load(schema: Schema, values: dict, *, keep_blank: tuple[str, ...] = ()) -> tuple[dict, dict]:
    """(data, {}) when valid, else ({}, {field: [messages]})."""
    given = {k: v for k, v in values.items() if v not in ("", None) or k in keep_blank}
    try:
        return schema.load(given), {}
    except ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages}
        return {}, {field: _flat(value) for field, value in messages.items()}


def _flat(value) -> list[str]:
    if isinstance(value, dict):
        return [m for inner in value.values() for m in _flat(inner)]
    if isinstance(value, list):
        return [m for inner in value for m in _flat(inner)]
    return [str(value)]


def local_moment(value: str | None, zone: ZoneInfo) -> str | None:
    """A `datetime-local` value ("2026-03-02T14:30") in `zone`, as ISO 8601 UTC for the schema.

    Anything unreadable is passed on unchanged, so the schema words the error.
    """
    if not value:
        return value
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=zone)
    return as_utc(moment).isoformat()


def local_input(moment: datetime | None, zone: ZoneInfo) -> str:
    """The value a `datetime-local` input shows for `moment`, in `zone`."""
    return moment.astimezone(zone).strftime("%Y-%m-%dT%H:%M") if moment else ""


def words(value: str | None) -> list[str]:
    """"a@x.com, b@y.com c" -> ["a@x.com", "b@y.com", "c"]: lists typed into one field."""
    return [w for w in (value or "").replace(",", " ").split() if w]
