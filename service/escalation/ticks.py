"""The escalation tick: escalate, page again, check the team assembled.

One read finds the incidents that may have something due (SQL on due times and unacknowledged roles,
`maybe_due`), and of those the ones that do (the pure `due_work`); each of those then gets its
own write transaction, where the work is worked out again on fresh rows and each item is claimed
through an `EscalationFiring` row, so any number of workers and late ticks do it exactly once.
A quiet tick costs one query that reads no incident row, and takes no write lock.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import and_, false, or_, select, true
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
from .rules import Chain, Due, assemble_deadline, due_work, missing_at, reason, unanswered_key

log = logging.getLogger("herald.escalation")


def run_escalation(now: datetime) -> None:
    with db.read_transaction() as s:  # a snapshot: the look at every open incident holds up no writer
        flagged = or_(Incident.data_breach_suspected.is_(True), Incident.financial_impact.is_not(None))
        incidents = s.scalars(select(Incident).where(or_(
            Incident.status.in_(OPEN_STATUSES), and_(Incident.status == "resolved", flagged)),
            maybe_due(now)
        ).order_by(Incident.id).options(_ROLES_WITHOUT_PEOPLE)).all()
        ids = [incident.id for incident in incidents]
        (fired, chains), pages = _firings(s, ids), _page_times(s, ids)
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


def maybe_due(now: datetime):
    """A WHERE clause for the incidents that may have something due at `now`: a superset of what `due_work`
    finds (it still decides), so that a tick with nothing due reads no incident at all, however many are open.

    A rule whose condition holds once its delay has passed (a rule that fired stays in: a chain may follow it);
    the assemble check once its deadline passed and before it ran; a repeat page once a paged role's holder,
    not yet acknowledged, was paged at least `acknowledge_within` ago.
    """
    pol, is_open = policy(), Incident.status.in_(OPEN_STATUSES)
    clauses = []
    for rule in pol.escalations:
        holds = {"not_acknowledged": and_(is_open, Incident.acknowledged_at.is_(None)),
                 "not_mitigated": and_(is_open, Incident.mitigated_at.is_(None)),
                 "data_breach_suspected": and_(Incident.data_breach_suspected.is_(True), Incident.status != "closed"),
                 "financial_impact_over": and_(Incident.financial_impact > rule.threshold, Incident.status != "closed")
                 if rule.threshold is not None else None}.get(rule.condition, true())
        if holds is None:
            continue
        if rule.condition in ("not_acknowledged", "not_mitigated"):
            holds = and_(holds, Incident.started_at <= now - rule.after)
        clauses.append(and_(Incident.severity.in_(rule.severities), holds))
    for key, severity in pol.severities.items():
        of_severity = and_(is_open, Incident.severity == key)
        if severity.assemble_within:
            clauses.append(and_(of_severity, Incident.started_at <= now - severity.assemble_within,
                                ~_fired_key(Incident.id, "assemble")))
        if severity.acknowledge_within and severity.acknowledge_within > timedelta(0) and severity.page:
            paged_long_ago = select(Notification.id).where(
                Notification.incident_id == IncidentRole.incident_id, Notification.person_id == IncidentRole.person_id,
                Notification.kind.in_(("page", "handoff")),
                Notification.created_at <= now - severity.acknowledge_within).exists()
            clauses.append(and_(of_severity, select(IncidentRole.id).where(
                IncidentRole.incident_id == Incident.id, IncidentRole.role.in_(severity.page),
                IncidentRole.person_id.is_not(None), IncidentRole.acknowledged_at.is_(None), paged_long_ago).exists()))
    return or_(false(), *clauses)


def _fired_key(incident_id, key: str):
    return select(EscalationFiring.id).where(EscalationFiring.incident_id == incident_id,
                                             EscalationFiring.key == key).exists()


# The look at every open incident reads the role slots (who holds, who acknowledged), not the people.
_ROLES_WITHOUT_PEOPLE = selectinload(Incident.roles).lazyload(IncidentRole.person)


def act(s: Session, incident: Incident, now: datetime) -> None:
    """Do what is due for one incident, each item once."""
    pages = _page_times(s, [incident.id])
    fired, chains = _firings(s, [incident.id])
    work = due_work(policy(), incident, now, fired[incident.id], _first_paged(pages, incident.id),
                    _earlier_repeats(pages, incident.id), chains[incident.id])
    for due in work:
        if fire_once(s, incident, due.key, now):
            ACTIONS[due.what](s, incident, due, now)


def fire_once(s: Session, incident: Incident, key: str, now: datetime) -> bool:
    """Claim `key` for the incident; True only for the one caller that inserted it."""
    insert = db.insert_for(s)
    stmt = (insert(EscalationFiring).values(incident_id=incident.id, key=key, fired_at=now)
            .on_conflict_do_nothing(index_elements=["incident_id", "key"]).returning(EscalationFiring.id))
    return s.execute(stmt).scalar() is not None


def _firings(s: Session, ids: list[int]) -> tuple[defaultdict[int, set[str]], defaultdict[int, dict[str, Chain]]]:
    """({incident: the keys fired}, {incident: {rule name: Chain}}), from one read of the firings.

    A chain's steps are its rule's firing keys (so a rule fired before chains existed counts as step 0);
    whether a step was acknowledged is read only for incidents with a chain still under way (one whose
    end has been noted fires nothing more either way).
    """
    fired: defaultdict[int, set[str]] = defaultdict(set)
    times: defaultdict[int, dict[str, dict[int, datetime]]] = defaultdict(dict)
    chained = {rule.name: rule for rule in policy().escalations if rule.then or rule.acknowledge_within}
    if ids:
        for incident_id, key, at in s.execute(select(EscalationFiring.incident_id, EscalationFiring.key,
                                                     EscalationFiring.fired_at)
                                              .where(EscalationFiring.incident_id.in_(ids))):
            fired[incident_id].add(key)
            found = steps.parse_key(key, set(chained)) if chained and key.startswith("rule:") else None
            if found is not None:
                times[incident_id].setdefault(found[0], {})[found[1]] = at
    under_way = [incident_id for incident_id, rules in times.items()
                 if any(unanswered_key(chained[name]) not in fired[incident_id] for name in rules)]
    acknowledged = steps.acknowledged_rules(s, under_way)
    chains: defaultdict[int, dict[str, Chain]] = defaultdict(dict)
    for incident_id, rules in times.items():
        for name, at in rules.items():
            chains[incident_id][name] = Chain(at, (incident_id, name) in acknowledged)
    return fired, chains


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
