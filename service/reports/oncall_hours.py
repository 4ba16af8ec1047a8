"""`GET /api/reports/oncall-hours` and `herald report hours`: per person and rotation, hours on call by kind
of time and pages received, read from the shift record (overrides laid over it) and the outbox.

Pages are counted once per page (a page that went by email and Teams is one page), when it was first
delivered, and belong to the rotation the person was on call for at that moment ("" when they were
paged while on call for none, e.g. after a manual handover).
"""
from __future__ import annotations

import bisect
import csv
import io
import itertools
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..notify.models import Notification
from ..people.models import Person
from ..policy import Policy
from ..rotations.holidays import load_holidays
from ..rotations.models import Override, Rotation, Shift
from ..rotations.resolve import resolve_overlaps
from .hours import Calendar, Tally, at_night, row

MAX_RANGE = timedelta(days=400)
SHIFT_RANK = (1, 0.0, 0)  # below every override
FIELDS = ("person", "rotation", "hours", "business_hours", "after_hours", "weekend_hours", "holiday_hours", "pages",
          "night_pages")


class ReportRangeError(ValueError):
    pass


def stretches(s: Session, rotation_ids: list[int], start: datetime, end: datetime) -> dict[int, list[tuple]]:
    """{rotation id: [(start, end, person id)]}: the record between start and end, overrides winning (newest first)."""
    shifts: dict[int, list[tuple]] = {}
    for rotation_id, lo, hi, person_id in s.execute(
            select(Shift.rotation_id, Shift.start, Shift.end, Shift.person_id)
            .where(Shift.rotation_id.in_(rotation_ids), Shift.end > start, Shift.start < end)):
        shifts.setdefault(rotation_id, []).append((lo, hi, person_id, SHIFT_RANK))
    overrides: dict[int, list[tuple]] = {}
    for rotation_id, lo, hi, person_id, created, override_id in s.execute(
            select(Override.rotation_id, Override.start, Override.end, Override.person_id, Override.created_at,
                   Override.id)
            .where(Override.rotation_id.in_(rotation_ids), Override.end > start, Override.start < end)):
        overrides.setdefault(rotation_id, []).append((lo, hi, person_id, (0, -created.timestamp(), -override_id)))
    out = {}
    for rotation_id in set(shifts) | set(overrides):
        items = _lay_over(shifts.get(rotation_id, []), overrides.get(rotation_id, []))
        out[rotation_id] = [(max(lo, start), min(hi, end), person_id) for lo, hi, person_id, *_ in items
                            if person_id is not None and min(hi, end) > max(lo, start)]
    return out


def _lay_over(shifts: list[tuple], overrides: list[tuple]) -> list[tuple]:
    """Overrides over shifts (which never overlap one another): only the shifts an override touches are
    cut (`resolve_overlaps`); the others pass as they are."""
    if not overrides:
        return shifts
    covered = sorted((lo, hi) for lo, hi, *_ in overrides)
    starts = [lo for lo, _ in covered]
    reach = list(itertools.accumulate((hi for _, hi in covered), max))  # furthest end of overrides so far
    touched, untouched = [], []
    for shift in shifts:
        i = bisect.bisect_left(starts, shift[1]) - 1  # the last override starting before the shift ends
        (touched if i >= 0 and reach[i] > shift[0] else untouched).append(shift)
    pieces = resolve_overlaps(touched + overrides, start=lambda x: x[0], end=lambda x: x[1], rank=lambda x: x[3])
    return untouched + [(lo, hi, item[2]) for lo, hi, item in pieces]


def hours_report(s: Session, policy: Policy, holidays: frozenset[date], start: datetime, end: datetime,
                 rotation: str | None = None) -> list[dict]:
    """Rows sorted by person and rotation; ReportRangeError for a range over MAX_RANGE or an unknown rotation."""
    if end <= start:
        raise ReportRangeError("'to' must be after 'from'")
    if end - start > MAX_RANGE:
        raise ReportRangeError(f"at most {MAX_RANGE.days} days at once")
    query = select(Rotation.id, Rotation.name)
    if rotation is not None:
        query = query.where(Rotation.name == rotation)
    names = dict(s.execute(query).all())
    if rotation is not None and not names:
        raise ReportRangeError(f"no rotation named {rotation!r}")
    people = {pid: (handle, zone) for pid, handle, zone in s.execute(select(Person.id, Person.handle, Person.timezone))}
    days = Calendar(start, end, policy.timezone, policy.business_hours, holidays | _holidays_of(policy, start, end))
    tallies: dict[tuple[int, str], Tally] = {}
    on_call: dict[int, list[tuple]] = {}  # person -> [(start, end, rotation name)] for attributing pages
    for rotation_id, items in stretches(s, list(names), start, end).items():
        name = names[rotation_id]
        for lo, hi, person_id in items:
            tally = tallies.get((person_id, name))
            if tally is None:
                tally = tallies[(person_id, name)] = Tally()
                on_call.setdefault(person_id, [])
            days.split(lo, hi, tally)
            on_call[person_id].append((lo, hi, name))
    for spans in on_call.values():
        spans.sort()
    for person_id, moment in _pages(s, start, end):
        if person_id not in people:
            continue
        where = _rotation_at(on_call.get(person_id, []), moment)
        if where is None and rotation is not None:
            continue
        tally = tallies.setdefault((person_id, where or ""), Tally())
        tally.pages += 1
        zone = people[person_id][1]
        tally.night_pages += at_night(moment, ZoneInfo(zone) if zone else policy.timezone)
    rows = [row(people[pid][0], name, tally) for (pid, name), tally in tallies.items() if pid in people]
    return sorted(rows, key=lambda r: (r["person"], r["rotation"]))


def _pages(s: Session, start: datetime, end: datetime) -> list[tuple[int, datetime]]:
    """(person id, first delivery) of every page delivered between start and end, once per page."""
    query = (select(Notification.person_id, func.min(Notification.sent_at))
             .where(Notification.kind == "page", Notification.status == "sent", Notification.person_id.is_not(None),
                    Notification.sent_at >= start, Notification.sent_at < end)
             .group_by(Notification.person_id, Notification.incident_id, Notification.slot))
    return s.execute(query).all()


def _rotation_at(spans: list[tuple], moment: datetime) -> str | None:
    """The rotation of the first of the person's stretches that holds `moment`."""
    return next((name for lo, hi, name in spans if lo <= moment < hi), None)


def _holidays_of(policy: Policy, start: datetime, end: datetime) -> frozenset[date]:
    """The policy's holidays around a report that reaches further back than the ones loaded at start-up."""
    path = policy.business_hours.holidays_file
    if not path:
        return frozenset()
    years = end.year - start.year + 1
    return load_holidays(path, policy.timezone, around=date(start.year + 1, 1, 1), years=years)


def as_csv(rows: list[dict]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()
