"""Replies to stakeholder updates and their "Got it" link.

The same rules as a reply to a page: the update is found by the reply's thread headers, else by the
receipt token in the Reply-To address it was sent to, else by the subject's `[INC-…]` tag together
with the sender; auto-replies are ignored; the sender must be an address the update was sent to (or
an email alias of the person it was sent to), else the reply is recorded as rejected and changes
nothing. A first word "ack" (`replies.ACK_WORDS`) says Got it; anything else is a question for the
Communications Lead (`notify/receipts.ask`). Never a help email: a stakeholder list is not answered.
"""
from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..ack_tokens import InvalidAckToken, read_receipt_token
from ..incidents.models import Incident, IncidentUpdate
from ..incidents.timeline import record
from ..notify import receipts
from ..notify.models import Notification
from ..people.models import Person
from .models import InboundMessage
from .replies import Reply, plus_tokens


@dataclass(frozen=True)
class UpdateMatch:
    incident: Incident
    update: IncidentUpdate
    notification: Notification | None   # the message answered, when the thread or token said which
    how: str                            # "thread" | "token" | "subject" | "link"


class NotAReceipt(Exception):
    """A token that is no receipt token (it may still be a page's)."""


class BadReceipt(Exception):
    """A genuine receipt token that names no update of its incident (403), or whose incident is gone (404)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


# ---- which update -------------------------------------------------------------------------------

def find_update(s: Session, reply: Reply, reply_address: str | None) -> UpdateMatch | None:
    """The update a reply answers by its thread headers or its token; the subject tag is tried last, after
    the pages (`by_subject`)."""
    return _by_thread(s, reply) or _by_token(s, reply, reply_address)


def _by_thread(s: Session, reply: Reply) -> UpdateMatch | None:
    if not reply.answers:
        return None
    candidates = set(reply.answers) | {mid.strip("<>") for mid in reply.answers}
    rows = s.scalars(select(Notification).where(Notification.message_id.in_(candidates),
                                                Notification.kind.in_(receipts.UPDATE_KINDS))).all()
    by_id = {row.message_id.strip("<>"): row for row in rows}
    for mid in reply.answers:
        row = by_id.get(mid.strip("<>"))
        match = _from_message(s, row, "thread") if row is not None else None
        if match is not None:
            return match
    return None


def _by_token(s: Session, reply: Reply, reply_address: str | None) -> UpdateMatch | None:
    for token in plus_tokens(reply.recipients, reply_address):
        try:
            match = from_token(s, token, how="token")
        except (NotAReceipt, BadReceipt):
            continue  # a stale or mangled address still leaves the subject tag to try
        return match
    return None


def by_subject(s: Session, reply: Reply) -> UpdateMatch | None:
    """The incident of the subject's tag and the newest of its updates sent to the sender."""
    if reply.incident_number is None or not reply.sender:
        return None
    incident = s.scalar(select(Incident).where(Incident.number == reply.incident_number))
    if incident is None:
        return None
    mail = s.scalars(select(Notification).where(
        Notification.incident_id == incident.id, Notification.kind.in_(receipts.UPDATE_KINDS),
        Notification.channel.in_(receipts.RECEIPT_CHANNELS)).order_by(Notification.id.desc())).all()
    people: dict[int, Person | None] = {}
    for row in mail:
        if row.person_id is not None and row.person_id not in people:
            people[row.person_id] = s.get(Person, row.person_id)
        person = people.get(row.person_id) if row.person_id is not None else None
        if row.recipient.lower() == reply.sender or (person is not None and reply.sender in person.addresses()):
            match = _from_message(s, row, "subject")
            if match is not None:
                return match
    return None


def from_token(s: Session, token: str, *, how: str = "link") -> UpdateMatch:
    """The update a receipt token is for. NotAReceipt when it is no receipt token; BadReceipt when it is one
    but names a message that is not an update of its own incident, or an incident that is gone."""
    try:
        incident_id, notification_id = read_receipt_token(token)
    except InvalidAckToken:
        raise NotAReceipt(token) from None
    incident = s.get(Incident, incident_id)
    if incident is None:
        raise BadReceipt(404, "The incident this link was for no longer exists.")
    message = s.get(Notification, notification_id)
    if message is None or message.incident_id != incident_id:
        raise BadReceipt(403, "This link does not belong to that incident.")
    match = _from_message(s, message, how)
    if match is None:
        raise BadReceipt(403, "This link is not for a status update.")
    return match


def _from_message(s: Session, message: Notification, how: str) -> UpdateMatch | None:
    update = receipts.update_of(s, message)
    incident = s.get(Incident, message.incident_id) if message.incident_id is not None else None
    if update is None or incident is None:
        return None
    return UpdateMatch(incident, update, message, how)


# ---- what to do with a reply --------------------------------------------------------------------

def answer(s: Session, reply: Reply, match: UpdateMatch, row: InboundMessage, *, key: str) -> None:
    """Act on a reply to a stakeholder update in the caller's transaction; the outcome goes on `row`."""
    incident, update = match.incident, match.update
    row.incident_id = incident.id
    row.notification_id = match.notification.id if match.notification is not None else None
    if reply.automatic:
        row.outcome, row.detail = "automatic", reply.automatic
        return
    sent = receipts.sent_to(s, update, reply.sender)
    if sent is None:
        _reject(s, reply, match, row)
        return
    row.notification_id = sent.id
    row.person_id = sent.person_id
    name = reply.sender_name or sent.recipient_name
    if reply.acknowledges:
        new = receipts.record_receipt(s, update, address=sent.recipient, name=name, via="email",
                                      notification_id=sent.id)
        row.outcome = "acknowledged" if new else "already_acknowledged"
        row.detail = f"seen: {receipts.describe(update)}" + ("" if new else " (said before)")
        return
    if not reply.text.strip():
        row.outcome, row.detail = "not_a_command", "no text above the quoted update"
        return
    row.outcome, row.detail = "question", f"first word {reply.first_word!r}"
    receipts.ask(s, incident, update, sender=reply.sender, name=reply.sender_name, text=reply.text, via="email",
                 key=key)


def _reject(s: Session, reply: Reply, match: UpdateMatch, row: InboundMessage) -> None:
    sender = reply.sender or "an unknown sender"
    row.outcome = "rejected_sender"
    row.detail = f"{sender} is not an address {receipts.describe(match.update)} was sent to"
    verb = "acknowledgement" if reply.acknowledges else "reply"
    record(s, match.incident, "ack_rejected",
           f"Rejected {verb} from {sender}: {receipts.describe(match.update)} was not sent to them",
           actor=f"email:{sender}", sender=sender, matched_by=match.how, update=match.update.id)


# ---- the "Got it" link --------------------------------------------------------------------------

def got_it_by_link(s: Session, match: UpdateMatch) -> bool:
    """POST on the link: the message's recipient has seen the update (False: they had said so before)."""
    message = match.notification
    return receipts.record_receipt(s, match.update, address=message.recipient, name=message.recipient_name,
                                   via="link", notification_id=message.id)


def link_facts(s: Session, match: UpdateMatch) -> dict:
    """What the link's page shows: the incident, the update, and when this recipient said Got it."""
    seen = receipts.receipt_of(s, match.update, match.notification.recipient)
    return {"incident": match.incident, "update": match.update, "about": receipts.describe(match.update),
            "recipient": match.notification.recipient_name or match.notification.recipient,
            "seen_at": seen.at if seen is not None else None, "seen_via": seen.via if seen is not None else None}
