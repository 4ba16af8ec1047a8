"""Rotation handoffs during open incidents of the policy's `handoff_severities` (P1 and P2 unless told
otherwise): when a role's rotation names a new owner, the role moves.

Each tick compares every such open incident role's rotation owner with the owner last seen for it
(`RoleOwnerSeen`). Only a change moves the role, so a manual handover is not undone until the
rotation itself hands over; a role that returns to the calendar's owner when a cover ends moves back.
The first time an incident is seen (just opened, or just raised into those severities), an empty role is filled and a
role still held from before the current shift began is moved. The new owner is told through the
outbox with the `handoff` template (it carries an acknowledgement link, like a page).

The look is plain rows: which roles move is worked out by the pure `moves` over the role slots, the owners and
the owners last seen; the seen rows are written in bulk and are the claim (a first look inserts ON CONFLICT DO
NOTHING, a change updates only the row still naming the owner the tick read), so only the worker whose write
took effect hands over. Only a role that moves loads its incident as an ORM object.

A tick spends about HANDOFF_SECONDS handing roles over (each renders and enqueues a message); incidents beyond
that are left exactly as they were, so the next tick's read finds them again and they move then: nothing is
missed, and a rotation handoff across many open incidents is spread over several ticks instead of holding up
one (the escalation and dispatch jobs run in between). First looks that move nothing are written in bulk and
do not count.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, select, text

from .. import db
from ..db import UTCDateTime
from ..errors import RuleError
from ..incidents.lifecycle import hand_over_role
from ..incidents.models import OPEN_STATUSES, Incident, IncidentRole
from ..incidents.timeline import record
from ..people.models import Person
from ..rotations.models import RoleOwnerSeen
from ..rotations.oncall import OnCall, owners_at
from ..runtime import holidays, policy
from .cadence import page_not_before
from .context import role_data
from .outbox import notify, recipients_for_person

log = logging.getLogger("herald.rotations")  # rotation news, whoever acts on it


def hand_over_on_rotation(now: datetime) -> None:
    """One read finds the incidents where a rotation names someone other than the owner last seen (or that were
    never seen); only those get written, where the owners are looked up again. First, in one write
    transaction per CHUNK of them, every incident whose look moves no role (most first looks) has its seen
    rows written in bulk; then the incidents with a role to move, in id order (older incidents' notices
    first), GROUP at a time, each group one transaction, until HANDOFF_SECONDS of this tick have gone: the
    rest are untouched and move on the next tick. A quiet tick costs four queries and takes no write lock,
    however many incidents are open."""
    began = time.perf_counter()
    severities = list(policy().handoff_severities)
    rotations = {key: role.rotation for key, role in policy().roles.items() if role.rotation}
    with db.read_transaction() as s:
        incident_ids = s.scalars(
            select(Incident.id).where(Incident.status.in_(OPEN_STATUSES), Incident.severity.in_(severities))
            .order_by(Incident.id)
        ).all()
        if not incident_ids:
            return
        on_call = owners_at(s, rotations.values(), now)
        owners = {key: _owner(on_call.get(rotation)) for key, rotation in rotations.items()}
        seen = _seen(s, incident_ids)
        changed = [incident_id for incident_id in incident_ids
                   if any(seen.get((incident_id, key), _UNSEEN) != owner.person_id for key, owner in owners.items())]
        if not changed:
            return
        slots = _slots(s, changed)  # which of them move a role (the writes below decide again)
    moving = [incident_id for incident_id in changed
              if any(move.hand_over for move in moves(incident_id, owners, seen, slots))]
    only_seen = sorted(set(changed) - set(moving))
    for start in range(0, len(only_seen), CHUNK):  # a role found to move after all waits for the next tick
        _follow_in_one_transaction(only_seen[start:start + CHUNK], rotations, now, hand_over=False)
    for start in range(0, len(moving), GROUP):  # in id order: older incidents' notices first
        if start and time.perf_counter() - began > HANDOFF_SECONDS:
            log.info("rotation handoffs: %d incidents moved this tick, %d follow on the next", start,
                     len(moving) - start)
            return
        _follow_in_one_transaction(moving[start:start + GROUP], rotations, now, hand_over=True)


CHUNK = 200  # incidents per write transaction of seen rows only: 1,000 first looks are five commits, not 1,000
# Handing a role over renders and enqueues a message (~5 ms on the 2-core machine): a tick moves roles for
# about HANDOFF_SECONDS (always one GROUP), so a rotation handoff across 1,000 open incidents is spread over
# ticks, with the other jobs running in between, instead of one tick of seconds; a GROUP is one transaction,
# so SQLite's write lock is held for one group at a time.
GROUP = 10
HANDOFF_SECONDS = 0.25


@dataclass(frozen=True)
class Owner:
    """Whom a rotation names now: the person's id (None: nobody) and when their stretch began."""
    person_id: int | None
    start: datetime | None = None


@dataclass(frozen=True)
class Slot:
    """An incident's role slot as read: its holder's id and when they got it."""
    person_id: int | None
    assigned_at: datetime | None


@dataclass(frozen=True)
class Move:
    """What one look does to one incident role: write the owner seen (insert on a first look, else update
    the row naming `seen`) and, with `hand_over`, give the role to `owner`."""
    incident_id: int
    role: str
    first_look: bool
    seen: int | None
    owner: int | None
    hand_over: bool


_UNSEEN = object()


def moves(incident_id: int, owners: dict[str, Owner], seen: dict, slots: dict) -> list[Move]:
    """The moves of one incident (pure). `owners`: {role key: Owner} for the roles with a rotation, in the
    policy's order; `seen`: {(incident, role): person id last seen}; `slots`: {(incident, role): Slot}.

    First look: the role is filled when empty, and taken from a holder who got it before the current
    owner's stretch began. Later: only a change of owner moves the role; a gap (nobody) keeps the holder."""
    out = []
    for key, owner in owners.items():
        last = seen.get((incident_id, key), _UNSEEN)
        slot = slots.get((incident_id, key))
        if last is _UNSEEN:
            out.append(Move(incident_id, key, True, None, owner.person_id,
                            owner.person_id is not None and _stale(slot, owner)))
        elif last != owner.person_id:
            out.append(Move(incident_id, key, False, last, owner.person_id,
                            owner.person_id is not None and (slot is None or slot.person_id != owner.person_id)))
    return out


def _stale(slot: Slot | None, owner: Owner) -> bool:
    """On first sight: the role is empty, or its holder got it before the current owner's shift began."""
    if slot is None or slot.person_id is None:
        return True
    if slot.person_id == owner.person_id:
        return False
    return slot.assigned_at is not None and owner.start is not None and slot.assigned_at < owner.start


def _seen(s, incident_ids) -> dict[tuple[int, str], int | None]:
    """{(incident, role): the person id last seen} of the given incidents (sorted ids).

    Read by id range among open incidents and picked here, not with an IN list: a list of 1,000 ids is a
    statement psycopg parses anew every time (it caches only small ones), most of a first look on PostgreSQL."""
    wanted = set(incident_ids)
    rows = s.execute(select(RoleOwnerSeen.incident_id, RoleOwnerSeen.role, RoleOwnerSeen.person_id)
                     .join(Incident, Incident.id == RoleOwnerSeen.incident_id)
                     .where(Incident.id.between(incident_ids[0], incident_ids[-1]),
                            Incident.status.in_(OPEN_STATUSES)))
    return {(incident_id, role): person_id for incident_id, role, person_id in rows if incident_id in wanted}


def _slots(s, incident_ids) -> dict[tuple[int, str | None], Slot]:
    """{(incident, role): Slot} of the open ones among the given incidents (sorted ids); (incident, None) for
    each of them. By id range, as `_seen`."""
    wanted = set(incident_ids)
    slots: dict[tuple[int, str | None], Slot] = {}
    for incident_id, role, person_id, assigned_at in s.execute(
            select(Incident.id, IncidentRole.role, IncidentRole.person_id, IncidentRole.assigned_at)
            .outerjoin(IncidentRole, IncidentRole.incident_id == Incident.id)
            .where(Incident.id.between(incident_ids[0], incident_ids[-1]), Incident.status.in_(OPEN_STATUSES))):
        if incident_id in wanted:
            slots[(incident_id, role)] = Slot(person_id, assigned_at)
            slots.setdefault((incident_id, None), Slot(None, None))
    return slots


def _follow_in_one_transaction(incident_ids: list[int], rotations: dict[str, str], now: datetime, *,
                               hand_over: bool = True) -> list[int]:
    """Follow the rotations on several incidents in one transaction; return the incidents left alone (those with
    a role to move, when `hand_over` is False). The owners, the slots and the owners last seen are read again
    inside it, as rows. Each seen row written is a claim: a role moves only where this transaction's write
    took effect. A hand over runs in a savepoint: one refused (the incident resolved meanwhile) undoes only
    itself."""
    left: list[int] = []
    with db.transaction() as s:
        on_call = owners_at(s, rotations.values(), now)
        owners = {key: _owner(on_call.get(rotation)) for key, rotation in rotations.items()}
        slots = _slots(s, incident_ids)
        open_ids = {incident_id for incident_id, _ in slots}
        seen = _seen(s, incident_ids)
        planned: list[Move] = []
        for incident_id in incident_ids:
            if incident_id not in open_ids:
                continue
            found = moves(incident_id, owners, seen, slots)
            if not hand_over and any(move.hand_over for move in found):
                left.append(incident_id)  # untouched here: moved in a group of its own kind
                continue
            planned.extend(found)
        claimed = _claim(s, planned, now)
        moving = [move for move in planned if move.hand_over and (move.incident_id, move.role) in claimed]
        if not moving:
            return left
        people = {owner.person.id: owner.person for owner in on_call.values() if owner.person is not None}
        incidents = {incident.id: incident for incident in s.scalars(  # their roles come with them (selectin)
            select(Incident).where(Incident.id.in_({move.incident_id for move in moving})))}
        for move in moving:
            try:
                _hand_over(s, incidents[move.incident_id], move.role, people[move.owner], now)
            except RuleError as exc:  # e.g. resolved between the query and now
                log.info("no rotation handoff on incident %s: %s", move.incident_id, exc)
    return left


def _owner(on_call: OnCall | None) -> Owner:
    if on_call is None or on_call.person is None:
        return Owner(None)
    return Owner(on_call.person.id, on_call.start)


# PostgreSQL: the first looks of a chunk as three arrays, one short statement (psycopg parses a statement
# with many parameters anew every time; a multi-row VALUES of 1,000 rows was most of a first look there).
_INSERT_SEEN_PG = text(
    f"INSERT INTO {RoleOwnerSeen.__tablename__} (incident_id, role, person_id, seen_at) "
    "SELECT i, r, p, :now FROM unnest(CAST(:ids AS INTEGER[]), CAST(:roles AS VARCHAR[]), "
    "CAST(:people AS INTEGER[])) AS t(i, r, p) "
    "ON CONFLICT (incident_id, role) DO NOTHING RETURNING incident_id, role"
).bindparams(bindparam("now", type_=UTCDateTime()))


def _claim(s, planned: list[Move], now: datetime) -> set[tuple[int, str]]:
    """Write the owners seen; return the (incident, role) pairs whose write took effect here.

    First looks: one INSERT … ON CONFLICT DO NOTHING RETURNING for all of them (a twin from another worker is
    left alone and not returned). Changes: one UPDATE … RETURNING per (role, owner seen, new owner), only of
    rows still naming the owner seen (a second worker's update waits for the first and then matches none)."""
    table = RoleOwnerSeen.__table__
    claimed: set[tuple[int, str]] = set()
    first = [{"incident_id": m.incident_id, "role": m.role, "person_id": m.owner, "seen_at": now}
             for m in planned if m.first_look]
    if first and db.is_postgres(s):
        claimed.update((incident_id, role) for incident_id, role in s.execute(_INSERT_SEEN_PG, {
            "ids": [row["incident_id"] for row in first], "roles": [row["role"] for row in first],
            "people": [row["person_id"] for row in first], "now": now}))
    elif first:  # one statement compiled once; SQLAlchemy sends it as multi-row VALUES batches ("insertmanyvalues")
        insert = db.insert_for(s)(table).on_conflict_do_nothing(index_elements=["incident_id", "role"])
        claimed.update((row.incident_id, row.role)
                       for row in s.execute(insert.returning(table.c.incident_id, table.c.role), first))
    groups: dict[tuple[str, int | None, int | None], list[int]] = {}
    for m in planned:
        if not m.first_look:
            groups.setdefault((m.role, m.seen, m.owner), []).append(m.incident_id)
    for (role, seen, owner), ids in groups.items():
        was = table.c.person_id.is_(None) if seen is None else table.c.person_id == seen
        for start in range(0, len(ids), 500):
            claimed.update((incident_id, role) for incident_id in s.scalars(
                table.update().where(table.c.role == role, table.c.incident_id.in_(ids[start:start + 500]), was)
                .values(person_id=owner, seen_at=now).returning(table.c.incident_id)))
    return claimed


def _hand_over(s, incident: Incident, key: str, person: Person, now: datetime) -> None:
    with s.begin_nested():
        _hand_over_now(s, incident, key, person, now)


def _hand_over_now(s, incident: Incident, key: str, person: Person, now: datetime) -> None:
    previous = incident.role(key).person if incident.role(key) is not None else None
    hand_over_role(s, incident, key, person, actor="herald", reason="rotation")
    severity = policy().severities[incident.severity]
    sent = notify(s, incident=incident, kind="handoff", slot=f"rotation-{key}-{now:%Y%m%dT%H%M%SZ}",
                  recipients=recipients_for_person(person, severity.channels),
                  context={"role": role_data(policy(), key), "previous": previous.name if previous else ""},
                  not_before=page_not_before(severity, now, policy(), holidays()))
    if sent:
        record(s, incident, "handoff_sent", f"Told {person.name} they are now {policy().role_title(key)}",
               role=key, person=person.handle, channels=sorted({n.channel for n in sent}),
               notifications=[n.id for n in sent])
