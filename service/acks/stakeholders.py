"""A stakeholder update's "Got it" from outside: the link and email replies (tokens of kind "update").

`HANDLER` answers tokens of kind `notify.receipts.TOKEN_KIND` (`ack_tokens.AckKind`, wired in
service/wiring.py): the ack link (pages.py) and the reply pipeline (inbound.py) hand them here; every
path ends in `receipts.record_receipt`. A reply follows the page replies' rules: found by its thread
headers or the token in its Reply-To address, else (`by_subject`, tried after the pages) by the
subject's `[INC-…]` tag together with the sender; auto-replies are ignored; the sender must be an
address the update was sent to (or an email alias of the person it reached), else the reply is
recorded as rejected and changes nothing. A first word "ack" says Got it; anything else is a question
for the Communications Lead (`receipts.ask`). Never a help email: a stakeholder list is not answered.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..ack_tokens import AckPage, AckToken, ReplyOutcome
from ..incidents.models import Incident, IncidentUpdate
from ..incidents.timeline import record
from ..notify import receipts
from ..notify.models import Notification
from ..people.models import Person
from .replies import Reply

INVALID = ("This link is not valid", "The link is damaged, has expired or is for another incident. Reply "
           "\u201cack\u201d to the update email instead.")
GONE = ("Update not found", "The incident or update this link was for no longer exists.")


@dataclass(frozen=True)
class UpdateMatch:
    incident: Incident
    update: IncidentUpdate
    message: Notification             # the message the token was on (whom it was sent to)


def _find(s: Session, token: AckToken) -> UpdateMatch | AckPage:
    """The update and message a token was made for; a 403 or 404 page when it cannot speak for them."""
    incident = s.get(Incident, token.incident_id)
    message = s.get(Notification, token.notification_id)
    if incident is None or message is None:
        return AckPage(404, "ack/problem.html", {"title": GONE[0], "message": GONE[1]})
    update = receipts.update_of(s, message)
    if message.incident_id != incident.id or update is None:  # signed for one incident, naming another's message
        return AckPage(403, "ack/problem.html", {"title": INVALID[0], "message": INVALID[1]})
    return UpdateMatch(incident, update, message)


def _facts(s: Session, match: UpdateMatch) -> dict:
    """What the link's page shows: the incident, the update, and when this recipient said Got it."""
    seen = receipts.receipt_of(s, match.update, match.message.recipient)
    return {"incident": match.incident, "update": match.update, "about": receipts.describe(match.update),
            "recipient": match.message.recipient_name or match.message.recipient,
            "seen_at": seen.at if seen is not None else None, "seen_via": seen.via if seen is not None else None}


def by_subject(s: Session, reply: Reply) -> AckToken | None:
    """For a reply that lost its thread and token: the newest update message of the subject's incident that
    went to the sender (or to a person who writes from that address)."""
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
            return AckToken(receipts.TOKEN_KIND, incident.id, row.id)
    return None


class StakeholderAcks:
    """`ack_tokens.AckKind` for stakeholder updates."""

    def show(self, s: Session, token: AckToken) -> AckPage:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return found
        return AckPage(200, "ack/got_it.html", _facts(s, found))

    def acknowledge(self, s: Session, token: AckToken) -> AckPage:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return found
        newly = receipts.record_receipt(s, found.update, address=found.message.recipient,
                                        name=found.message.recipient_name, via="link",
                                        notification_id=found.message.id)
        return AckPage(200, "ack/got_it_done.html", {**_facts(s, found), "newly": newly})

    def card_acknowledge(self, s: Session, token: AckToken, person) -> tuple[str, str]:
        """A card carrying an update message's own token (the channel card's Got it is `teams.actions.got_it`)."""
        found = _find(s, token)
        if isinstance(found, AckPage):
            return "refused", found.context["message"]
        if not person.email:
            return "refused", "Herald has no email address for you to record your Got it under."
        newly = receipts.record_receipt(s, found.update, address=person.email, name=person.name, via="teams",
                                        notification_id=found.message.id)
        return ("acknowledged" if newly else "already_acknowledged"), ""

    def state(self, s: Session, token: AckToken) -> dict | None:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return None
        seen = receipts.receipt_of(s, found.update, found.message.recipient)
        note = f"✅ You said Got it at {seen.at:%Y-%m-%d %H:%M} UTC." if seen is not None else ""
        return {"label": "Got it", "pending": seen is None, "note": note}

    def reply(self, s: Session, reply: Reply, token: AckToken, how: str) -> ReplyOutcome:
        found = _find(s, token)
        if isinstance(found, AckPage):
            return ReplyOutcome("unmatched", found.context["message"])
        incident, update = found.incident, found.update
        base = {"incident_id": incident.id, "notification_id": found.message.id}
        if reply.automatic:
            return ReplyOutcome("automatic", reply.automatic, **base)
        sent = receipts.sent_to(s, update, reply.sender)
        if sent is None:
            return _reject(s, reply, found, how, base)
        base = {"incident_id": incident.id, "notification_id": sent.id, "person_id": sent.person_id}
        if reply.acknowledges:
            newly = receipts.record_receipt(s, update, address=sent.recipient,
                                            name=reply.sender_name or sent.recipient_name, via="email",
                                            notification_id=sent.id)
            detail = f"seen: {receipts.describe(update)}" + ("" if newly else " (said before)")
            return ReplyOutcome("acknowledged" if newly else "already_acknowledged", detail, **base)
        if not reply.text.strip():
            return ReplyOutcome("not_a_command", "no text above the quoted update", **base)
        receipts.ask(s, incident, update, sender=reply.sender, name=reply.sender_name, text=reply.text, via="email",
                     key=_key(reply))
        return ReplyOutcome("question", f"first word {reply.first_word!r}", **base)


def _reject(s: Session, reply: Reply, found: UpdateMatch, how: str, base: dict) -> ReplyOutcome:
    sender = reply.sender or "an unknown sender"
    about = receipts.describe(found.update)
    verb = "acknowledgement" if reply.acknowledges else "reply"
    record(s, found.incident, "ack_rejected", f"Rejected {verb} from {sender}: {about} was not sent to them",
           actor=f"email:{sender}", sender=sender, matched_by=how, update=found.update.id)
    return ReplyOutcome("rejected_sender", f"{sender} is not an address {about} was sent to", **base)


def _key(reply: Reply) -> str:
    """Once-only key of the question's notice: the reply's Message-ID, else what it says and who says it."""
    return hashlib.sha256((reply.message_id or f"{reply.sender}\n{reply.text}").encode()).hexdigest()[:40]


HANDLER = StakeholderAcks()
