"""Chat commands in the personal chat with the bot: `ack`, `oncall`, `help`.

Answers go out through the outbox like every card (retried, recorded), into the chat they came from.
"""
from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..incidents import lifecycle
from ..incidents.models import OPEN_STATUSES, Incident, IncidentRole
from ..people.models import Person
from ..runtime import config, policy
from ..rotations.oncall import role_owners
from . import cards
from .tokens import make_card_token

ACK_WORDS = {"ack", "acknowledge", "ok", "acked"}
HELP_LINES = (
    "ack: acknowledge the incidents that wait for you (add a number, e.g. \"ack INC-20260302-1\", to pick one)",
    "oncall: who holds each role now, and who is next",
    "help: this list",
)


def words(activity: dict) -> list[str]:
    """The message's words without @mentions (in channels Teams puts "<at>Herald</at>" in the text)."""
    text = activity.get("text") if isinstance(activity.get("text"), str) else ""
    text = re.sub(r"<at>.*?</at>", " ", text[:2000])
    text = re.sub(r"<[^>]+>", " ", text)
    return text.split()


def answer(s: Session, activity: dict, person: Person | None) -> dict:
    """The card that answers a chat message."""
    said = words(activity)
    command = said[0].lower().strip("!/.,") if said else ""
    if person is None:
        return cards.message_card("Herald does not know you yet",
                                  "Ask an admin to add your Entra object id (or the email address of this Teams "
                                  "account) to your person in Herald, then write to me again.", color="Warning")
    if command in ACK_WORDS:
        return _ack(s, person, said[1] if len(said) > 1 else None)
    if command == "oncall":
        return _oncall(s)
    lines = HELP_LINES if command in ("help", "") else (f"I did not understand {' '.join(said)[:80]!r}.",) + HELP_LINES
    return cards.message_card("Herald: what I can do", *lines)


def pending_roles(s: Session, person: Person) -> list[IncidentRole]:
    """The person's roles on open incidents that they have not acknowledged, oldest incident first."""
    return list(s.scalars(select(IncidentRole).join(Incident).where(
        IncidentRole.person_id == person.id, IncidentRole.acknowledged_at.is_(None),
        Incident.status.in_(OPEN_STATUSES)).order_by(Incident.started_at, IncidentRole.id)))


def _ack(s: Session, person: Person, number: str | None) -> dict:
    pending: dict[int, IncidentRole] = {}
    for slot in pending_roles(s, person):
        pending.setdefault(slot.incident_id, slot)
    if number:
        pending = {i: slot for i, slot in pending.items() if slot.incident.number.lower() == number.lower()}
    if not pending:
        what = f"{number} does not wait for you" if number else "Nothing waits for your acknowledgement"
        return cards.message_card(what, "You have no unacknowledged role on an open incident"
                                  + (f" called {number}." if number else "."))
    if len(pending) > 1:
        choices = [{"number": slot.incident.number, "role": slot.role,
                    "token": make_card_token(slot.incident_id, person.id, slot.role)} for slot in pending.values()]
        facts = [[slot.incident.number, f"{slot.incident.severity} {slot.incident.title} "
                  f"({policy().role_title(slot.role)})"] for slot in pending.values()]
        context = cards._base(None, person.name)
        context.update({"pending": choices, "pending_facts": facts})
        return cards.render("choose", context)
    incident = next(iter(pending.values())).incident
    roles = lifecycle.acknowledge(s, incident, person, via="teams", actor=f"teams:{person.handle}")
    titles = ", ".join(policy().role_title(r) for r in roles) or "your roles"
    return cards.message_card(f"✅ Acknowledged {incident.number}", f"{incident.title}: {titles}.", color="Good",
                              link=f"{config().base_url}/board#{incident.number}")


def _oncall(s: Session) -> dict:
    now = clock.now()
    owners = []
    for owner in role_owners(s, policy(), now):
        owners.append({
            "title": owner.title,
            "now": _name(owner.now),
            "until": owner.handoff_at,
            "next": _name(owner.next),
        })
    context = cards._base(None)
    context.update({"owners": owners})
    return cards.render("oncall", context)


def _name(oncall) -> str | None:
    if oncall is None:
        return None
    return oncall.person.name if oncall.person else (oncall.label or None)
