"""The escalation tick: escalate, page again, check the team assembled.

One read finds the incidents with something due (the pure `due_work`); each of those then gets its
own write transaction, where the work is worked out again on fresh rows and each item is claimed
through an `EscalationFiring` row, so any number of workers and late ticks do it exactly once.
A quiet tick costs three queries and takes no write lock.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Callable

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, selectinload

from .. import db
from ..incidents.models import OPEN_STATUSES, Incident, IncidentRole
from ..incidents.timeline import record
from ..notify.models import Notification
from ..notify.outbox import recipients_for_contact, recipients_for_person
from ..notify.triggers import page_role
from ..policy import duration_in_words
from ..policy.model import CHANNELS
from ..runtime import policy
from . import steps
from .models import EscalationFiring
from .rules import Chain, Due, assemble_deadline, due_work, missing_at, reason

log = logging.getLogger("herald.escalation")


def run_escalation(now: datetime) -> None:
    with db.read_transaction() as s:  # a snapshot: the look at every open incident holds up no writer
        flagged = or_(Incident.data_breach_suspected.is_(True), Incident.financial_impact.is_not(None))
        incidents = s.scalars(select(Incident).where(or_(
            Incident.status.in_(OPEN_STATUSES), and_(Incident.status == "resolved", flagged))
        ).order_by(Incident.id).options(_ROLES_WITHOUT_PEOPLE)).all()
        ids = [incident.id for incident in incidents]
        fired, pages, chains = _fired(s, ids), _page_times(s, ids), _chains(s, ids)
        due = [incident.id for incident in incidents
               if due_work(policy(), incident, now, fired[incident.id], _first_paged(pages, incident.id),
                           _earlier_repeats(pages, incident.id), chains[incident.id])]
    for incident_id in due:
        try:
            with db.transaction() as s:
                incident = s.get(Incident, incident_id)
                if incident is not None:
                    act(s, incident, now)
        except Exception:  # one incident's trouble must not hold up the others
            log.exception("escalation failed for incident %s", incident_id)


# The look at every open incident reads the role slots (who holds, who acknowledged), not the people.
_ROLES_WITHOUT_PEOPLE = selectinload(Incident.roles).lazyload(IncidentRole.person)


def act(s: Session, incident: Incident, now: datetime) -> None:
    """Do what is due for one incident, each item once."""
    pages = _page_times(s, [incident.id])
    work = due_work(policy(), incident, now, _fired(s, [incident.id])[incident.id],
                    _first_paged(pages, incident.id), _earlier_repeats(pages, incident.id),
                    _chains(s, [incident.id])[incident.id])
    for due in work:
        if fire_once(s, incident, due.key, now):
            ACTIONS[due.what](s, incident, due, now)


def fire_once(s: Session, incident: Incident, key: str, now: datetime) -> bool:
    """Claim `key` for the incident; True only for the one caller that inserted it."""
    insert = db.insert_for(s)
    stmt = (insert(EscalationFiring).values(incident_id=incident.id, key=key, fired_at=now)
            .on_conflict_do_nothing(index_elements=["incident_id", "key"]).returning(EscalationFiring.id))
    return s.execute(stmt).scalar() is not None


def _fired(s: Session, ids: list[int]) -> defaultdict[int, set[str]]:
    fired: defaultdict[int, set[str]] = defaultdict(set)
    if ids:
        for incident_id, key in s.execute(select(EscalationFiring.incident_id, EscalationFiring.key)
                                          .where(EscalationFiring.incident_id.in_(ids))):
            fired[incident_id].add(key)
    return fired


def _chains(s: Session, ids: list[int]) -> defaultdict[int, dict[str, Chain]]:
    """{incident: {rule name: Chain}}: when each step of each rule fired (the firing keys, so rules fired
    before chains existed count as step 0), and whether a step of the rule was acknowledged."""
    names = {rule.name for rule in policy().escalations}
    fired: defaultdict[int, dict[str, dict[int, datetime]]] = defaultdict(dict)
    acknowledged = steps.acknowledged_rules(s, ids)
    if ids:
        for incident_id, key, at in s.execute(select(EscalationFiring.incident_id, EscalationFiring.key,
                                                     EscalationFiring.fired_at).where(
                EscalationFiring.incident_id.in_(ids), EscalationFiring.key.like("rule:%"))):
            found = steps.parse_key(key, names)
            if found is not None:
                fired[incident_id].setdefault(found[0], {})[found[1]] = at
    out: defaultdict[int, dict[str, Chain]] = defaultdict(dict)
    for incident_id, rules in fired.items():
        for name, times in rules.items():
            out[incident_id][name] = Chain(times, (incident_id, name) in acknowledged)
    return out


def _page_times(s: Session, ids: list[int]) -> defaultdict[tuple[int, int], list[tuple[datetime, str]]]:
    """When each person was paged on each incident, oldest first, with the page's slot.

    A rotation handoff's message counts as a page: it carries the acknowledgement link, and the board
    shows its receiver as paged, so an unacknowledged handoff is paged again like any page.
    """
    times: defaultdict[tuple[int, int], list[tuple[datetime, str]]] = defaultdict(list)
    if ids:
        rows = s.execute(select(Notification.incident_id, Notification.person_id, Notification.created_at,
                                Notification.slot).where(
            Notification.incident_id.in_(ids), Notification.kind.in_(("page", "handoff")),
            Notification.person_id.is_not(None)
        ).order_by(Notification.created_at))
        for incident_id, person_id, created_at, slot in rows:
            times[(incident_id, person_id)].append((created_at, slot))
    return times


def _series(pages, incident_id: int, slot) -> tuple[datetime | None, int]:
    """(start of the holder's current page series, repeats sent before it) since they were given the role.

    A series starts with a page that is not a repeat: the first page, a handover, a handoff, or the page
    of a raised severity, which restarts the repeats at the new severity's pace instead of counting
    them from the first page (that sent a P1 repeat a second after the P1 page).
    """
    since = slot.assigned_at
    rows = [(t, name) for t, name in pages.get((incident_id, slot.person_id), ()) if since is None or t >= since]
    starts = [t for t, name in rows if not name.startswith("repeat-")]
    if not starts:
        return None, 0
    start = starts[-1]
    return start, len({name for t, name in rows if name.startswith("repeat-") and t < start})


def _first_paged(pages, incident_id: int) -> Callable[[object], datetime | None]:
    """When the role slot's holder's current page series began (None: never paged)."""
    return lambda slot: _series(pages, incident_id, slot)[0]


def _earlier_repeats(pages, incident_id: int) -> Callable[[object], int]:
    """How many repeats the role slot's holder got before the current series (they keep their numbers)."""
    return lambda slot: _series(pages, incident_id, slot)[1]


# ---- what each item does ----------------------------------------------------------------------

def _escalate(s: Session, incident: Incident, due: Due, now: datetime) -> None:
    """One step of the escalation matrix: every contact it names, over every channel the contact has."""
    rule, step = due.rule, due.number
    why = reason(rule, incident)
    keys = rule.contacts(step)
    contacts = [policy().contacts[key] for key in keys]
    titles = " and ".join(contact.title for contact in contacts)
    recipients = [r for contact in contacts for r in recipients_for_contact(s, contact.key, CHANNELS, now)]
    if step:
        earlier = rule.contacts(step - 1)
        why += (f"; {' and '.join(policy().contacts[k].title for k in earlier)} did not acknowledge within "
                f"{duration_in_words(rule.wait(step - 1))}")
    text = f"Escalated to {titles}: {why}" if not step else f"Escalated to {titles} (step {step + 1}): {why}"
    if not recipients:
        text += " (nobody to notify: the contacts have no address and nobody on call)"
    record(s, incident, "escalated", text, actor="herald", rule=rule.name, step=step, contacts=list(keys))
    steps.send(s, incident, rule=rule.name, step=step, key=due.key, contacts=keys, reason=why,
               recipients=recipients, now=now,
               context={"escalation": {"name": rule.name, "reason": why, "to": titles, "step": step,
                                       "acknowledge_within": _words(rule.wait(step))}})


def _words(within) -> str | None:
    return duration_in_words(within) if within else None


def _unanswered(s: Session, incident: Incident, due: Due, now: datetime) -> None:
    """The chain's last step went unacknowledged for its time: nobody is left to tell; the timeline says so."""
    rule = due.rule
    titles = " and ".join(policy().contacts[k].title for k in rule.contacts(due.number))
    record(s, incident, "escalation_unanswered",
           f"Escalation {rule.name!r} unanswered: {titles} did not acknowledge within "
           f"{duration_in_words(rule.wait(due.number))}, and the chain has no further step",
           actor="herald", rule=rule.name, step=due.number)


def _repeat(s: Session, incident: Incident, due: Due, now: datetime) -> None:
    """A paged role owner who has not acknowledged is paged again (the page says which repeat)."""
    page_role(s, incident, due.role, slot=f"repeat-{due.number}", repeat=due.number)


def _assemble(s: Session, incident: Incident, due: Due, now: datetime) -> None:
    """`assemble_within` has passed: did every paged role acknowledge in time? If not, tell the IC."""
    severity = policy().severities[incident.severity]
    within = duration_in_words(severity.assemble_within)
    missing = missing_at(incident, severity, assemble_deadline(incident, severity))
    if not missing:
        record(s, incident, "assembled", f"Team assembled: every paged role acknowledged within {within}",
               actor="herald")
        return
    text = f"Team not assembled within {within}: " + "; ".join(_missing_line(incident, key) for key in missing)
    commander = incident.role(policy().commander_role)
    still = [key for key in missing if (slot := incident.role(key)) is None or slot.acknowledged_at is None]
    if still and commander is not None and commander.person is not None:
        steps.send(s, incident, rule=steps.ASSEMBLE_RULE, step=0, key="assemble",
                   contacts=(policy().commander_role,), reason=text,
                   recipients=recipients_for_person(commander.person, severity.channels), now=now,
                   context={"escalation": {"name": steps.ASSEMBLE_RULE, "reason": text,
                                           "to": policy().role_title(policy().commander_role), "step": 0}})
        text += f" (told {commander.person.name})"
    elif still:
        text += " (no Incident Commander to tell)"
    record(s, incident, "not_assembled", text, actor="herald", missing=missing)


ACTIONS = {"escalate": _escalate, "unanswered": _unanswered, "repeat": _repeat, "assemble": _assemble}


def _missing_line(incident: Incident, key: str) -> str:
    title = policy().role_title(key)
    slot = incident.role(key)
    if slot is None or slot.person is None:
        return f"{title}: nobody assigned"
    if slot.acknowledged_at is None:
        return f"{title} ({slot.person.name}) has not acknowledged"
    return f"{title} ({slot.person.name}) acknowledged late"
