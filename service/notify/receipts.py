"""Stakeholder receipts: who has seen each status update, and the questions stakeholders reply with.

Every stakeholder update by email carries a "Got it" link and a Reply-To with a receipt token; the
bot's channel card carries a Got it button. Whichever way it comes (`acks/` for the link and
replies, `teams/` for the button), a "Got it" ends in `record_receipt`. A receipt is not a page:
nothing waits for it, repeats or escalates, and acknowledging twice counts once.

"Seen by N of M": M counts the update's recipients whose message can answer back (each email
address, the bot's channel card; a Workflows webhook card cannot), N those of them with a receipt.
The channel card counts as seen once anyone in the channel said Got it; `acknowledged_by` lists
every person.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock, db
from ..incidents.models import Incident, IncidentUpdate
from ..incidents.timeline import record
from ..people.models import Person
from ..runtime import policy
from .context import role_data
from .models import Notification, UpdateReceipt
from .outbox import notify, recipients_for_person

TOKEN_KIND = "update"             # the kind of token (service/ack_tokens.py) every update message carries
UPDATE_KINDS = ("initial", "progress", "resolution")
RECEIPT_CHANNELS = ("email", "log")                     # messages whose Got it is a link and a reply "ack"
ANSWERING_CHANNELS = RECEIPT_CHANNELS + ("teams_bot",)  # … and the bot's channel card with its button
VIAS = ("link", "email", "teams")
KIND_LABELS = {"initial": "🔴 INCIDENT", "progress": "🟡 UPDATE", "resolution": "🟢 RESOLVED"}
SNIPPET = 500


def update_slot(update_id: int) -> str:
    """The outbox slot of an update's messages (notify/triggers.py enqueues them under it)."""
    return f"update-{update_id}"


def update_id_of(notification: Notification) -> int | None:
    """The update a stakeholder message carried, or None for any other message."""
    if notification.kind not in UPDATE_KINDS or not notification.slot.startswith("update-"):
        return None
    number = notification.slot[len("update-"):]
    return int(number) if number.isdigit() else None


# ---- the read model (pure) ------------------------------------------------------------------------

@dataclass(frozen=True)
class Sent:
    """One recipient of an update: an address (or the Teams channel) and whether it has seen it."""

    notification_id: int
    channel: str
    address: str
    name: str
    status: str
    sent_at: datetime | None
    acknowledged_at: datetime | None

    @property
    def answers(self) -> bool:
        return self.channel in ANSWERING_CHANNELS


@dataclass(frozen=True)
class Seen:
    """One "Got it": who (an address, or a Teams user), when, how."""

    address: str
    name: str
    at: datetime
    via: str
    notification_id: int | None


@dataclass(frozen=True)
class Receipts:
    recipients: tuple[Sent, ...]
    acknowledged_by: tuple[Seen, ...]

    @property
    def seen(self) -> int:
        """N of "seen by N of M"."""
        return sum(1 for r in self.recipients if r.answers and r.acknowledged_at is not None)

    @property
    def of(self) -> int:
        """M of "seen by N of M": the recipients whose message can answer back."""
        return sum(1 for r in self.recipients if r.answers)


NO_RECEIPTS = Receipts((), ())


def summarise(messages: list[Notification], receipts: list[UpdateReceipt]) -> Receipts:
    """One update's recipients (its messages that were not cancelled) and who said Got it, earliest first.

    A recipient has seen the update when a receipt names its message, or (by email) its address.
    """
    seen = tuple(Seen(r.address, r.name, r.at, r.via, r.notification_id)
                 for r in sorted(receipts, key=lambda r: (r.at, r.id or 0)))
    by_message: dict[int, datetime] = {}
    by_address: dict[str, datetime] = {}
    for s in seen:
        if s.notification_id is not None:
            by_message.setdefault(s.notification_id, s.at)
        by_address.setdefault(s.address.lower(), s.at)
    recipients = []
    for n in sorted(messages, key=lambda n: n.id):
        if n.status == "cancelled":
            continue
        at = by_message.get(n.id)
        if at is None and n.channel in RECEIPT_CHANNELS:
            at = by_address.get(n.recipient.lower())
        recipients.append(Sent(n.id, n.channel, n.recipient, n.recipient_name, n.status, n.sent_at, at))
    return Receipts(tuple(recipients), seen)


# ---- reading ------------------------------------------------------------------------------------

def receipts_of(s: Session, incident_id: int) -> dict[int, Receipts]:
    """{update id: Receipts} for every update of the incident (two queries)."""
    return receipts_for(s, [incident_id])


def receipts_for(s: Session, incident_ids) -> dict[int, Receipts]:
    """{update id: Receipts} for every update of the incidents (two queries, however many incidents)."""
    incident_ids = list(incident_ids)
    if not incident_ids:
        return {}
    messages: dict[int, list[Notification]] = {}
    for n in s.scalars(select(Notification).where(Notification.incident_id.in_(incident_ids),
                                                  Notification.kind.in_(UPDATE_KINDS))):
        update_id = update_id_of(n)
        if update_id is not None:
            messages.setdefault(update_id, []).append(n)
    got: dict[int, list[UpdateReceipt]] = {}
    for r in s.scalars(select(UpdateReceipt).where(UpdateReceipt.incident_id.in_(incident_ids))):
        got.setdefault(r.update_id, []).append(r)
    return {update_id: summarise(messages.get(update_id, []), got.get(update_id, []))
            for update_id in set(messages) | set(got)}


def messages_of(s: Session, update: IncidentUpdate) -> list[Notification]:
    """The stakeholder messages that carried `update`."""
    return list(s.scalars(select(Notification).where(
        Notification.incident_id == update.incident_id, Notification.kind == update.kind,
        Notification.slot == update_slot(update.id)).order_by(Notification.id)))


def sent_to(s: Session, update: IncidentUpdate, sender: str) -> Notification | None:
    """The email (or log) message of `update` that went to `sender`: to that address, or to a person who
    writes from it (their email aliases). None when the update was not sent to them."""
    sender = sender.lower()
    if not sender:
        return None
    mail = [n for n in messages_of(s, update) if n.channel in RECEIPT_CHANNELS and n.status != "cancelled"]
    found = next((n for n in mail if n.recipient.lower() == sender), None)
    if found is not None:
        return found
    for n in mail:
        person = s.get(Person, n.person_id) if n.person_id is not None else None
        if person is not None and sender in person.addresses():
            return n
    return None


def message_to(s: Session, update: IncidentUpdate, channel: str, address: str | None) -> Notification | None:
    """The message of `update` on `channel` to `address` (e.g. the bot's card in a Teams channel)."""
    if not address:
        return None
    return s.scalar(select(Notification).where(
        Notification.incident_id == update.incident_id, Notification.kind == update.kind,
        Notification.slot == update_slot(update.id), Notification.channel == channel,
        Notification.recipient == address).limit(1))


def update_of(s: Session, notification: Notification) -> IncidentUpdate | None:
    update_id = update_id_of(notification)
    update = s.get(IncidentUpdate, update_id) if update_id is not None else None
    if update is None or update.incident_id != notification.incident_id:
        return None
    return update


# ---- writing ------------------------------------------------------------------------------------

def record_receipt(s: Session, update: IncidentUpdate, *, address: str, name: str, via: str,
                   notification_id: int | None, at: datetime | None = None) -> bool:
    """Note that `address` has seen `update`; False when it had said so before (twice counts once).

    One INSERT … ON CONFLICT DO NOTHING, so two "Got it"s at once (a link and a reply) cannot both count.
    """
    if via not in VIAS:
        raise ValueError(f"unknown way to acknowledge {via!r}")
    table = UpdateReceipt.__table__
    statement = (db.insert_for(s)(table)
                 .on_conflict_do_nothing(index_elements=["update_id", "address"]).returning(table.c.id))
    new = s.execute(statement, {
        "incident_id": update.incident_id, "update_id": update.id, "notification_id": notification_id,
        "address": address.lower()[:320], "name": (name or "")[:200], "via": via, "at": at or clock.now(),
    }).scalar()
    return new is not None


def receipt_of(s: Session, update: IncidentUpdate, address: str) -> UpdateReceipt | None:
    return s.scalar(select(UpdateReceipt).where(UpdateReceipt.update_id == update.id,
                                                UpdateReceipt.address == address.lower()[:320]))


# ---- questions ----------------------------------------------------------------------------------

def describe(update: IncidentUpdate) -> str:
    """"the 🟡 UPDATE of 10:15 UTC": how a person names an update."""
    return f"the {KIND_LABELS.get(update.kind, update.kind)} of {update.posted_at:%H:%M} UTC"


def ask(s: Session, incident: Incident, update: IncidentUpdate, *, sender: str, name: str, text: str,
        via: str, key: str) -> list[Notification]:
    """A stakeholder's reply that is not "ack": on the timeline as a question, and the Communications Lead
    (else the Incident Commander) is told through the outbox. `key` makes the notice once-only."""
    who = f"{name} <{sender}>" if name and name.lower() != sender.lower() else sender
    flat = " ".join(text.split())
    snippet = flat if len(flat) <= SNIPPET else flat[:SNIPPET - 1] + "…"
    record(s, incident, "stakeholder_question",
           f"Question from {who} on {describe(update)}: {snippet or '(no text)'}",
           actor=f"{via}:{sender}", sender=sender, update=update.id)
    rules = policy()
    for role_key in (rules.communicator_role, rules.commander_role):
        holder = incident.role(role_key)
        if holder is not None and holder.person is not None:
            severity = rules.severities[incident.severity]
            return notify(s, incident=incident, kind="question", slot=f"question-{key}",
                          recipients=recipients_for_person(holder.person, severity.channels),
                          context={"role": role_data(rules, role_key),
                                   "question": {"sender": sender, "name": name or sender, "text": snippet,
                                                "about": describe(update), "update_kind": update.kind}})
    record(s, incident, "stakeholder_question_unheard",
           f"Nobody holds the {rules.role_title(rules.communicator_role)} or "
           f"{rules.role_title(rules.commander_role)} role to tell about the question from {who}",
           sender=sender, update=update.id)
    return []
