"""The escalation tick: escalate, page again, check the team assembled.

One read finds the incidents that may have something due (SQL on due times and unacknowledged roles,
`maybe_due`), and of those the ones that do (the pure `due_work`); each of those then gets its
own write transaction, where the work is worked out again on fresh rows and each item is claimed
through an `EscalationFiring` row, so any number of workers and late ticks do it exactly once.
A quiet tick costs one query that reads no incident row, and takes no write lock.
"""
from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from sqlalchemy import Integer, and_, bindparam, case, false, func, or_, select, text, true
from sqlalchemy.orm import Session, aliased

from .. import db
from ..db import UTCDateTime
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
from .rules import REPEAT_LIMIT, Chain, Due, assemble_deadline, due_work, missing_at, reason, unanswered_key

log = logging.getLogger("herald.escalation")


def run_escalation(now: datetime) -> None:
    """Do what is due, most severe incident first, then oldest; stop starting incidents once ESCALATION_SECONDS
    of the tick have gone (one is always done): the rest are still due on the next tick's read, which sends
    what is due then (a late repeat sends the latest number, as after any late tick)."""
    began = time.perf_counter()
    with db.read_transaction() as s:  # a snapshot: the look at every open incident holds up no writer
        due = due_incidents(s, now)
    for done, incident_id in enumerate(due):
        if done and time.perf_counter() - began > ESCALATION_SECONDS:
            log.info("escalation: %d incidents done this tick, %d follow on the next", done, len(due) - done)
            return
        try:
            with db.transaction() as s:
                incident = s.get(Incident, incident_id)
                if incident is not None:
                    act(s, incident, now)
        except Exception:  # one incident's trouble must not hold up the others
            log.exception("escalation failed for incident %s", incident_id)


# A storm's incidents fall due together (1,000 P2 repeats at once are ~2,000 pages, seconds of rendering): a
# tick works through them for about this long, so the other jobs run in between instead of after all of them.
ESCALATION_SECONDS = 0.3


def due_incidents(s: Session, now: datetime, candidates=None) -> list[int]:
    """The ids of the incidents with something due at `now`, most severe first, then oldest.

    Only those that `maybe_due` lets through are read (`candidates`, another WHERE clause, replaces it), as
    plain rows: the pure `due_work` decides over the columns it needs, not ORM objects."""
    if candidates is None:
        scan = _scan(policy())
        rows = s.execute(scan.statement, scan.values(now))
    else:
        flagged = or_(Incident.data_breach_suspected.is_(True), Incident.financial_impact.is_not(None))
        rows = s.execute(select(*_LOOK_COLUMNS).where(
            or_(Incident.status.in_(OPEN_STATUSES), and_(Incident.status == "resolved", flagged)), candidates))
    looks = {row.id: _Look(*row, roles=[]) for row in rows}
    if not looks:
        return []
    ids = sorted(looks)
    for incident_id, *slot in s.execute(select(*_SLOT_COLUMNS).where(_within(IncidentRole.incident_id, ids))
                                        .order_by(IncidentRole.id)):
        if incident_id in looks:
            looks[incident_id].roles.append(_Slot(*slot))
    (fired, chains), pages = _firings(s, ids), _page_times(s, ids)
    rank = {key: severity.rank for key, severity in policy().severities.items()}
    due = [look for look in looks.values()
           if due_work(policy(), look, now, fired[look.id], _first_paged(pages, look.id),
                       _earlier_repeats(pages, look.id), chains[look.id])]
    return [look.id for look in sorted(due, key=lambda look: (rank.get(look.severity, 99), look.id))]


def _within(column, ids: list[int]):
    """`column` (an incident id) among `ids` (sorted), or a few more: an id range among the incidents the scan
    looks at, not an IN list (one of 1,000 ids is a statement psycopg parses anew every time: it caches only
    small ones). The caller keeps the rows of `ids`."""
    if len(ids) == 1:
        return column == ids[0]
    flagged = or_(Incident.data_breach_suspected.is_(True), Incident.financial_impact.is_not(None))
    return and_(column.between(ids[0], ids[-1]), column.in_(select(Incident.id).where(
        Incident.id.between(ids[0], ids[-1]),
        or_(Incident.status.in_(OPEN_STATUSES), and_(Incident.status == "resolved", flagged)))))


@dataclass
class _Look:
    """What `due_work` reads of an incident (a row, not an ORM object)."""
    id: int
    severity: str
    status: str
    started_at: datetime
    acknowledged_at: datetime | None
    mitigated_at: datetime | None
    data_breach_suspected: bool
    financial_impact: float | None
    roles: list

    def role(self, key: str):
        return next((slot for slot in self.roles if slot.role == key), None)


@dataclass(frozen=True)
class _Slot:
    """What `due_work` reads of a role slot."""
    role: str
    person_id: int | None
    assigned_at: datetime | None
    acknowledged_at: datetime | None


_LOOK_COLUMNS = (Incident.id, Incident.severity, Incident.status, Incident.started_at, Incident.acknowledged_at,
                 Incident.mitigated_at, Incident.data_breach_suspected, Incident.financial_impact)
_SLOT_COLUMNS = (IncidentRole.incident_id, IncidentRole.role, IncidentRole.person_id, IncidentRole.assigned_at,
                 IncidentRole.acknowledged_at)


def maybe_due(now: datetime):
    """A WHERE clause for the incidents that may have something due at `now`: a superset of what `due_work`
    finds (it still decides), so that a tick with nothing due reads no incident at all, however many are open.

    A rule whose condition holds once its delay has passed (a rule that fired stays in: a chain may follow it);
    the assemble check once its deadline passed and before it ran; a repeat page once a paged role's holder,
    not yet acknowledged, may have one due (`_repeat_may_be_due`).
    """
    scan = _scan(policy())
    return scan.clause.params(scan.values(now))


class _Scan:
    """`maybe_due` built once per policy, its moments as bound parameters (`values(now)` gives them): building
    and compiling it every tick was most of a quiet tick's time. `statement` is the tick's own read."""

    def __init__(self, pol):
        self.policy, self.cutoffs = pol, {}
        self.clause = self._build(pol)
        flagged = or_(Incident.data_breach_suspected.is_(True), Incident.financial_impact.is_not(None))
        self.statement = select(*_LOOK_COLUMNS).where(
            or_(Incident.status.in_(OPEN_STATUSES), and_(Incident.status == "resolved", flagged)), self.clause)

    def values(self, now: datetime) -> dict[str, datetime]:
        return {name: now - delta for delta, name in self.cutoffs.items()}

    def before(self, delta: timedelta):
        """A bound parameter for the moment `delta` before now."""
        name = self.cutoffs.setdefault(delta, f"cutoff_{len(self.cutoffs)}")
        return bindparam(name, type_=UTCDateTime())

    def _build(self, pol):
        is_open = Incident.status.in_(OPEN_STATUSES)
        clauses = []
        for rule in pol.escalations:
            holds = {"not_acknowledged": and_(is_open, Incident.acknowledged_at.is_(None)),
                     "not_mitigated": and_(is_open, Incident.mitigated_at.is_(None)),
                     "data_breach_suspected": and_(Incident.data_breach_suspected.is_(True),
                                                   Incident.status != "closed"),
                     "financial_impact_over": and_(Incident.financial_impact > rule.threshold,
                                                   Incident.status != "closed")
                     if rule.threshold is not None else None}.get(rule.condition, true())
            if holds is None:
                continue
            if rule.condition in ("not_acknowledged", "not_mitigated"):
                holds = and_(holds, Incident.started_at <= self.before(rule.after))
            clauses.append(and_(Incident.severity.in_(rule.severities), holds))
        for key, severity in pol.severities.items():
            of_severity = and_(is_open, Incident.severity == key)
            if severity.assemble_within:
                clauses.append(and_(of_severity, Incident.started_at <= self.before(severity.assemble_within),
                                    ~_fired_key(Incident.id, "assemble")))
            if severity.acknowledge_within and severity.acknowledge_within > timedelta(0) and severity.page:
                clauses.append(and_(of_severity, select(IncidentRole.id).where(
                    IncidentRole.incident_id == Incident.id, IncidentRole.role.in_(severity.page),
                    IncidentRole.person_id.is_not(None), IncidentRole.acknowledged_at.is_(None),
                    self._repeat_may_be_due(severity.acknowledge_within)).exists()))
        return or_(false(), *clauses)

    def _repeat_may_be_due(self, every: timedelta):
        """For a role slot (correlated): a page series of its holder may have a repeat due now.

        A series starts with a page that is not a repeat, at S; its repeat number n falls due at S + n·every (at
        most REPEAT_LIMIT), and a late tick sends only the latest number. So when a repeat is due, the repeats
        already sent in the series number fewer than the boundaries passed: fewer than
        min(REPEAT_LIMIT, ⌊(now − S)/every⌋). That is the test, with the boundaries as a CASE on S against
        cutoffs (no date arithmetic in SQL) and the repeats counted by distinct slot after S. Any page that is
        not a repeat may stand for S (the series start is one of them; an older one only lets more through), so
        this is a superset of `due_work`'s repeats; and a series whose latest repeat went out stays out of the
        scan until its next one falls due, not in it for good once its first page is `every` old."""
        start, repeat, paged = _SERIES_START, _SERIES_REPEAT, ("page", "handoff")
        passed = case(*[(start.created_at <= self.before(n * every), n) for n in range(REPEAT_LIMIT, 0, -1)],
                      else_=0)
        sent = (select(func.count(func.distinct(repeat.slot))).where(
            repeat.incident_id == start.incident_id, repeat.person_id == start.person_id, repeat.kind.in_(paged),
            repeat.slot.like("repeat-%"), repeat.created_at > start.created_at).scalar_subquery())
        return select(start.id).where(
            start.incident_id == IncidentRole.incident_id, start.person_id == IncidentRole.person_id,
            start.kind.in_(paged), ~start.slot.like("repeat-%"), start.created_at <= self.before(every),
            sent < passed).exists()


_SCANS: dict[int, _Scan] = {}


def _scan(pol) -> _Scan:
    scan = _SCANS.get(id(pol))
    if scan is None or scan.policy is not pol:
        _SCANS.clear()  # one policy at a time (a reload replaces it)
        scan = _SCANS[id(pol)] = _Scan(pol)
    return scan


# Made once: an alias adapts its columns on first use, a cost a tick would otherwise pay again every time.
_SERIES_START = aliased(Notification, name="series_start")
_SERIES_REPEAT = aliased(Notification, name="series_repeat")


def _fired_key(incident_id, key: str):
    return select(EscalationFiring.id).where(EscalationFiring.incident_id == incident_id,
                                             EscalationFiring.key == key).exists()


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
    return s.execute(_FIRE_ONCE, {"incident_id": incident.id, "key": key, "fired_at": now}).scalar() is not None


def _fire_once_statement():
    """INSERT … ON CONFLICT (incident_id, key) DO NOTHING RETURNING id as text, the same on SQLite and PostgreSQL:
    compiled once (the dialects' INSERT constructs have no cache key, so SQLAlchemy compiled one per firing)."""
    table = EscalationFiring.__table__  # "key" quoted: a keyword to some databases
    return text(f'INSERT INTO {table.name} (incident_id, "key", fired_at) VALUES (:incident_id, :key, :fired_at) '
                f'ON CONFLICT (incident_id, "key") DO NOTHING RETURNING id').bindparams(
        bindparam("fired_at", type_=table.c.fired_at.type)).columns(id=Integer())


_FIRE_ONCE = _fire_once_statement()


def _firings(s: Session, ids: list[int]) -> tuple[defaultdict[int, set[str]], defaultdict[int, dict[str, Chain]]]:
    """({incident: the keys fired}, {incident: {rule name: Chain}}), from one read of the firings.

    A chain's steps are its rule's firing keys (so a rule fired before chains existed counts as step 0);
    whether a step was acknowledged is read only for incidents with a chain still under way (one whose
    end has been noted fires nothing more either way).
    """
    fired: defaultdict[int, set[str]] = defaultdict(set)
    times: defaultdict[int, dict[str, dict[int, datetime]]] = defaultdict(dict)
    chained = {rule.name: rule for rule in policy().escalations if rule.then or rule.acknowledge_within}
    wanted = set(ids)
    if ids:
        for incident_id, key, at in s.execute(select(EscalationFiring.incident_id, EscalationFiring.key,
                                                     EscalationFiring.fired_at)
                                              .where(_within(EscalationFiring.incident_id, ids))):
            if incident_id not in wanted:
                continue
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
    wanted = set(ids)
    if ids:
        rows = s.execute(select(Notification.incident_id, Notification.person_id, Notification.created_at,
                                Notification.slot).where(
            _within(Notification.incident_id, ids), Notification.kind.in_(("page", "handoff")),
            Notification.person_id.is_not(None)
        ).order_by(Notification.created_at))
        for incident_id, person_id, created_at, slot in rows:
            if incident_id not in wanted:
                continue
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
