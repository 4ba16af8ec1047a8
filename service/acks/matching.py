"""Which page a reply answers: its thread headers, else the token in the address it was sent to, else the
`[INC-…]` tag of its subject together with who sent it."""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..incidents.models import Incident
from ..notify.models import Notification
from ..people.models import Person
from .replies import Reply, plus_tokens
from ..ack_tokens import InvalidAckToken, read_ack_token


@dataclass(frozen=True)
class PageMatch:
    incident: Incident
    person: Person | None           # whom the page was for (None: the subject named an incident, but the sender
                                    # holds no role on it)
    notification_id: int | None
    how: str                        # "thread" | "token" | "subject"


def find_page(s: Session, reply: Reply, reply_address: str | None) -> PageMatch | None:
    return _by_thread(s, reply) or _by_token(s, reply, reply_address) or _by_subject(s, reply)


def _by_thread(s: Session, reply: Reply) -> PageMatch | None:
    """In-Reply-To, then References (newest first), against the Message-IDs of our mail to people."""
    if not reply.answers:
        return None
    candidates = set(reply.answers) | {mid.strip("<>") for mid in reply.answers}
    rows = s.scalars(select(Notification).where(Notification.message_id.in_(candidates),
                                                Notification.person_id.is_not(None))).all()
    by_id = {row.message_id.strip("<>"): row for row in rows}
    for mid in reply.answers:
        row = by_id.get(mid.strip("<>"))
        if row is not None:
            return _from_notification(s, row, "thread")
    return None


def _by_token(s: Session, reply: Reply, reply_address: str | None) -> PageMatch | None:
    for token in plus_tokens(reply.recipients, reply_address):
        try:
            incident_id, person_id, notification_id = read_ack_token(token)
        except InvalidAckToken:
            continue  # a stale or mangled address still leaves the subject tag to try
        incident = s.get(Incident, incident_id)
        person = s.get(Person, person_id)
        if incident is not None and person is not None:
            return PageMatch(incident, person, notification_id, "token")
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
