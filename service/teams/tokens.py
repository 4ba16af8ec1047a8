"""The signed token in every bot card's `Action.Execute` data: which incident the card is about and,
for a card addressed to a person (a page), the person and role, as the email ack token binds them.

Teams already proves who tapped (the Bot Framework token and `from.aadObjectId`); this token proves
the card is one Herald drew, so an invoke cannot name an incident its card was not about.
"""
from __future__ import annotations

from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeTimedSerializer

from ..runtime import config

SALT = "herald.teams.card"
MAX_AGE_SECONDS = 90 * 24 * 3600


class InvalidCardToken(Exception):
    """Damaged, signed with another key, too old, or not a card token."""


@dataclass(frozen=True)
class CardToken:
    incident_id: int | None
    person_id: int | None = None
    role: str | None = None


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(config().resolve_secret_key(), salt=SALT)


def make_card_token(incident_id: int | None, person_id: int | None = None, role: str | None = None) -> str:
    value = {"i": incident_id}
    if person_id is not None:
        value["p"] = person_id
    if role:
        value["r"] = role
    return _serializer().dumps(value)


def read_card_token(token) -> CardToken:
    if not isinstance(token, str) or not token:
        raise InvalidCardToken("no card token")
    try:
        value = _serializer().loads(token, max_age=MAX_AGE_SECONDS)
    except BadSignature as exc:
        raise InvalidCardToken(str(exc)) from exc
    if not isinstance(value, dict) or not isinstance(value.get("i"), (int, type(None))):
        raise InvalidCardToken("unexpected payload")
    person, role = value.get("p"), value.get("r")
    return CardToken(value["i"], person if isinstance(person, int) else None, role if isinstance(role, str) else None)
