"""Who is on call: one indexed query over materialised shifts, overrides first; and the effective schedule
(shifts with overrides laid over them) for listings and feeds."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import bindparam, case, or_, select
from sqlalchemy.orm import Session

from ..clock import as_utc
from ..db import UTCDateTime
from ..people.models import Person
from ..policy import Policy
from ..runtime import policy
from .models import Override, Rotation, Shift
from .resolve import resolve_overlaps


def iso(moment: datetime) -> str:
    return as_utc(moment).isoformat().replace("+00:00", "Z")


@dataclass(frozen=True)
class OnCall:
    person: Person | None
    label: str
    start: datetime
    end: datetime
    override: bool = False
    uid: str = ""

    def as_json(self) -> dict:
        return {
            "person": self.person.handle if self.person else None,
            "name": self.person.name if self.person else None,
            "label": self.label,
            "start": iso(self.start),
            "end": iso(self.end),
            "override": self.override,
        }


def on_call(session: Session, rotation: str | Rotation, at: datetime) -> OnCall | None:
    """The owner of `rotation` at `at`, or None when nobody is scheduled (or the rotation is unknown)."""
    if isinstance(rotation, str):
        rotation = session.scalar(select(Rotation).where(Rotation.name == rotation))
        if rotation is None:
            return None
    override = session.scalar(
        select(Override)
        .where(Override.rotation_id == rotation.id, Override.start <= at, Override.end > at)
        .order_by(Override.created_at.desc(), Override.id.desc())
        .limit(1)
    )
    if override is not None:
        return _from_override(override)
    shift = session.scalar(
        select(Shift)
        .where(Shift.rotation_id == rotation.id, Shift.start <= at, Shift.end > at)
        .order_by(Shift.start.desc())
        .limit(1)
    )
    if shift is None:
        return None
    return OnCall(shift.person, shift.label, shift.start, shift.end, uid=shift.uid)


def owners_at(session: Session, names, at: datetime) -> dict[str, OnCall]:
    """{rotation name: its owner at `at`} for many rotations, by the same rules as `on_call`, in one statement
    (`every_owner_at`'s, narrowed to `names`, with each owner loaded as the ORM Person the write path needs);
    a rotation with nobody scheduled (or unknown) is left out."""
    names = sorted({n for n in names if n})
    if not names:
        return {}
    out: dict[str, OnCall] = {}
    for (name, cover_id, cover_start, cover_end, shift_start, shift_end, shift_label, shift_uid,
         person) in session.execute(_OWNERS_WITH_PEOPLE, {"at": at, "names": names}):
        if cover_id is not None:
            out[name] = OnCall(person, person.name, cover_start, cover_end, override=True, uid=f"override-{cover_id}")
        elif shift_start is not None:
            out[name] = OnCall(person, shift_label, shift_start, shift_end, uid=shift_uid)
    return out


@dataclass(frozen=True)
class _Named:
    """A person as `OnCall.as_json` shows them: handle and name (a row, not an ORM object)."""
    handle: str
    name: str


def _owners_statement(*, people: bool):
    """Every rotation (by name) with its owner at :at, in one statement: `on_call`'s two lookups (the newest
    override covering the moment, else the latest shift covering it) as correlated subqueries. Built once,
    only the moment is bound. people=False: plain columns, each person's handle and name (the API's read);
    people=True: the rotations named in :names, each owner as the ORM Person (the write path's)."""
    at = bindparam("at", type_=UTCDateTime())
    rotation, cover, shift = Rotation.__table__, Override.__table__, Shift.__table__
    covering = cover.alias("covering")
    newest_cover = (select(covering.c.id)
                    .where(covering.c.rotation_id == rotation.c.id, covering.c.start <= at, covering.c.end > at)
                    .order_by(covering.c.created_at.desc(), covering.c.id.desc()).limit(1)
                    .correlate(rotation).scalar_subquery())
    within = shift.alias("within")
    covering_shift = (select(within.c.id)
                      .where(within.c.rotation_id == rotation.c.id, within.c.start <= at, within.c.end > at)
                      .order_by(within.c.start.desc(), within.c.id.desc()).limit(1)
                      .correlate(rotation).scalar_subquery())
    slots = rotation.outerjoin(cover, cover.c.id == newest_cover).outerjoin(shift, shift.c.id == covering_shift)
    if people:
        owner = case((cover.c.id.is_not(None), cover.c.person_id), else_=shift.c.person_id)
        return (select(rotation.c.name, cover.c.id, cover.c.start, cover.c.end,
                       shift.c.start, shift.c.end, shift.c.label, shift.c.uid, Person)
                .select_from(slots.outerjoin(Person, Person.id == owner))
                .where(rotation.c.name.in_(bindparam("names", expanding=True))))
    cover_person, shift_person = Person.__table__.alias("cover_person"), Person.__table__.alias("shift_person")
    return (
        select(rotation.c.name, cover.c.id, cover.c.start, cover.c.end, cover_person.c.handle, cover_person.c.name,
               shift.c.start, shift.c.end, shift.c.label, shift.c.uid, shift_person.c.handle, shift_person.c.name)
        .select_from(slots.outerjoin(cover_person, cover_person.c.id == cover.c.person_id)
                     .outerjoin(shift_person, shift_person.c.id == shift.c.person_id))
        .order_by(rotation.c.name)
    )


_OWNERS = _owners_statement(people=False)
_OWNERS_WITH_PEOPLE = _owners_statement(people=True)


def every_owner_at(session: Session, at: datetime) -> dict[str, OnCall | None]:
    """Every rotation's owner at `at` by rotation name, in name order, None where nobody is scheduled: what
    `on_call` says for each, in one query (the API's read; `owners_at` is the write path's, with ORM people).
    The `person` of each answer carries only the handle and the name (enough for `as_json`)."""
    owners: dict[str, OnCall | None] = {}
    rows = session.execute(_OWNERS, {"at": at})
    for (name, cover_id, cover_start, cover_end, cover_handle, cover_name,
         shift_start, shift_end, shift_label, shift_uid, shift_handle, shift_name) in rows:
        if cover_id is not None:
            owners[name] = OnCall(_Named(cover_handle, cover_name), cover_name, cover_start, cover_end, override=True,
                                  uid=f"override-{cover_id}")
        elif shift_start is not None:
            person = _Named(shift_handle, shift_name) if shift_handle is not None else None
            owners[name] = OnCall(person, shift_label, shift_start, shift_end, uid=shift_uid)
        else:
            owners[name] = None
    return owners


def who_is_on_call(session: Session, at: datetime) -> dict:
    """`GET /api/oncall`: every rotation's owner at `at`, and every policy role's through its rotation."""
    owners = every_owner_at(session, at)
    roles = {key: owners.get(role.rotation) if role.rotation else None for key, role in policy().roles.items()}
    return {
        "at": iso(at),
        "rotations": {name: owner.as_json() if owner else None for name, owner in owners.items()},
        "roles": {key: owner.as_json() if owner else None for key, owner in roles.items()},
    }


def effective_schedule(session: Session, rotation: Rotation, start: datetime, end: datetime) -> list[OnCall]:
    """The rotation's shifts between `start` and `end` with its overrides laid over them (newest override wins)."""
    shifts = session.scalars(
        select(Shift)
        .where(Shift.rotation_id == rotation.id, Shift.end > start, Shift.start < end)
        .order_by(Shift.start)
    ).all()
    lower = min([start, *(s.start for s in shifts)])
    upper = max([end, *(s.end for s in shifts)])
    overrides = session.scalars(
        select(Override).where(Override.rotation_id == rotation.id, Override.end > lower, Override.start < upper)
    ).all()
    slots = [_from_override(o) for o in overrides] + [
        OnCall(s.person, s.label, s.start, s.end, uid=s.uid) for s in shifts
    ]
    ranks = {id(slot): (0, -o.created_at.timestamp(), -o.id) for slot, o in zip(slots, overrides)}
    pieces = resolve_overlaps(slots, start=lambda x: x.start, end=lambda x: x.end,
                              rank=lambda x: ranks.get(id(x), (1, 0, 0)))
    return [
        OnCall(slot.person, slot.label, lo, hi, slot.override, _piece_uid(slot, lo))
        for lo, hi, slot in pieces if hi > start and lo < end
    ]


def rotations_of(session: Session, person: Person, start: datetime, end: datetime) -> list[Rotation]:
    """Rotations in which `person` has a shift or an override between `start` and `end`."""
    with_shift = select(Shift.rotation_id).where(Shift.person_id == person.id, Shift.end > start, Shift.start < end)
    with_override = select(Override.rotation_id).where(Override.person_id == person.id, Override.end > start,
                                                      Override.start < end)
    return session.scalars(
        select(Rotation).where(or_(Rotation.id.in_(with_shift), Rotation.id.in_(with_override))).order_by(Rotation.name)
    ).all()


def _from_override(override: Override) -> OnCall:
    return OnCall(override.person, override.person.name, override.start, override.end, override=True,
                  uid=f"override-{override.id}")


def _piece_uid(slot: OnCall, start: datetime) -> str:
    """A piece keeps its slot's UID when it starts where the slot does; a later piece is told apart by its start."""
    return slot.uid if start == slot.start else f"{slot.uid}+{as_utc(start):%Y%m%dT%H%M%SZ}"


# ---- who is on call now, and who is next (the board, the Teams bot's `oncall`) ----------------------

# How many upcoming shift/override boundaries to look through for the next change of owner
# (one person holding several consecutive shifts is no handoff).
LOOKAHEAD = 20


@dataclass(frozen=True)
class RoleOwners:
    role: str
    title: str
    rotation: str | None
    rotation_known: bool
    now: OnCall | None
    handoff_at: datetime | None  # when the owner next changes; None when nothing is scheduled
    next: OnCall | None


def _owner(oncall: OnCall | None) -> tuple | None:
    if oncall is None:
        return None
    return ("person", oncall.person.id) if oncall.person else ("label", oncall.label)


def _boundaries(s: Session, rotation: Rotation, after: datetime) -> list[datetime]:
    """Upcoming moments where the owner may change: starts and ends of shifts and overrides."""
    points: set[datetime] = set()
    for model in (Shift, Override):
        rows = s.execute(
            select(model.start, model.end)
            .where(model.rotation_id == rotation.id, model.end > after)
            .order_by(model.start)
            .limit(LOOKAHEAD)
        )
        points.update(t for row in rows for t in row if t > after)
    return sorted(points)[:LOOKAHEAD]


def next_owner(s: Session, rotation: Rotation, at: datetime) -> tuple[OnCall | None, datetime | None, OnCall | None]:
    """(owner at `at`, when that changes, the owner from then) — overrides included, via `on_call`."""
    current = on_call(s, rotation, at)
    for moment in _boundaries(s, rotation, at):
        then = on_call(s, rotation, moment)
        if _owner(then) != _owner(current):
            return current, moment, then
    return current, None, None


def role_owners(s: Session, policy: Policy, at: datetime) -> list[RoleOwners]:
    names = [r.rotation for r in policy.roles.values() if r.rotation]
    rotations = {r.name: r for r in s.scalars(select(Rotation).where(Rotation.name.in_(names)))} if names else {}
    out = []
    for key, role in policy.roles.items():
        rotation = rotations.get(role.rotation) if role.rotation else None
        now, handoff_at, nxt = next_owner(s, rotation, at) if rotation else (None, None, None)
        out.append(RoleOwners(key, role.title, role.rotation, rotation is not None, now, handoff_at, nxt))
    return out
