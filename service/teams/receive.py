"""What the messaging endpoint does with an authenticated activity, once per activity id.

- `invoke` named `adaptiveCard/action`: a verb (`actions.py`); the answer is the refreshed card.
- `message` in a personal chat: a chat command (`commands.py`), answered through the outbox.
- `conversationUpdate` / `installationUpdate`: the bot was added somewhere; remember where (and
  greet a person in their chat).
- anything else: nothing (Teams expects 200).
The same activity (conversation id + activity id) delivered twice gets the first answer again and
changes nothing.
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from . import actions, cards, commands, identity
from .models import TeamsActivity
from .outbox import enqueue_reply

log = logging.getLogger("herald.teams")

CARD_ANSWER = "application/vnd.microsoft.card.adaptive"
ERROR_ANSWER = "application/vnd.microsoft.error"


@dataclass(frozen=True)
class Reply:
    status: int
    body: dict | None = None


def activity_key(activity: dict) -> str | None:
    conversation = (activity.get("conversation") or {}).get("id")
    activity_id = activity.get("id")
    if not isinstance(activity_id, str) or not activity_id:
        return None
    return hashlib.sha256(f"{conversation}|{activity_id}".encode()).hexdigest()


def _is_refresh(activity: dict) -> bool:
    """A refresh only draws a card: it changes nothing, so it needs no once-only record (and stays read-only)."""
    value = activity.get("value") if isinstance(activity.get("value"), dict) else {}
    action = value.get("action") if isinstance(value.get("action"), dict) else {}
    return activity.get("type") == "invoke" and action.get("verb") == "refresh"


def wants_sender(activity: dict) -> bool:
    """Who sent it matters for acting and writing, and for whose personal chat was just opened."""
    if activity.get("type") in ("invoke", "message"):
        return True
    conversation = activity.get("conversation") if isinstance(activity.get("conversation"), dict) else {}
    return activity.get("type") in ("conversationUpdate", "installationUpdate") \
        and conversation.get("conversationType", "personal") == "personal"


def receive(s: Session, activity: dict, cfg, *, member: dict | None = None) -> Reply:
    """Handle one activity in the caller's transaction (the caller commits).

    `member` is the Bot Connector's answer about an unknown sender (`identity.fetch_member`), looked up
    before the transaction began.
    """
    kind = activity.get("type")
    if kind not in ("invoke", "message", "conversationUpdate", "installationUpdate"):
        return Reply(200)
    key = activity_key(activity) if not _is_refresh(activity) else None
    row = None
    if key is not None:
        seen = s.scalar(select(TeamsActivity).where(TeamsActivity.activity_key == key))
        if seen is not None:
            return Reply(200, seen.answer)
        row = TeamsActivity(activity_key=key, received_at=clock.now(), type=str(kind)[:32])
        try:
            with s.begin_nested():  # claim the key first: a concurrent copy of this activity stops here
                s.add(row)
        except IntegrityError:
            seen = s.scalar(select(TeamsActivity).where(TeamsActivity.activity_key == key))
            return Reply(200, seen.answer if seen is not None else None)
    person = identity.sender(s, activity, member) if wants_sender(activity) else None
    conversation = identity.remember_conversation(s, activity, person)
    reply = Reply(200)
    if kind == "invoke":
        reply = _invoke(s, activity, person, row)
    elif kind == "message":
        _message(s, activity, person, key, row)
    else:
        _installed(s, activity, conversation, key)
    if row is not None:
        row.person_id = person.id if person is not None else None
        row.answer = reply.body
    return reply


def _invoke(s: Session, activity: dict, person, row: TeamsActivity | None) -> Reply:
    if activity.get("name") != "adaptiveCard/action":
        if row is not None:
            row.outcome = "unsupported"
        return Reply(200, {"statusCode": 501, "type": ERROR_ANSWER,
                           "value": {"code": "NotImplemented",
                                     "message": f"Herald does not handle {str(activity.get('name'))[:80]!r}"}})
    result = actions.answer(s, activity, person)
    if row is not None:
        action = (activity.get("value") or {}).get("action") or {}
        row.verb = str(action.get("verb") or "")[:32]
        row.outcome = result.outcome[:32]
        row.incident_id = result.incident_id
    return Reply(200, {"statusCode": 200, "type": CARD_ANSWER, "value": result.card})


def _message(s: Session, activity: dict, person, key: str | None, row: TeamsActivity | None) -> None:
    conversation = activity.get("conversation") or {}
    if conversation.get("conversationType", "personal") != "personal":
        return  # commands are for the personal chat; channel chatter is not for Herald
    card = commands.answer(s, activity, person)
    enqueue_reply(s, conversation_id=conversation["id"], card=card, slot=f"reply-{key or clock.now().isoformat()}",
                  person=person, service_url=activity.get("serviceUrl"))
    if row is not None:
        words = commands.words(activity)
        row.verb = (words[0].lower() if words else "")[:32]
        row.outcome = "answered"


def _installed(s: Session, activity: dict, conversation, key: str | None) -> None:
    """The bot joined a chat or a team: greet a person in their personal chat (a team is just remembered)."""
    added = activity.get("membersAdded") or []
    bot = (activity.get("recipient") or {}).get("id")
    joined = activity.get("action") == "add" or any(isinstance(m, dict) and m.get("id") == bot for m in added)
    if conversation is None or not joined or conversation.conversation_type != "personal":
        return
    enqueue_reply(s, conversation_id=conversation.conversation_id,
                  card=cards.message_card("Hello from Herald",
                                          "You will get your pages here as well as by email, and can act on "
                                          "them from the card.", *commands.HELP_LINES),
                  slot=f"welcome-{key or conversation.conversation_id}", service_url=conversation.service_url)
