"""Everything that changes an incident, each change written to the timeline and announced by a signal."""
from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import Date, Integer, bindparam, insert, select, text
from sqlalchemy.orm import Session, joinedload
from sqlalchemy.orm.attributes import set_committed_value

from .. import clock, db
from ..errors import RuleError
from ..inputs import as_id
from ..people.models import Person
from ..policy.business_hours import next_business_day_start
from ..rotations.oncall import owners_at
from ..runtime import holidays, policy
from . import events
from .models import Incident, IncidentCounter, IncidentRole, IncidentUpdate
from .statemachine import check_transition, is_mitigating_transition
from .timeline import entry, record, record_many


def next_number(s: Session, day: date) -> str:
    """INC-YYYYMMDD-N, N counting from 1 per UTC day; atomic under concurrent creates.

    On PostgreSQL the day's counter moves in a transaction of its own, committed at once. Inside the
    incident's transaction its row lock was held until that transaction committed, so every concurrent
    open (other web processes, the alert paths) queued behind the one before it: in a storm, opens ran
    one at a time. The price: an open that rolls back leaves a gap in the day's numbers (they stay unique
    and increasing). That commit need not wait for the disk: the incident's own commit comes after it in
    the log, so an incident that survives a crash has its number's commit durable too. On SQLite the one
    write lock serialises writers anyway, and a second commit would cost a second fsync: the counter
    stays in the incident's transaction there.
    """
    if db.is_postgres(s):
        with db.engine().connect() as conn:
            n = conn.execute(_NEXT_NUMBER_NOW, {"day": day}).scalar_one()
            conn.commit()
    else:
        n = s.execute(_NEXT_NUMBER, {"day": day}).scalar_one()
    return f"INC-{day:%Y%m%d}-{n}"


# The same text on SQLite and PostgreSQL; a text statement is compiled once (the dialects' ON CONFLICT
# constructs have no cache key, so they were compiled again for every incident).
_COUNT = ("INSERT INTO incident_counters (day, last) VALUES (:day, 1) "
          "ON CONFLICT (day) DO UPDATE SET last = incident_counters.last + 1 RETURNING last")


def _counter_statement(sql: str):
    return text(sql).bindparams(bindparam("day", type_=Date())).columns(last=Integer())


_NEXT_NUMBER = _counter_statement(_COUNT)
# PostgreSQL's, in a transaction of its own: the same, and that transaction's commit does not wait for the disk
# (set_config(…, true) is SET LOCAL, here in the same statement: one round trip).
_NEXT_NUMBER_NOW = _counter_statement(
    f"WITH counted AS ({_COUNT}) SELECT last, set_config('synchronous_commit', 'off', true) FROM counted")


def respond_by(severity_key: str, started_at: datetime) -> datetime | None:
    sev = policy().severities[severity_key]
    if sev.respond_next_business_day:
        return next_business_day_start(started_at, policy(), holidays())
    return started_at + sev.respond_within if sev.respond_within else None


def open_incident(
    s: Session,
    *,
    title: str,
    severity: str,
    actor: str,
    impact: str = "",
    description: str = "",
    data_breach_suspected: bool = False,
    financial_impact: float | None = None,
    source: str = "api",
    links: dict | None = None,
    previous_incident_id: int | None = None,
) -> Incident:
    now = clock.now()
    sev = policy().severities[severity]
    owners = role_owners(s, now)  # every role's owner in one look, before anything is written
    values = dict(
        number=next_number(s, now.date()),
        title=title,
        severity=severity,
        status="investigating",
        impact=impact or "",
        description=description or "",
        data_breach_suspected=bool(data_breach_suspected),
        financial_impact=financial_impact,
        root_cause=None, resolution=None,
        source=source,
        links=links or {},
        previous_incident_id=previous_incident_id,
        started_at=now,
        respond_by=respond_by(severity, now),
        acknowledged_at=None, mitigated_at=None, resolved_at=None, closed_at=None, postmortem_due_at=None,
        last_update_at=now,  # the initial update's, posted below
        next_update_due_at=None,  # planned by whoever hears of the update (notify's cadence)
        updated_at=now,
    )
    # A plain INSERT … RETURNING id, the object kept as loaded: the ORM's flush of one new object was a
    # large share of the open's CPU (its unit of work sorts the session's dependencies every time).
    incident_id = s.execute(_INSERT_INCIDENT, values).scalar_one()
    incident = db.as_loaded(s, Incident, {**values, "id": incident_id}, roles=[])
    incident.opened_in_transaction = True
    entries = [entry("opened", f"Incident opened: {title} ({severity} - {sev.name})", actor=actor, at=now,
                     severity=severity, source=source)]
    if previous_incident_id:
        previous = s.get(Incident, previous_incident_id)
        if previous is not None:
            entries.append(entry("linked", f"Fired again after {previous.number} was resolved", actor=actor, at=now,
                                 previous=previous.number))
    entries += _fill_roles(s, incident, now, actor=actor, owners=owners)
    record_many(s, incident, entries)
    _add_update(s, incident, "initial", actor=actor)
    events.incident_opened.send(incident, session=s)
    return incident


def role_owners(s: Session, at: datetime) -> dict[str, Person | None]:
    """{role key: who owns its rotation at `at`} for every policy role, in one look at the rotations."""
    roles = policy().roles
    owners = owners_at(s, {role.rotation for role in roles.values() if role.rotation}, at)
    return {key: getattr(owners.get(role.rotation), "person", None) for key, role in roles.items()}


def assign_roles(s: Session, incident: Incident, at: datetime, *, actor: str,
                 owners: dict[str, Person | None] | None = None) -> None:
    """Give every policy role to whoever owns its rotation at `at` (a role with nobody on call stays empty)."""
    record_many(s, incident, _fill_roles(s, incident, at, actor=actor, owners=owners))


def _fill_roles(s: Session, incident: Incident, at: datetime, *, actor: str,
                owners: dict[str, Person | None] | None) -> list[dict]:
    """Write the empty role slots in one statement (their ids come back from it, and they join the
    incident's roles as loaded, people included); return the timeline entries that say who was assigned
    (the caller writes them with its own)."""
    owners = role_owners(s, at) if owners is None else owners
    held = {r.role for r in incident.roles}
    rows, people, entries = [], [], []
    for key, role in policy().roles.items():
        if key in held:
            continue
        person = owners.get(key)
        rows.append({"incident_id": incident.id, "role": key, "person_id": person.id if person else None,
                     "assigned_at": at if person else None, "acknowledged_at": None, "acknowledged_via": None})
        people.append(person)
        if person:
            entries.append(entry("role_assigned", f"{role.title} assigned: {person.name} (on call)", actor=actor,
                                 at=at, role=key, person=person.handle))
    if rows:
        ids = dict(s.execute(_INSERT_ROLES, rows).tuples().all())  # {role: id}, in whatever order they come
        added = [db.as_loaded(s, IncidentRole, {**row, "id": ids[row["role"]]}, person=person, incident=incident)
                 for row, person in zip(rows, people)]
        set_committed_value(incident, "roles", sorted([*incident.roles, *added], key=lambda r: r.id))
    return entries


_INSERT_INCIDENT = insert(Incident.__table__).returning(Incident.__table__.c.id)
_INSERT_UPDATE = insert(IncidentUpdate.__table__).returning(IncidentUpdate.__table__.c.id)
_INSERT_ROLES = insert(IncidentRole.__table__).returning(IncidentRole.__table__.c.role, IncidentRole.__table__.c.id)


def hand_over_role(s: Session, incident: Incident, role_key: str, person: Person, *, actor: str,
                   reason: str = "handover") -> IncidentRole:
    if not incident.is_open and incident.status != "resolved":
        raise RuleError(f"roles of a {incident.status} incident cannot change")
    slot = incident.role(role_key)
    if slot is None:
        slot = IncidentRole(role=role_key)
        incident.roles.append(slot)
    previous = slot.person
    if previous is not None and previous.id == person.id:
        raise RuleError(f"{person.handle} already holds {role_key}")
    now = clock.now()
    slot.person = person
    slot.assigned_at = now
    slot.acknowledged_at = None
    slot.acknowledged_via = None
    incident.updated_at = now
    title = policy().role_title(role_key)
    text = f"{title} handed over from {previous.name} to {person.name}" if previous else f"{title} assigned: {person.name}"
    if reason == "rotation":
        text += " (rotation handoff)"
    record(s, incident, "role_assigned", text, actor=actor, role=role_key, person=person.handle,
           previous=previous.handle if previous else None, reason=reason)
    s.flush()
    events.role_assigned.send(incident, session=s, role=role_key, person=person, previous=previous, reason=reason)
    return slot


def change_incident(s: Session, incident: Incident, *, actor: str, **changes) -> dict:
    """Apply a PATCH: severity, status, impact, flags. Returns {field: (old, new)} of what changed."""
    now = clock.now()
    applied: dict = {}
    status = changes.pop("status", None)
    if status is None and changes and incident.status == "closed":
        raise RuleError("a closed incident cannot change")
    if status is not None:
        check_transition(incident.status, status)  # the state machine's rules (closed is final among them)
        old = incident.status
        incident.status = status
        applied["status"] = (old, status)
        record(s, incident, "status", f"Status changed from {old} to {status}", actor=actor, old=old, new=status)
        if is_mitigating_transition(status) and incident.mitigated_at is None:
            incident.mitigated_at = now
            record(s, incident, "mitigated", "Impact mitigated", actor=actor)
        if status == "closed":
            incident.closed_at = now
        if old == "resolved" and status == "investigating":
            incident.resolved_at = None
            incident.postmortem_due_at = None
            record(s, incident, "reopened", "Incident reopened", actor=actor)
    for field in ("severity", "impact", "data_breach_suspected", "financial_impact"):
        if field not in changes:
            continue
        new = changes[field]
        old = getattr(incident, field)
        if new == old:
            continue
        setattr(incident, field, new)
        applied[field] = (old, new)
        record(s, incident, field, _change_text(field, old, new), actor=actor, old=old, new=new)
    if "severity" in applied:
        incident.respond_by = respond_by(incident.severity, incident.started_at)
    if applied:
        incident.updated_at = now
        s.flush()
        events.incident_changed.send(incident, session=s, changes=applied)
    return applied


def _change_text(field: str, old, new) -> str:
    if field == "severity":
        return f"Severity changed from {old} to {new}"
    if field == "impact":
        return f"Impact updated: {new}"
    if field == "data_breach_suspected":
        return "Data breach suspected" if new else "Data breach no longer suspected"
    return f"Financial impact set to {new:,.2f}" if new is not None else "Financial impact cleared"


def post_update(s: Session, incident: Incident, *, status: str, actor: str, impact: str | None = None,
                learned: str = "", doing: str = "", automatic: bool = False) -> IncidentUpdate:
    """A progress update, sent now; the cadence restarts from it."""
    if incident.status == "closed":
        raise RuleError("a closed incident is final: it takes no progress updates")
    if not incident.is_open:
        raise RuleError(f"a {incident.status} incident takes no progress updates; "
                        "reopen it first (PATCH status investigating)")
    changes = {"status": status} if status != incident.status else {}
    if impact is not None and impact != incident.impact:
        changes["impact"] = impact
    if changes:
        change_incident(s, incident, actor=actor, **changes)
    return _add_update(s, incident, "progress", actor=actor, learned=learned, doing=doing, automatic=automatic)


def resolve_incident(s: Session, incident: Incident, *, root_cause: str, resolution: str, actor: str) -> IncidentUpdate:
    check_transition(incident.status, "resolved", via_resolve=True)
    now = clock.now()
    old = incident.status
    incident.status = "resolved"
    incident.resolved_at = now
    incident.root_cause = root_cause
    incident.resolution = resolution
    if incident.mitigated_at is None:
        incident.mitigated_at = now
    incident.updated_at = now
    record(s, incident, "root_cause", f"Root cause: {root_cause}", actor=actor)
    record(s, incident, "resolved", f"Incident resolved: {resolution}", actor=actor, old=old)
    update = _add_update(s, incident, "resolution", actor=actor, root_cause=root_cause, resolution=resolution)
    events.incident_changed.send(incident, session=s, changes={"status": (old, "resolved")})
    return update


def acknowledge(s: Session, incident: Incident, person: Person, *, via: str, actor: str) -> list[str]:
    """Acknowledge every role `person` holds on the incident; returns the role keys acknowledged."""
    if incident.status == "closed":
        raise RuleError("a closed incident cannot be acknowledged")
    held = [r for r in incident.roles if r.person_id == person.id]
    if not held:
        raise RuleError(f"{person.handle} holds no role on {incident.number}")
    newly = [r for r in held if r.acknowledged_at is None]
    if not newly:
        record(s, incident, "ack_repeat", f"{person.name} acknowledged again via {via}", actor=actor,
               person=person.handle, via=via)
        return []
    titles = ", ".join(policy().role_title(r.role) for r in newly)
    _acknowledge_slots(s, incident, newly, via=via, actor=actor, person=person,
                       text=f"Acknowledged by {person.name} ({titles}) via {via}")
    return [r.role for r in newly]


def acknowledge_paged_roles(s: Session, incident: Incident, *, via: str, actor: str,
                            channel: str = "monitoring") -> list[str]:
    """Acknowledge every paged role someone holds and has not acknowledged (an acknowledgement from a tool,
    PagerDuty's `acknowledge`, stands for the people it paged): repeat pages and `not_acknowledged` stop."""
    if not incident.is_open:
        return []
    paged = policy().severities[incident.severity].page
    pending = [r for r in incident.roles if r.role in paged and r.person_id is not None and r.acknowledged_at is None]
    if not pending and incident.acknowledged_at is not None:
        return []
    names = ", ".join(f"{policy().role_title(r.role)} {r.person.name}" for r in pending) or "no paged role is held"
    _acknowledge_slots(s, incident, pending, via=via, actor=actor, person=None, for_incident=True,
                       text=f"Acknowledged ({names}) via {via}", channel=channel)
    return [r.role for r in pending] or ["incident"]


def _acknowledge_slots(s: Session, incident: Incident, slots: list, *, via: str, actor: str, person: Person | None,
                       text: str, for_incident: bool = False, channel: str | None = None) -> None:
    """`channel` is what a role slot stores as how it was acknowledged (short: "email", "pagerduty")."""
    now = clock.now()
    for slot in slots:
        slot.acknowledged_at = now
        slot.acknowledged_via = channel or via
    extra = {"person": person.handle} if person is not None else {}
    record(s, incident, "acknowledged", text, actor=actor, roles=[r.role for r in slots], via=via, **extra)
    paged = set(policy().severities[incident.severity].page)
    if incident.acknowledged_at is None and (for_incident or any(r.role in paged for r in slots)):
        incident.acknowledged_at = now
        if incident.respond_by is not None and now > incident.respond_by:
            late = now - incident.respond_by
            record(s, incident, "response_missed",
                   f"Response time missed: acknowledged {_minutes(late)} after the {incident.severity} deadline",
                   actor="herald", respond_by=incident.respond_by.isoformat())
        else:
            record(s, incident, "response_met", "Response time met", actor="herald")
    incident.updated_at = now
    s.flush()
    events.incident_acknowledged.send(incident, session=s, person=person, roles=[r.role for r in slots], via=via)


def _minutes(delta: timedelta) -> str:
    from ..policy import duration_in_words

    return duration_in_words(delta)


def _add_update(s: Session, incident: Incident, kind: str, *, actor: str, learned: str = "", doing: str = "",
                root_cause: str = "", resolution: str = "", automatic: bool = False) -> IncidentUpdate:
    now = clock.now()
    values = dict(
        incident_id=incident.id, kind=kind, status=incident.status, impact=incident.impact or "",
        learned=learned or "", doing=doing or "", root_cause=root_cause or "", resolution=resolution or "",
        automatic=automatic, actor=actor, posted_at=now,
    )
    update = db.as_loaded(s, IncidentUpdate, {**values, "id": s.execute(_INSERT_UPDATE, values).scalar_one()})
    incident.last_update_at = now  # written with the incident's other changes, at the next flush
    if kind != "initial":
        label = "Automatic progress update" if automatic else f"{kind.title()} update posted"
        record(s, incident, "update", f"{label}: status {incident.status}", actor=actor, update_id=update.id,
               update_kind=kind)
    else:
        record(s, incident, "update", "Initial status update prepared for stakeholders", actor=actor,
               update_id=update.id, update_kind=kind)
    events.update_posted.send(incident, session=s, update=update)
    return update


# An incident read by id or number comes with its roles and their people in the same statement (one
# query instead of the incident, then the roles): every caller reads or dumps the roles.
_WITH_ROLES = (joinedload(Incident.roles),)


def get_by_id_or_number(s: Session, ident: str) -> Incident | None:
    if ident.isdigit():  # any digits: "²" or an id past 2^31 names no incident
        number = as_id(ident)
        return s.get(Incident, number, options=_WITH_ROLES) if number is not None else None
    query = select(Incident).where(Incident.number == ident.upper()).options(*_WITH_ROLES)
    return s.scalars(query).unique().one_or_none()
