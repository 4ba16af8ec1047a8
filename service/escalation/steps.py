"""The record of each escalation step: whom it went to, and who acknowledged it, when and how.

`send` enqueues a step's messages (each with its own signed token of kind "escalation") and records
the step and its recipients; `acknowledge` is the one way a recipient acknowledges, whichever path the
acknowledgement came by (email reply, link, Teams card). An acknowledgement of any step of a rule stops
that rule's chain (`acknowledged_rules`, read by the tick).
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from ..incidents.models import Incident
from ..incidents.timeline import record
from ..notify.models import Notification
from ..notify.outbox import notify
from ..people.models import Person
from ..runtime import policy
from .models import EscalationRecipient, EscalationStep

TOKEN_KIND = "escalation"
ASSEMBLE_RULE = "Team not assembled"   # the assemble check's message to the IC is an escalation like the rules'
_STEP_KEY = re.compile(r"^rule:(?P<name>.*):step:(?P<step>[1-9][0-9]*)$")


def parse_key(key: str, names: set[str]) -> tuple[str, int] | None:
    """(rule name, step) of a firing key of a rule in `names` (`rule:<name>` or `rule:<name>:step:<n>`)."""
    found = _STEP_KEY.match(key)
    if found and found["name"] in names:
        return found["name"], int(found["step"])
    name = key[len("rule:"):] if key.startswith("rule:") else None
    return (name, 0) if name in names else None


def send(s: Session, incident: Incident, *, rule: str, step: int, key: str, contacts, reason: str, recipients,
         now: datetime, context: dict) -> EscalationStep:
    """Enqueue the step's messages and record the step with one recipient row per message."""
    row = EscalationStep(incident_id=incident.id, rule=rule[:200], step=step, key=key, contacts=list(contacts),
                         reason=reason[:500], fired_at=now)
    s.add(row)
    s.flush()
    for message in notify(s, incident=incident, kind="escalation", slot=key, recipients=recipients,
                          context=context, token_kind=TOKEN_KIND):
        row.recipients.append(EscalationRecipient(notification_id=message.id, channel=message.channel,
                                                  address=message.recipient, name=message.recipient_name,
                                                  person_id=message.person_id))
    return row


def acknowledged_rules(s: Session, ids: list[int]) -> set[tuple[int, str]]:
    """(incident, rule name) of every rule with an acknowledged step on the incidents."""
    if not ids:
        return set()
    return {(incident_id, rule) for incident_id, rule in s.execute(
        select(EscalationStep.incident_id, EscalationStep.rule).where(
            EscalationStep.incident_id.in_(ids), EscalationStep.acknowledged_at.is_not(None)))}


def recipient_of(s: Session, notification_id: int) -> EscalationRecipient | None:
    return s.scalar(select(EscalationRecipient).where(EscalationRecipient.notification_id == notification_id))


def who(s: Session, recipient: EscalationRecipient, address: str | None = None) -> tuple[str, str]:
    """(identifier for the API, name for the timeline) of whoever acknowledged as `recipient`."""
    person = s.get(Person, recipient.person_id) if recipient.person_id else None
    if person is not None:
        return person.handle, person.name
    shown = address or recipient.address
    return shown, f"{recipient.name} <{shown}>" if recipient.name and "@" in shown else shown


def acknowledge(s: Session, recipient: EscalationRecipient, *, via: str, now: datetime,
                address: str | None = None, actor: str | None = None) -> bool:
    """`recipient` acknowledges its step; False when they had before (acknowledging twice counts once).

    The first acknowledgement of a step is the step's; later ones by other recipients are kept per
    recipient and noted too (each says someone saw it). Both are conditional UPDATEs, so two
    acknowledgements at the same moment (a link and a reply, two workers) still count once.
    """
    step = recipient.step
    handle, name = who(s, recipient, address)
    mine = s.execute(update(EscalationRecipient).where(EscalationRecipient.id == recipient.id,
                                                      EscalationRecipient.acknowledged_at.is_(None))
                     .values(acknowledged_at=now, acknowledged_via=via)
                     .execution_options(synchronize_session=False)).rowcount
    if not mine:
        s.refresh(recipient)
        return False
    first = bool(s.execute(update(EscalationStep).where(EscalationStep.id == step.id,
                                                         EscalationStep.acknowledged_at.is_(None))
                           .values(acknowledged_at=now, acknowledged_by=handle[:320], acknowledged_via=via)
                           .execution_options(synchronize_session=False)).rowcount)
    s.refresh(recipient)
    s.refresh(step)
    incident = s.get(Incident, step.incident_id)
    text = f"Escalation {step.rule!r} ({describe(step)}) acknowledged by {name} {via_words(via)}"
    if not first:
        text += " (acknowledged before by " + (step.acknowledged_by or "someone") + ")"
    record(s, incident, "escalation_acknowledged", text, actor=actor or f"{via}:{handle}", rule=step.rule,
           step=step.step, via=via, by=handle, first=first)
    return True


def via_words(via: str | None) -> str:
    return f"via {via}" if via else ""


def describe(step: EscalationStep) -> str:
    """"step 1", "step 2", … as people count (the API's step 0 is the rule's own contacts)."""
    return f"step {step.step + 1}"


def incident_steps(s: Session, incident_id: int) -> list[EscalationStep]:
    return list(s.scalars(select(EscalationStep).where(EscalationStep.incident_id == incident_id)
                          .order_by(EscalationStep.fired_at, EscalationStep.id)))


def listing(s: Session, incident_id: int) -> list[dict]:
    """The incident's steps as the API shows them: each recipient with when its message left."""
    rows = incident_steps(s, incident_id)
    ids = [r.notification_id for step in rows for r in step.recipients if r.notification_id]
    sent = dict(s.execute(select(Notification.id, Notification.sent_at).where(Notification.id.in_(ids))).all()) \
        if ids else {}
    return [{"rule": step.rule, "step": step.step, "contacts": list(step.contacts or []), "reason": step.reason,
             "fired_at": step.fired_at, "acknowledged_at": step.acknowledged_at,
             "acknowledged_by": step.acknowledged_by, "acknowledged_via": step.acknowledged_via,
             "recipients": [{"address": r.address, "channel": r.channel, "sent_at": sent.get(r.notification_id),
                             "acknowledged_at": r.acknowledged_at} for r in step.recipients]}
            for step in rows]


@dataclass(frozen=True)
class StepView:
    """One escalation step as the board and the console show it."""

    rule: str
    step: int
    to: str                          # the contacts' titles
    reason: str
    fired_at: datetime
    acknowledged_at: datetime | None
    acknowledged_by: str | None      # a person's name, else the address
    via: str | None
    recipients: int
    acknowledged: int                # how many recipients acknowledged

    @property
    def label(self) -> str:
        return self.rule if self.step == 0 else f"{self.rule} (step {self.step + 1})"


def step_views(s: Session, incident_ids: list[int]) -> dict[int, list[StepView]]:
    """{incident: its steps, oldest first}, ready to show."""
    out: dict[int, list[StepView]] = {i: [] for i in incident_ids}
    if not incident_ids:
        return out
    rows = s.scalars(select(EscalationStep).where(EscalationStep.incident_id.in_(incident_ids))
                     .order_by(EscalationStep.fired_at, EscalationStep.id)).all()
    handles = {r.acknowledged_by for r in rows if r.acknowledged_by and "@" not in r.acknowledged_by}
    names = dict(s.execute(select(Person.handle, Person.name).where(Person.handle.in_(handles))).all()) \
        if handles else {}
    for row in rows:
        out[row.incident_id].append(StepView(
            rule=row.rule, step=row.step, to=" and ".join(_title(key) for key in row.contacts or []),
            reason=row.reason, fired_at=row.fired_at, acknowledged_at=row.acknowledged_at,
            acknowledged_by=names.get(row.acknowledged_by, row.acknowledged_by), via=row.acknowledged_via,
            recipients=len(row.recipients), acknowledged=sum(r.acknowledged_at is not None for r in row.recipients)))
    return out


def shown_as_steps(entry_kind: str, data: dict | None, views: list[StepView]) -> bool:
    """Whether a timeline entry of the escalation engine says no more than a step in `views` does."""
    data = data or {}
    if entry_kind == "escalated":
        return any(v.rule == data.get("rule") and v.step == int(data.get("step") or 0) for v in views)
    if entry_kind == "not_assembled":
        return any(v.rule == ASSEMBLE_RULE for v in views)
    return False


def _title(key: str) -> str:
    contact = policy().contacts.get(key)
    return contact.title if contact else policy().role_title(key)
