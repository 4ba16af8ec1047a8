"""Signed acknowledgement tokens: one per page, bound to incident, person and notification.

The token travels in the ack link (`<HERALD_BASE_URL>/ack/<token>`), the Teams button and the
email Reply-To (`herald+<token>@<reply domain>`), so it must stay short: the payload is a compact
JSON list and the result is URL- and local-part-safe (letters, digits, `-`, `_`, `.`).
"""
from __future__ import annotations

from itsdangerous import BadSignature, URLSafeTimedSerializer

from .runtime import config

SALT = "herald.ack"
MAX_AGE_SECONDS = 30 * 24 * 3600  # a page older than a month is not acknowledged by a stray reply


class InvalidAckToken(BadSignature):
    """The token was tampered with, signed with another key, expired, or is not an ack token."""


class _Varints:
    """An itsdangerous serializer for a list of non-negative integers, 7 bits per byte (LEB128)."""

    @staticmethod
    def dumps(values) -> bytes:
        out = bytearray()
        for value in values or ():
            while True:
                low, value = value & 0x7F, value >> 7
                out.append(low | (0x80 if value else 0))
                if not value:
                    break
        return bytes(out)

    @staticmethod
    def loads(data: bytes) -> list[int]:
        values, value, shift = [], 0, 0
        for byte in data:
            value |= (byte & 0x7F) << shift
            shift += 7
            if not byte & 0x80:
                values.append(value)
                value, shift = 0, 0
        if shift:
            raise ValueError("truncated integer")
        return values


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config().resolve_secret_key(), salt=SALT, serializer=_Varints)


def make_ack_token(notification) -> str:
    """Sign (incident, person, notification) of a page: anything with `id`, `incident_id` and `person_id` set."""
    if notification.id is None or notification.person_id is None:
        raise ValueError("an ack token needs a stored notification addressed to a person")
    token = _serializer().dumps([notification.incident_id, notification.person_id, notification.id])
    return token.decode("ascii")


def read_ack_token(token: str, max_age: int | None = MAX_AGE_SECONDS) -> tuple[int, int, int]:
    """(incident_id, person_id, notification_id) of a genuine token; InvalidAckToken otherwise."""
    try:
        value = _serializer().loads(token, max_age=max_age)
    except (BadSignature, ValueError) as exc:
        raise InvalidAckToken(f"invalid acknowledgement token: {exc}") from exc
    if not (isinstance(value, list) and len(value) == 3):
        raise InvalidAckToken("invalid acknowledgement token: unexpected payload")
    incident_id, person_id, notification_id = value
    return incident_id, person_id, notification_id


# ---- receipts: "Got it" on a stakeholder update -------------------------------------------------
# A stakeholder is often no person Herald knows (a contact's address), so this token binds only the
# incident and the message; its own salt keeps it from ever passing for a page's token (and back).
RECEIPT_SALT = "herald.receipt"


def _receipt_serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config().resolve_secret_key(), salt=RECEIPT_SALT, serializer=_Varints)


def make_receipt_token(notification) -> str:
    """Sign (incident, notification) of a stakeholder update message: anything with `id`, `incident_id`."""
    if notification.id is None or notification.incident_id is None:
        raise ValueError("a receipt token needs a stored notification of an incident")
    return _receipt_serializer().dumps([notification.incident_id, notification.id]).decode("ascii")


def read_receipt_token(token: str, max_age: int | None = MAX_AGE_SECONDS) -> tuple[int, int]:
    """(incident_id, notification_id) of a genuine receipt token; InvalidAckToken otherwise."""
    try:
        value = _receipt_serializer().loads(token, max_age=max_age)
    except (BadSignature, ValueError) as exc:
        raise InvalidAckToken(f"invalid receipt token: {exc}") from exc
    if not (isinstance(value, list) and len(value) == 2):
        raise InvalidAckToken("invalid receipt token: unexpected payload")
    return value[0], value[1]
