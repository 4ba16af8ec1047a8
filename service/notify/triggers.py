"""What makes Herald speak: incident signals and the cadence tick, turned into outbox rows.

- An incident opens: its severity's `page` roles are paged, its `notify` roles get a notice; the
  initial update goes to the stakeholders like every other update (below).
- An update is posted (initial, progress, automatic, resolution): it goes to the severity's
  stakeholders on the severity's channels, and the next update falls due `update_every` later.
- The severity goes up: the new severity's roles are paged, the stakeholders it adds get the initial
  update, and the cadence re-plans.
- A role is handed over by hand: the new holder is paged (or noticed) like the first one was.
  (Rotation handoffs are announced by `handoffs.py` with the `handoff` template.)
- Every tick: overdue updates are posted automatically (one, however late), and the Communications
  Lead is reminded before an update falls due.
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock, db
from ..incidents import lifecycle
from ..incidents.models import OPEN_STATUSES, Incident, IncidentUpdate
from ..incidents.timeline import record
from ..runtime import config, holidays, policy
from . import cadence, receipts
from .context import role_data, update_data
from .models import Notification
from .outbox import Recipient, extra_stakeholders, notify, recipients_for_contact, recipients_for_person

log = logging.getLogger("herald.notify.triggers")



# ---- who hears ------------------------------------------------------------------------------

def stakeholder_recipients(session: Session, incident: Incident, at: datetime) -> list[Recipient]:
    """The severity's stakeholder contacts on its channels, plus HERALD_TEAMS_WEBHOOK_URL for `teams`."""
    severity = policy().severities[incident.severity]
    out: list[Recipient] = []
    for key in severity.stakeholders:
        out.extend(recipients_for_contact(session, key, severity.channels, at))
    webhook = config().teams_webhook_url
    if "teams" in severity.channels and webhook:
        out.append(Recipient("teams", webhook, "Incident channel"))
    out.extend(extra_stakeholders(incident, severity))  # e.g. the Teams bot's channel
    return out


def page_role(session: Session, incident: Incident, role_key: str, *, slot: str, repeat: int = 0,
              kind: str = "page") -> list[Notification]:
    """Page (or, with kind="notice", inform) whoever holds `role_key` on the incident.

    Business-hours-only severities hold the message until business hours. The slot makes it
    idempotent per person: e.g. "P1" for the first page at that severity, "repeat-2" for a repeat.
    """
    severity = policy().severities[incident.severity]
    slot_holder = incident.role(role_key)
    person = slot_holder.person if slot_holder is not None else None
    title = policy().role_title(role_key)
    if person is None:
        if kind == "page":
            record(session, incident, "page_skipped", f"Nobody to page as {title}: the role is unassigned",
                   role=role_key)
        return []
    now = clock.now()
    not_before = cadence.page_not_before(severity, now, policy(), holidays())
    created = notify(session, incident=incident, kind=kind, slot=slot,
                     recipients=recipients_for_person(person, severity.channels),
                     context={"role": role_data(policy(), role_key), "repeat": repeat}, not_before=not_before)
    if created and kind == "page":
        when = f" (held until business hours, {not_before:%a %H:%M} UTC)" if not_before else ""
        again = f" again (page {repeat + 1})" if repeat else ""
        record(session, incident, "paged", f"Paged {person.name} as {title}{again}{when}",
               role=role_key, person=person.handle, channels=sorted({n.channel for n in created}),
               notifications=[n.id for n in created])
    return created


def page_severity_roles(session: Session, incident: Incident) -> None:
    """Page the severity's `page` roles and inform its `notify` roles (slot: the severity)."""
    severity = policy().severities[incident.severity]
    for role_key in severity.page:
        page_role(session, incident, role_key, slot=severity.key)
    for role_key in severity.notify:
        page_role(session, incident, role_key, slot=severity.key, kind="notice")


# ---- signals --------------------------------------------------------------------------------

def on_opened(incident: Incident, session: Session, **_) -> None:
    page_severity_roles(session, incident)


def on_update_posted(incident: Incident, session: Session, update, **_) -> None:
    replan(incident)
    notify(session, incident=incident, kind=update.kind, slot=receipts.update_slot(update.id),
           recipients=stakeholder_recipients(session, incident, update.posted_at),
           context={"update": update_data(update)}, token_kind=receipts.TOKEN_KIND)  # each with its Got it


def on_changed(incident: Incident, session: Session, changes: dict, **_) -> None:
    if "severity" in changes or "status" in changes:
        replan(incident)
    if "severity" in changes:
        old, new = changes["severity"]
        if cadence.raised(policy(), old, new) and incident.is_open:
            page_severity_roles(session, incident)
            send_initial_to_new_stakeholders(session, incident)


def send_initial_to_new_stakeholders(session: Session, incident: Incident) -> list[Notification]:
    """A raised severity may add stakeholders or channels (P3 -> P1 adds Teams): they get the 🔴 INCIDENT
    update too. The slot is the initial update's own, so whoever already had it is not sent it again."""
    initial = session.scalar(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id,
                                                          IncidentUpdate.kind == "initial")
                             .order_by(IncidentUpdate.id).limit(1))
    if initial is None:
        return []
    return notify(session, incident=incident, kind="initial", slot=receipts.update_slot(initial.id),
                  recipients=stakeholder_recipients(session, incident, clock.now()),
                  context={"update": update_data(initial)}, token_kind=receipts.TOKEN_KIND)


def on_role_assigned(incident: Incident, session: Session, role: str, person, previous, reason: str, **_) -> None:
    if reason != "handover" or not incident.is_open:
        return
    severity = policy().severities[incident.severity]
    if role in severity.page:
        page_role(session, incident, role, slot=severity.key)
    elif role in severity.notify:
        page_role(session, incident, role, slot=severity.key, kind="notice")


def replan(incident: Incident) -> None:
    severity = policy().severities[incident.severity]
    incident.next_update_due_at = cadence.next_update_due(severity, is_open=incident.is_open,
                                                          last_update_at=incident.last_update_at)


# ---- the cadence tick -----------------------------------------------------------------------

def cadence_tick(now: datetime) -> None:
    horizon = now + cadence.lookahead(policy())
    with db.transaction() as s:
        ids = s.scalars(select(Incident.id).where(
            Incident.status.in_(OPEN_STATUSES),
            Incident.next_update_due_at.is_not(None),
            Incident.next_update_due_at <= horizon,
        ).order_by(Incident.next_update_due_at)).all()
    for incident_id in ids:
        try:
            with db.transaction() as s:
                _advance(s, incident_id, now)
        except Exception:  # one incident's trouble must not hold up the others
            log.exception("cadence: incident %s failed", incident_id)


def _advance(s: Session, incident_id: int, now: datetime) -> None:
    # The row lock makes a second worker wait here and then see the update the first one posted.
    incident = s.get(Incident, incident_id, with_for_update=db.is_postgres(s))
    if incident is None:
        return
    severity = policy().severities[incident.severity]
    step = cadence.due_step(severity, is_open=incident.is_open, next_update_due_at=incident.next_update_due_at,
                            now=now)
    if step is None:
        return
    if step.action == "update":
        lifecycle.post_update(s, incident, status=incident.status, actor="herald", automatic=True)
    else:
        remind_communications_lead(s, incident, step.due, now)


def remind_communications_lead(s: Session, incident: Incident, due: datetime, now: datetime) -> list[Notification]:
    """The policy's communicator (else its commander) hears that an update is due soon."""
    for role_key in (policy().communicator_role, policy().commander_role):
        holder = incident.role(role_key)
        if holder is not None and holder.person is not None:
            severity = policy().severities[incident.severity]
            return notify(s, incident=incident, kind="reminder", slot=f"due-{due:%Y%m%dT%H%M%S}",
                          recipients=recipients_for_person(holder.person, severity.channels),
                          context={"role": role_data(policy(), role_key), "due_at": due, "due_in": due - now})
    return []
