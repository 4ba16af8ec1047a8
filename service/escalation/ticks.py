"""The tick jobs: escalate, page again, check the team assembled. Each asks the pure rules what is due at
`now` and fires each thing once through an `EscalationFiring` row, one incident per transaction."""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import and_, exists, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from .. import db
from ..incidents.models import OPEN_STATUSES, Incident
from ..incidents.timeline import record
from ..notify.models import Notification
from ..notify.outbox import notify, recipients_for_contact, recipients_for_person
from ..notify.triggers import INCIDENT_COMMANDER, page_role
from ..policy import duration_in_words
from ..policy.model import CHANNELS
from ..runtime import policy
from ..worker import register_tick
from .models import EscalationFiring
from .rules import (
    assemble_deadline,
    due_escalations,
    missing_at,
    reason,
    repeat_number,
    unacknowledged_paged_roles,
)

log = logging.getLogger("herald.escalation")

def fire_once(s: Session, incident: Incident, key: str, now: datetime) -> bool:
    """Claim `key` for the incident; True only for the one caller that inserted it."""
    insert = pg_insert if s.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = (insert(EscalationFiring).values(incident_id=incident.id, key=key, fired_at=now)
            .on_conflict_do_nothing(index_elements=["incident_id", "key"]).returning(EscalationFiring.id))
    return s.execute(stmt).scalar() is not None


def _each_incident(query, job, now: datetime) -> None:
    """Run `job(s, incident, now)` per incident in its own transaction, so one failure stops no other."""
    with db.transaction() as s:
        ids = s.scalars(query.with_only_columns(Incident.id).order_by(Incident.id)).all()
    for incident_id in ids:
        try:
            with db.transaction() as s:
                incident = s.get(Incident, incident_id)
                if incident is not None:
                    job(s, incident, now)
        except Exception:
            log.exception("%s failed for incident %s", job.__name__, incident_id)


# ---- the escalation matrix -------------------------------------------------------------------

@register_tick("escalations")
def run_escalations(now: datetime) -> None:
    flagged = or_(Incident.data_breach_suspected.is_(True), Incident.financial_impact.is_not(None))
    query = select(Incident).where(or_(Incident.status.in_(OPEN_STATUSES),
                                       and_(Incident.status == "resolved", flagged)))
    _each_incident(query, escalate, now)


def escalate(s: Session, incident: Incident, now: datetime) -> None:
    for rule in due_escalations(policy(), incident, now):
        if not fire_once(s, incident, f"rule:{rule.name}", now):
            continue
        why = reason(rule, incident)
        contacts = [policy().contacts[key] for key in rule.notify]
        titles = " and ".join(contact.title for contact in contacts)
        recipients = [r for contact in contacts for r in recipients_for_contact(s, contact.key, CHANNELS, now)]
        text = f"Escalated to {titles}: {why}"
        if not recipients:
            text += " (nobody to notify: the contacts have no address and nobody on call)"
        record(s, incident, "escalated", text, actor="herald", rule=rule.name, contacts=list(rule.notify))
        notify(s, incident=incident, kind="escalation", slot=f"rule:{rule.name}", recipients=recipients,
               context={"escalation": {"name": rule.name, "reason": why, "to": titles}})


# ---- repeat pages ----------------------------------------------------------------------------

@register_tick("repeat-pages")
def run_repeat_pages(now: datetime) -> None:
    repeating = [key for key, sev in policy().severities.items() if sev.acknowledge_within and sev.page]
    query = select(Incident).where(Incident.status.in_(OPEN_STATUSES), Incident.severity.in_(repeating))
    _each_incident(query, page_again, now)


def page_again(s: Session, incident: Incident, now: datetime) -> None:
    """Page again every paged role owner who has not acknowledged, every `acknowledge_within`, up to 5 times."""
    severity = policy().severities[incident.severity]
    for slot in unacknowledged_paged_roles(incident, severity):
        first = _first_page_at(s, incident, slot.person_id, slot.assigned_at)
        if first is None:
            continue  # not paged (yet): the first page is dispatch's to send
        number = repeat_number(first, severity.acknowledge_within, now)
        if number and fire_once(s, incident, f"repeat:{slot.role}:{slot.person_id}:{number}", now):
            page_role(s, incident, slot.role, slot=f"repeat-{number}", repeat=number)


def _first_page_at(s: Session, incident: Incident, person_id: int, assigned_at: datetime | None) -> datetime | None:
    query = select(Notification.created_at).where(
        Notification.incident_id == incident.id, Notification.kind == "page", Notification.person_id == person_id)
    if assigned_at is not None:
        query = query.where(Notification.created_at >= assigned_at)
    return s.scalar(query.order_by(Notification.created_at).limit(1))


# ---- the assemble check ----------------------------------------------------------------------

@register_tick("assemble-check")
def run_assemble_check(now: datetime) -> None:
    timed = [key for key, sev in policy().severities.items() if sev.assemble_within]
    checked = exists().where(EscalationFiring.incident_id == Incident.id, EscalationFiring.key == "assemble")
    query = select(Incident).where(Incident.status.in_(OPEN_STATUSES), Incident.severity.in_(timed), ~checked)
    _each_incident(query, check_assembled, now)


def check_assembled(s: Session, incident: Incident, now: datetime) -> None:
    """Once `assemble_within` has passed: did every paged role acknowledge in time? If not, tell the IC."""
    severity = policy().severities[incident.severity]
    deadline = assemble_deadline(incident, severity)
    if deadline is None or now < deadline or not fire_once(s, incident, "assemble", now):
        return
    within = duration_in_words(severity.assemble_within)
    missing = missing_at(incident, severity, deadline)
    if not missing:
        record(s, incident, "assembled", f"Team assembled: every paged role acknowledged within {within}",
               actor="herald")
        return
    lines = [_missing_line(incident, key) for key in missing]
    text = f"Team not assembled within {within}: " + "; ".join(lines)
    commander = incident.role(INCIDENT_COMMANDER)
    still = [key for key in missing if (slot := incident.role(key)) is None or slot.acknowledged_at is None]
    if still and commander is not None and commander.person is not None:
        notify(s, incident=incident, kind="escalation", slot="assemble",
               recipients=recipients_for_person(commander.person, severity.channels),
               context={"escalation": {"name": "Team not assembled", "reason": text,
                                       "to": policy().role_title(INCIDENT_COMMANDER)}})
        text += f" (told {commander.person.name})"
    elif still:
        text += " (no Incident Commander to tell)"
    record(s, incident, "not_assembled", text, actor="herald", missing=missing)


def _missing_line(incident: Incident, key: str) -> str:
    title = policy().role_title(key)
    slot = incident.role(key)
    if slot is None or slot.person is None:
        return f"{title}: nobody assigned"
    if slot.acknowledged_at is None:
        return f"{title} ({slot.person.name}) has not acknowledged"
    return f"{title} ({slot.person.name}) acknowledged late"
