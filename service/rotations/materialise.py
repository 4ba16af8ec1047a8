"""Keep each rotation's resolved shifts in the database over a horizon, so "who is on call" is one query.

The horizon runs 30 days back to 400 days ahead. An import resolves the calendar over it before any
transaction begins (under a budget: `budget.py`), then replaces the rotation's shifts in one short
transaction (a calendar that cannot be read raises before anything changes). A tick re-resolves every rotation from its stored calendar once a day, which slides the
horizon forward, and at once when people change (so a newly added person is matched without a
re-import).
"""
from __future__ import annotations

from datetime import datetime, timedelta

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

HORIZON_BACK = timedelta(days=30)
HORIZON_AHEAD = timedelta(days=400)
RESOLVE_EVERY = timedelta(days=1)
CLAIM_LEASE = timedelta(minutes=5)


def horizon(now: datetime) -> tuple[datetime, datetime]:
    return now - HORIZON_BACK, now + HORIZON_AHEAD


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


def resolve_for(text: str, now: datetime) -> Resolution:
    """Resolve `text` over the horizon of `now`, outside any transaction of the caller's.

    The people are read in a short read transaction of its own; the calendar is parsed and expanded
    under a budget (`budget.py`), so neither a costly calendar nor a slow one ever holds a lock.
    """
    with db.read_transaction() as s:
        people = [PersonRef.of(p) for p in s.scalars(select(Person))]
    start, end = horizon(now)
    return resolve_bounded(text, people, start, end, policy().timezone, seconds=config().calendar_seconds)


def import_calendar(s: Session, rotation: Rotation, text: str, resolution: Resolution, now: datetime) -> ImportReport:
    """Replace the rotation's shifts with `resolution` (from `resolve_for(text, now)`): a few writes."""
    start, end = horizon(now)
    s.execute(delete(Shift).where(Shift.rotation_id == rotation.id))
    if resolution.shifts:
        s.execute(insert(Shift), [
            {"rotation_id": rotation.id, "start": shift.start, "end": shift.end, "person_id": shift.person_id,
             "label": shift.label, "uid": shift.uid}
            for shift in resolution.shifts
        ])
    rotation.calendar = text
    rotation.materialised_from, rotation.materialised_until = start, end
    rotation.materialise_due_at = now + RESOLVE_EVERY
    rotation.report = resolution.report.as_json(rotation.name)
    rotation.updated_at = now
    s.flush()
    return resolution.report


def upload(s: Session, name: str, text: str, resolution: Resolution, now: datetime) -> ImportReport:
    """Store an uploaded calendar, resolved beforehand with `resolve_for(text, now)`, into `name`
    (created when missing). An upload ends a subscription."""
    rotation = get_or_create(s, name, now)
    report = import_calendar(s, rotation, text, resolution, now)
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
    """Resolve a rotation's stored calendar over the horizon of `now`.

    Read, resolve with no transaction open, then write in a short one, and only if the calendar is
    still the one resolved (an upload or refresh meanwhile wins).
    """
    with db.read_transaction() as s:
        rotation = s.get(Rotation, rotation_id)
        if rotation is None or rotation.calendar is None:
            return
        text = rotation.calendar
    try:
        resolution, error = resolve_for(text, now), None
    except CalendarError as exc:  # a stored calendar that no longer resolves (e.g. a zone vanished)
        resolution, error = None, exc
    with db.transaction() as s:
        rotation = s.scalar(select(Rotation).where(Rotation.id == rotation_id).with_for_update())
        if rotation is None or rotation.calendar != text:
            return
        if resolution is not None:
            import_calendar(s, rotation, text, resolution, now)
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

