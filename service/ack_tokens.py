"""Signed acknowledgement tokens: one per message that can be acknowledged, bound to what it acknowledges.

The token travels in the ack link (`<HERALD_BASE_URL>/ack/<token>`), the Teams button and the
email Reply-To (`herald+<token>@<reply domain>`), so it must stay short: the payload is a list of
varints and the result is URL- and local-part-safe (letters, digits, `-`, `_`, `.`).

Tokens come in kinds, one salt each, so a token of one kind can never be read as another:

- `page` (salt `herald.ack`, the original): [incident, person, notification];
- every other kind (salt `herald.ack.<kind>`): [incident, notification], the message it was on.

How a domain adds a kind (escalations do; stakeholder updates may): write an `AckKind` handler,
add `(kind, handler)` to ACK_KINDS in service/wiring.py, and pass `token_kind=kind` to
`notify.outbox.notify`. Every message then carries its own token (link, Reply-To, a Teams button);
the ack link (service/acks/pages.py), the reply pipeline (service/acks/inbound.py) and the Teams
cards hand tokens of that kind to the handler. Acks and the domains are siblings that may not
import each other: this registry, below both, is where they meet.

Token times come from the app clock, so tests can age a token by moving time.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from itsdangerous import BadSignature, TimestampSigner, URLSafeTimedSerializer

from . import clock
from .runtime import config

SALT = "herald.ack"
PAGE = "page"
MAX_AGE_SECONDS = 30 * 24 * 3600  # a message older than a month is not acknowledged by a stray reply

_kinds: dict[str, "AckKind"] = {}  # kinds besides pages, in the order they were registered


class InvalidAckToken(BadSignature):
    """The token was tampered with, signed with another key, expired, or is not an ack token."""


@dataclass(frozen=True)
class AckToken:
    """What a genuine token says: its kind, the incident and the message it was on (and a page's person)."""

    kind: str
    incident_id: int
    notification_id: int
    person_id: int | None = None


@dataclass(frozen=True)
class AckPage:
    """What a kind's handler answers to the ack link: a template under templates/web/ and its context."""

    status: int
    template: str
    context: dict = field(default_factory=dict)


@dataclass(frozen=True)
class ReplyOutcome:
    """What a kind's handler did with an email reply (the inbound record's outcome and detail)."""

    outcome: str                      # acknowledged | already_acknowledged | rejected_sender | automatic | …
    detail: str
    incident_id: int | None = None
    person_id: int | None = None
    notification_id: int | None = None


class AckKind(Protocol):
    """A domain's answers for the tokens of its kind. Each runs in the caller's transaction (the caller commits)."""

    def show(self, s, token: AckToken) -> AckPage:
        """GET /ack/<token>: what is being acknowledged; changes nothing (mail scanners follow links)."""

    def acknowledge(self, s, token: AckToken) -> AckPage:
        """POST /ack/<token>: acknowledge (once; a second time changes nothing)."""

    def card_acknowledge(self, s, token: AckToken, person) -> tuple[str, str]:
        """`ack` tapped on a Teams card by `person`: (outcome, "") or ("refused", why, in a sentence)."""

    def reply(self, s, reply, token: AckToken, how: str) -> ReplyOutcome:
        """An email reply (`acks.replies.Reply`) matched to a message of this kind by "thread" or "token"."""

    def state(self, s, token: AckToken) -> dict | None:
        """For a Teams card being drawn: {"label": the button's title, "pending": whether to show the button,
        "note": a line saying who acknowledged and when}, or None when the message is gone."""


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


class _ClockSigner(TimestampSigner):
    """Timestamps from the app clock (itsdangerous reads the system clock)."""

    def get_timestamp(self) -> int:
        return int(clock.now().timestamp())


def _serializer(kind: str = PAGE) -> URLSafeTimedSerializer:
    salt = SALT if kind == PAGE else f"{SALT}.{kind}"
    return URLSafeTimedSerializer(config().resolve_secret_key(), salt=salt, serializer=_Varints, signer=_ClockSigner)


def register_token_kind(kind: str, handler: AckKind) -> None:
    """Let tokens of `kind` ([incident, notification]) be made and read, and answered by `handler`."""
    if kind == PAGE or not kind.isidentifier():
        raise ValueError(f"not a token kind: {kind!r}")
    _kinds[kind] = handler


def token_kinds() -> list[str]:
    return [PAGE, *_kinds]


def handler_for(kind: str) -> AckKind | None:
    """The handler of a registered kind (None for pages, which acks handles itself, and unknown kinds)."""
    return _kinds.get(kind)


def make_ack_token(notification) -> str:
    """Sign (incident, person, notification) of a page: anything with `id`, `incident_id` and `person_id` set."""
    if notification.id is None or notification.person_id is None:
        raise ValueError("an ack token needs a stored notification addressed to a person")
    token = _serializer().dumps([notification.incident_id, notification.person_id, notification.id])
    return token.decode("ascii")


def make_token(kind: str, incident_id: int, notification_id: int) -> str:
    """Sign [incident, notification] of a message of a registered kind (an escalation, a stakeholder update)."""
    if kind not in _kinds:
        raise ValueError(f"unknown token kind {kind!r}")
    return _serializer(kind).dumps([incident_id, notification_id]).decode("ascii")


def read_token(token: str, max_age: int | None = MAX_AGE_SECONDS) -> AckToken:
    """What a genuine token of any kind says; InvalidAckToken otherwise (the last problem found)."""
    problem: Exception | None = None
    for kind in token_kinds():
        try:
            value = _serializer(kind).loads(token, max_age=max_age)
        except (BadSignature, ValueError) as exc:
            problem = exc
            continue
        size = 3 if kind == PAGE else 2
        if not (isinstance(value, list) and len(value) == size):
            raise InvalidAckToken("invalid acknowledgement token: unexpected payload")
        if kind == PAGE:
            incident_id, person_id, notification_id = value
            return AckToken(PAGE, incident_id, notification_id, person_id)
        return AckToken(kind, value[0], value[1])
    raise InvalidAckToken(f"invalid acknowledgement token: {problem}")


def read_ack_token(token: str, max_age: int | None = MAX_AGE_SECONDS) -> tuple[int, int, int]:
    """(incident_id, person_id, notification_id) of a genuine page token; InvalidAckToken otherwise."""
    try:
        value = _serializer().loads(token, max_age=max_age)
    except (BadSignature, ValueError) as exc:
        raise InvalidAckToken(f"invalid acknowledgement token: {exc}") from exc
    if not (isinstance(value, list) and len(value) == 3):
        raise InvalidAckToken("invalid acknowledgement token: unexpected payload")
    incident_id, person_id, notification_id = value
    return incident_id, person_id, notification_id
