"""One inbound message, however it arrived (SMTP, Graph, webhook): match it, check it, act on it, once."""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from ..errors import RuleError
from ..incidents import lifecycle
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..notify.outbox import Recipient, mail_configured, notify
from ..oncall import replies as swap_replies
from ..people.models import Person
from ..runtime import config
from ..ack_tokens import ReplyOutcome, handler_for
from . import stakeholders
from .matching import KindMatch, PageMatch, find_message
from .models import InboundMessage
from .replies import NotAMessage, Reply, parse_message, plus_tokens, read_reply

log = logging.getLogger("herald.acks")

SNIPPET = 200


@dataclass(frozen=True)
class Received:
    """What Herald did with a message: the API's answer and the SMTP listener's log line."""

    outcome: str
    detail: str
    incident: str | None = None
    duplicate: bool = False


@dataclass(frozen=True)
class Incoming:
    """A message read and checked, before any database work: its reply and its de-duplication key."""

    reply: Reply
    key: str


def read(raw: bytes, *, envelope_sender: str | None = None, envelope_recipients: tuple[str, ...] = ()) -> Incoming:
    """Parse and read one raw message: pure and bounded (`replies.check_limits`), so callers do it before
    they open a transaction. NotAMessage for what no retry can fix."""
    try:
        message = parse_message(raw)
        if not message.keys():
            raise NotAMessage("not an RFC 822 message: it has no header")
        reply = read_reply(message, envelope_recipients, envelope_sender)
    except NotAMessage:
        raise
    except (ValueError, LookupError, RecursionError, TypeError, IndexError, AttributeError) as exc:
        log.info("unreadable inbound message: %s: %s", type(exc).__name__, exc)
        raise NotAMessage(f"the message cannot be read ({type(exc).__name__})") from exc
    return Incoming(reply, (reply.message_id or "sha256:" + hashlib.sha256(raw).hexdigest())[:500])


def receive(s: Session, raw: bytes, *, source: str, envelope_sender: str | None = None,
            envelope_recipients: tuple[str, ...] = ()) -> Received:
    """`read` then `act` (for callers with nothing slow to keep out of their transaction)."""
    return act(s, read(raw, envelope_sender=envelope_sender, envelope_recipients=envelope_recipients), source=source)


def act(s: Session, incoming: Incoming, *, source: str) -> Received:
    """Act on a message in the caller's transaction (the caller commits).

    A message seen before (same Message-ID, else same bytes) changes nothing.
    """
    reply, key = incoming.reply, incoming.key
    seen = s.scalar(select(InboundMessage).where(InboundMessage.dedup_key == key))
    if seen is not None:
        return _answer(s, seen, duplicate=True)
    row = InboundMessage(dedup_key=key, source=source, received_at=clock.now(), sender=reply.sender[:320],
                         subject=reply.subject[:1000], outcome="unmatched")
    try:
        with s.begin_nested():  # claim the key first: a concurrent copy of this message stops here
            s.add(row)
    except IntegrityError:
        return _answer(s, s.scalar(select(InboundMessage).where(InboundMessage.dedup_key == key)), duplicate=True)
    _handle(s, reply, row)
    result = _answer(s, row)
    log.info("inbound %s message from %s: %s (%s)", source, reply.sender or "?", result.outcome, result.detail)
    return result


def _answer(s: Session, row: InboundMessage, duplicate: bool = False) -> Received:
    incident = s.get(Incident, row.incident_id) if row.incident_id else None
    return Received(row.outcome, row.detail, incident.number if incident else None, duplicate)


def _handle(s: Session, reply: Reply, row: InboundMessage) -> None:
    settings = config()
    if _from_herald(reply.sender, settings):
        row.outcome, row.detail = "automatic", "sent by Herald itself"
        return
    swap = swap_replies.find_swap(s, reply.answers, plus_tokens(reply.recipients, settings.reply_address))
    if swap is not None:
        done = swap_replies.answer(s, *swap, sender=reply.sender, automatic=reply.automatic,
                                   first_word=reply.first_word, now=clock.now())
        row.outcome, row.detail, row.person_id = done.outcome, done.detail, done.person_id
        return
    match = find_message(s, reply, settings.reply_address)
    if isinstance(match, KindMatch):  # an escalation, a stakeholder update, …: its own domain decides
        _by_kind(row, handler_for(match.token.kind).reply(s, reply, match.token, match.how))
        return
    if match is None or (match.how == "subject" and match.person is None):
        token = stakeholders.by_subject(s, reply)  # a stakeholder's reply that lost its thread and token
        if token is not None:
            _by_kind(row, stakeholders.HANDLER.reply(s, reply, token, "subject"))
            return
    if match is None:
        row.outcome = "automatic" if reply.automatic else "unmatched"
        row.detail = reply.automatic or "no page, token or incident tag matched"
        return
    incident = match.incident
    row.incident_id, row.notification_id = incident.id, match.notification_id
    sender_is_paged = match.person is not None and reply.sender in match.person.addresses()
    if reply.automatic:
        row.outcome, row.detail = "automatic", reply.automatic
        if sender_is_paged:
            row.person_id = match.person.id
            record(s, incident, "auto_reply",
                   f"Automatic reply from {match.person.name} ({reply.automatic}), not an acknowledgement: "
                   f"{_snippet(reply.text)}", actor=f"email:{reply.sender}", person=match.person.handle)
        return
    if not sender_is_paged:
        _reject(s, reply, match, row)
        return
    person = match.person
    row.person_id = person.id
    if reply.acknowledges:
        _acknowledge(s, reply, match, row)
        return
    row.outcome = "not_a_command"
    row.detail = f"first word {reply.first_word!r}" if reply.first_word else "no text above the quoted page"
    record(s, incident, "reply", f"Reply from {person.name} by email (not an acknowledgement): {_snippet(reply.text)}",
           actor=f"email:{reply.sender}", person=person.handle)
    _answer_by_email(s, reply, incident, person, row, problem="not_a_command")


def _by_kind(row: InboundMessage, done: ReplyOutcome) -> None:
    """What a kind's handler did with the reply, on the inbound record."""
    row.outcome, row.detail = done.outcome, done.detail[:2000]
    row.incident_id, row.person_id, row.notification_id = done.incident_id, done.person_id, done.notification_id


def _acknowledge(s: Session, reply: Reply, match: PageMatch, row: InboundMessage) -> None:
    incident, person = match.incident, match.person
    try:
        roles = lifecycle.acknowledge(s, incident, person, via="email", actor=f"email:{reply.sender}")
    except RuleError as exc:
        row.outcome, row.detail = "not_applied", str(exc)
        record(s, incident, "ack_not_applied", f"Acknowledgement by email from {person.name} not applied: {exc}",
               actor=f"email:{reply.sender}", person=person.handle)
        _answer_by_email(s, reply, incident, person, row, problem="not_applied", reason=str(exc))
        return
    row.outcome = "acknowledged" if roles else "already_acknowledged"
    row.detail = ", ".join(roles) if roles else "acknowledged before"


def _reject(s: Session, reply: Reply, match: PageMatch, row: InboundMessage) -> None:
    """A reply from someone other than the paged person changes nothing; the timeline says who tried."""
    sender = reply.sender or "an unknown sender"
    row.outcome = "rejected_sender"
    if match.person is not None:
        row.detail = f"{sender} is not an address of {match.person.handle}"
        why = f"the page was for {match.person.name}"
    else:
        row.detail = f"{sender} is not the address of anyone holding a role"
        why = "not the address of a paged person"
    verb = "acknowledgement" if reply.acknowledges else "reply"
    record(s, match.incident, "ack_rejected", f"Rejected {verb} from {sender}: {why}", actor=f"email:{sender}",
           sender=sender, matched_by=match.how)


def _answer_by_email(s: Session, reply: Reply, incident: Incident, person: Person, row: InboundMessage, *,
                     problem: str, reason: str = "") -> None:
    """A short help email to the person (never to an unchecked sender: no backscatter)."""
    channel = "email" if mail_configured() else "log"  # a webhook-only setup still shows what it would say
    notify(s, incident=incident, kind="help", slot=f"inbound-{row.id}",
           recipients=[Recipient(channel, reply.sender, person.name, person.id)],
           context={"reply": {"problem": problem, "reason": reason, "first_word": reply.first_word,
                              "text": _snippet(reply.text), "subject": reply.subject}})


def _from_herald(sender: str, settings) -> bool:
    """Mail from our own addresses (a bounce loop, a misrouted copy) is never answered or acted on."""
    if sender == settings.mail_from.lower():
        return True
    return bool(settings.reply_address) and (sender == settings.reply_address.lower()
                                             or bool(plus_tokens((sender,), settings.reply_address)))


def _snippet(text: str) -> str:
    flat = " ".join(text.split())
    if not flat:
        return "(no text above the quoted page)"
    return flat if len(flat) <= SNIPPET else flat[:SNIPPET - 1] + "…"
