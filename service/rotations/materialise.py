"""Keep each rotation's resolved shifts in the database, so "who is on call" is one query — also in the past.

Shifts that have happened are a record: an import, a subscription refresh or the daily re-resolve
replaces only what lies ahead of now (the shift in progress is cut at now, or kept whole when the
calendar still agrees), never who *was* on call. The first import records the calendar from its
beginning (at most HISTORY_BACK), and up to HORIZON_AHEAD ahead; a later import that finds the record
starting later than that (a rotation recorded before history was kept) fills in the stretch before
it. The calendar is resolved before any transaction begins, under a budget (`prepare`, `budget.py`),
so a costly calendar holds no lock; the transaction then only writes (`import_calendar`). A calendar
that cannot be read raises before anything changes. A tick re-resolves every rotation
once a day, which slides the horizon forward, and at once when people change (so a newly added
person is matched without a re-import; the record of the past is not re-matched).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, insert, select, update
from sqlalchemy.orm import Session, object_session

from .. import clock, db
from ..mechanics.wake import wake_after_commit
from ..people.models import Person
from ..runtime import config, policy
from . import background
from .budget import resolve_bounded
from .calendar import CalendarError
from .matching import PersonRef
from .models import Rotation, Shift
from .resolve import ImportReport, Resolution

HISTORY_BACK = timedelta(days=5 * 366)  # how far back a first import records a calendar's past
HORIZON_AHEAD = timedelta(days=400)
RESOLVE_EVERY = timedelta(days=1)
CLAIM_LEASE = timedelta(minutes=5)


def horizon(now: datetime) -> tuple[datetime, datetime]:
    return now - HISTORY_BACK, now + HORIZON_AHEAD


def rotation_named(s: Session, name: str, *, lock: bool = False) -> Rotation | None:
    query = select(Rotation).where(Rotation.name == name)
    return s.scalar(query.with_for_update() if lock else query)


def get_or_create(s: Session, name: str, now: datetime) -> Rotation:
    """The rotation, locked for this transaction (PostgreSQL), created when missing."""
    rotation = rotation_named(s, name, lock=True)
    if rotation is None:
        rotation = Rotation(name=name, created_at=now, updated_at=now)
        s.add(rotation)
        s.flush()
    return rotation


@dataclass(frozen=True)
class Prepared:
    """A calendar resolved for one rotation at `now`, before the transaction that stores it.

    `recorded_from` is the rotation's record start it was resolved for (None: a first import, whose
    `ahead` covers the whole horizon); `earlier` fills the stretch before the record, when there is one.
    """

    now: datetime
    recorded_from: datetime | None
    ahead: Resolution
    earlier: Resolution | None = None


def prepare(text: str, now: datetime, recorded_from: datetime | None,
            people: list[PersonRef] | None = None) -> Prepared:
    """Resolve `text` for a rotation whose record starts at `recorded_from`: call it with no transaction
    open. Each resolution runs under the budget (`budget.resolve_bounded`); CalendarError when it fails."""
    if people is None:
        with db.read_transaction() as s:
            people = [PersonRef.of(p) for p in s.scalars(select(Person))]
    zone, seconds = policy().timezone, config().calendar_seconds
    history_from, until = horizon(now)
    if recorded_from is None:  # the first import records the calendar's past too
        return Prepared(now, None, resolve_bounded(text, people, history_from, until, zone, seconds=seconds))
    ahead = resolve_bounded(text, people, now, until, zone, seconds=seconds)
    earlier = None
    if history_from < min(recorded_from, now):
        earlier = resolve_bounded(text, people, history_from, min(recorded_from, now), zone, seconds=seconds)
    return Prepared(now, recorded_from, ahead, earlier)


def resolve_for(name: str, text: str, now: datetime) -> Prepared:
    """`prepare` for the rotation called `name` (a new one when there is none yet)."""
    with db.read_transaction() as s:
        rotation = rotation_named(s, name)
        recorded_from = rotation.materialised_from if rotation is not None else None
    return prepare(text, now, recorded_from)


def import_calendar(s: Session, rotation: Rotation, text: str, prepared: Prepared) -> ImportReport:
    """Replace the rotation's shifts from `prepared.now` on with what `prepare` resolved.

    The shifts before `now` stay as recorded; where the record begins later than the calendar's
    history allows, the stretch before it is filled in from `text`. Should the record have changed
    since `prepare` (another import in between), the calendar is resolved again here, under the lock.
    """
    now, recorded_from = prepared.now, rotation.materialised_from
    if recorded_from != prepared.recorded_from:
        prepared = prepare(text, now, recorded_from, [PersonRef.of(p) for p in s.scalars(select(Person))])
    history_from, until = horizon(now)
    if recorded_from is None:
        s.execute(delete(Shift).where(Shift.rotation_id == rotation.id))
        _insert(s, rotation, prepared.ahead.shifts)
        report = prepared.ahead.report
    else:
        earlier = prepared.earlier
        _replace_future(s, rotation, prepared.ahead.shifts, now)
        if earlier is not None:
            _fill_history(s, rotation, earlier.shifts, min(recorded_from, now))
        report = prepared.ahead.report
        report.shifts += len(earlier.shifts) if earlier else 0
    rotation.calendar = text
    rotation.materialised_from = min(history_from, recorded_from or history_from)
    rotation.materialised_until = until
    rotation.materialise_due_at = now + RESOLVE_EVERY
    rotation.oncall_due_at = now  # reminders, changes and gaps are looked at again at once
    warn_if_unused(rotation.name, report)
    rotation.report = report.as_json(rotation.name)
    rotation.updated_at = now
    s.flush()
    return report


def warn_if_unused(name: str, report: ImportReport) -> None:
    """A rotation no role or contact uses pages nobody: most often a typo in its name. Say so loudly."""
    pol = policy()
    if name in pol.rotations_in_use() or any(c.rotation == name for c in pol.contacts.values()):
        return
    known = ", ".join(repr(r) for r in sorted(pol.rotations_in_use())) or "none"
    report.warnings.insert(0, f"no role or contact of the policy uses rotation {name!r}: nobody is paged from "
                              f"it (the policy's rotations: {known})")


def _replace_future(s: Session, rotation: Rotation, shifts, now: datetime) -> None:
    """Replace the shifts from `now` on by `shifts` (resolved from `now`); what ended before `now` stays."""
    s.execute(delete(Shift).where(Shift.rotation_id == rotation.id, Shift.start >= now))
    current = s.scalar(select(Shift).where(Shift.rotation_id == rotation.id, Shift.start < now, Shift.end > now))
    fresh = [shift for shift in shifts if shift.end > now]
    if current is not None:
        first = fresh[0] if fresh else None
        if first is not None and first.start <= now and (first.person_id, first.label) == (current.person_id,
                                                                                             current.label):
            current.end = first.end  # the calendar still agrees about the shift in progress: keep it whole
            fresh = fresh[1:]
        else:
            current.end = now  # who was on call until now stays recorded
            if first is not None and first.uid == current.uid:  # the same event's rest: tell the pieces apart
                fresh[0] = replace(first, uid=f"{first.uid}+{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"[:500])
    _insert(s, rotation, fresh, lower=now)


def _fill_history(s: Session, rotation: Rotation, shifts, recorded_from: datetime) -> None:
    """Add the calendar's shifts before the record's first moment (joined to a first shift that continues one)."""
    older = [shift for shift in shifts if shift.start < recorded_from]
    first = s.scalar(select(Shift).where(Shift.rotation_id == rotation.id, Shift.start == recorded_from))
    if older and first is not None and older[-1].end >= recorded_from and \
            (older[-1].person_id, older[-1].label) == (first.person_id, first.label):
        first.start = older.pop().start
    _insert(s, rotation, older, upper=recorded_from)


def _insert(s: Session, rotation: Rotation, shifts, *, lower: datetime | None = None,
            upper: datetime | None = None) -> None:
    rows = []
    for shift in shifts:
        start = max(shift.start, lower) if lower else shift.start
        end = min(shift.end, upper) if upper else shift.end
        if end > start:
            rows.append({"rotation_id": rotation.id, "start": start, "end": end, "person_id": shift.person_id,
                         "label": shift.label, "uid": shift.uid})
    if rows:
        s.execute(insert(Shift), rows)


def upload(s: Session, name: str, text: str, prepared: Prepared) -> ImportReport:
    """Store an uploaded calendar, resolved beforehand with `resolve_for(name, text, now)`, into `name`
    (created when missing). An upload ends a subscription."""
    rotation = get_or_create(s, name, prepared.now)
    report = import_calendar(s, rotation, text, prepared)
    if rotation.source_url is not None:
        report.warnings.insert(0, f"this rotation no longer follows {rotation.source_url}; "
                                  "it uses the uploaded calendar")
        rotation.source_url = rotation.etag = rotation.last_modified = rotation.next_refresh_at = None
        rotation.refresh_every_seconds = None
        rotation.last_error = None
        rotation.report = report.as_json(rotation.name)
    return report


def resolve_due_rotations(now: datetime) -> None:
    """Re-resolve rotations whose day is up (or whose people changed), beside the ticker."""
    table = Rotation.__table__
    due = background.claim_due(table.c.materialise_due_at, now, CLAIM_LEASE, table.c.calendar.is_not(None))
    for rotation_id in due:
        background.run(resolve_again, rotation_id, now)


def resolve_again(rotation_id: int, now: datetime) -> None:
    """Resolve a rotation's stored calendar at `now`: read, resolve with no transaction open, then write in
    a short one, and only if the calendar is still the one resolved (an upload or refresh meanwhile wins)."""
    with db.read_transaction() as s:
        rotation = s.get(Rotation, rotation_id)
        if rotation is None or rotation.calendar is None:
            return
        text, recorded_from = rotation.calendar, rotation.materialised_from
    try:
        prepared, error = prepare(text, now, recorded_from), None
    except CalendarError as exc:  # a stored calendar that no longer resolves (e.g. a zone vanished)
        prepared, error = None, exc
    with db.transaction() as s:
        rotation = s.scalar(select(Rotation).where(Rotation.id == rotation_id).with_for_update())
        if rotation is None or rotation.calendar != text:
            return
        if prepared is not None:
            import_calendar(s, rotation, text, prepared)
        else:
            rotation.last_error = f"re-resolving the stored calendar failed: {error}"
            rotation.materialise_due_at = now + RESOLVE_EVERY


def people_changed(_mapper, connection, person: Person) -> None:
    """ORM listener on Person (insert, update, delete): calendars are matched to people again."""
    connection.execute(
        update(Rotation.__table__).where(Rotation.__table__.c.calendar.is_not(None))
        .values(materialise_due_at=clock.now())
    )
    session = object_session(person)
    if session is not None:
        wake_after_commit(session)

