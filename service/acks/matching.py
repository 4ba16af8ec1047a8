"""Which message a reply answers: its thread headers, else the token in the address it was sent to, else the
`[INC-…]` tag of its subject together with who sent it.

A message whose token is of another kind than a page (an escalation, …) is a `KindMatch`: the reply goes
to that kind's handler (`ack_tokens.handler_for`). Only pages are matched by the subject tag.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..incidents.models import Incident
from ..notify.models import Notification
from ..people.models import Person
from .replies import Reply, plus_tokens
from ..ack_tokens import PAGE, AckToken, InvalidAckToken, handler_for, read_token


@dataclass(frozen=True)
class PageMatch:
    incident: Incident
    person: Person | None           # whom the page was for (None: the subject named an incident, but the sender
                                    # holds no role on it)
    notification_id: int | None
    how: str                        # "thread" | "token" | "subject"


@dataclass(frozen=True)
class KindMatch:
    """A reply to a message whose token is of a registered kind other than a page."""

    token: AckToken
    how: str                        # "thread" | "token"


def find_message(s: Session, reply: Reply, reply_address: str | None) -> PageMatch | KindMatch | None:
    return _by_thread(s, reply) or _by_token(s, reply, reply_address) or _by_subject(s, reply)


def find_page(s: Session, reply: Reply, reply_address: str | None) -> PageMatch | None:
    found = find_message(s, reply, reply_address)
    return found if isinstance(found, PageMatch) else None


def _by_thread(s: Session, reply: Reply) -> PageMatch | KindMatch | None:
    """In-Reply-To, then References (newest first), against the Message-IDs of our mail to people."""
    if not reply.answers:
        return None
    candidates = set(reply.answers) | {mid.strip("<>") for mid in reply.answers}
    rows = s.scalars(select(Notification).where(Notification.message_id.in_(candidates),
                                                Notification.person_id.is_not(None)
                                                | Notification.ack_token.is_not(None))).all()
    by_id = {row.message_id.strip("<>"): row for row in rows}
    for mid in reply.answers:
        row = by_id.get(mid.strip("<>"))
        if row is None:
            continue
        kind = _other_kind(row.ack_token)
        if kind is not None:
            return KindMatch(kind, "thread")
        if row.person_id is not None:
            return _from_notification(s, row, "thread")
    return None


def _other_kind(token: str | None) -> AckToken | None:
    """The token of a message of another kind than a page, when someone answers that kind."""
    if not token:
        return None
    try:
        found = read_token(token, max_age=None)  # the thread is the proof; the handler judges the age
    except InvalidAckToken:
        return None
    return found if found.kind != PAGE and handler_for(found.kind) is not None else None


def _by_token(s: Session, reply: Reply, reply_address: str | None) -> PageMatch | KindMatch | None:
    for token in plus_tokens(reply.recipients, reply_address):
        try:
            found = read_token(token)
        except InvalidAckToken:
            continue  # a stale or mangled address still leaves the subject tag to try
        if found.kind != PAGE:
            if handler_for(found.kind) is not None:
                return KindMatch(found, "token")
            continue
        incident = s.get(Incident, found.incident_id)
        person = s.get(Person, found.person_id)
        if incident is not None and person is not None:
            return PageMatch(incident, person, found.notification_id, "token")
    return None


def _by_subject(s: Session, reply: Reply) -> PageMatch | None:
    if reply.incident_number is None:
        return None
    incident = s.scalar(select(Incident).where(Incident.number == reply.incident_number))
    if incident is None:
        return None
    person = person_by_address(s, reply.sender)
    holds_a_role = person is not None and any(slot.person_id == person.id for slot in incident.roles)
    return PageMatch(incident, person if holds_a_role else None, None, "subject")


def _from_notification(s: Session, row: Notification, how: str) -> PageMatch | None:
    incident = s.get(Incident, row.incident_id) if row.incident_id is not None else None
    person = s.get(Person, row.person_id) if row.person_id is not None else None
    if incident is None or person is None:
        return None
    return PageMatch(incident, person, row.id, how)


def person_by_address(s: Session, address: str) -> Person | None:
    """The person who writes from `address`: their email, else one of their email aliases."""
    if not address:
        return None
    found = s.scalar(select(Person).where(func.lower(Person.email) == address.lower()).order_by(Person.id))
    if found is not None:
        return found
    return next((p for p in s.scalars(select(Person).order_by(Person.id)) if address.lower() in p.addresses()), None)
