"""On-call hours split by kind of time, and pages counted by hour. Pure: stretches and pages in, rows out.

A stretch is cut at every local midnight of the policy's zone (each day's bounds are computed once,
so the days tile the timeline exactly, DST included); each piece of a day is holiday time, weekend
time, or split into business hours and the rest. A day's business hours run from the first moment
its wall clock shows `start` to the first moment it shows `end` (a repeated hour counts once). Every second lands in exactly one kind, so the
kinds add up to the stretch — which `tests/reports` checks with hypothesis.
"""
from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo

from ..policy import BusinessHours

KINDS = ("business", "after", "weekend", "holiday")
NIGHT_FROM, NIGHT_UNTIL = time(22), time(7)


@dataclass(frozen=True)
class Day:
    start: datetime  # local midnight, in UTC
    opens: datetime | None  # business hours of the day (None: not a business day)
    closes: datetime | None
    kind: str  # "workday" | "weekend" | "holiday"


@dataclass
class Tally:
    """One person's time on one rotation, in exact timedeltas, and their pages."""

    business: timedelta = field(default_factory=timedelta)
    after: timedelta = field(default_factory=timedelta)
    weekend: timedelta = field(default_factory=timedelta)
    holiday: timedelta = field(default_factory=timedelta)
    pages: int = 0
    night_pages: int = 0

    @property
    def total(self) -> timedelta:
        return self.business + self.after + self.weekend + self.holiday


class Calendar:
    """The local days of [start, end) in `zone`, with their business hours: built once per report."""

    def __init__(self, start: datetime, end: datetime, zone: tzinfo, hours: BusinessHours,
                 holidays: frozenset[date]):
        first = start.astimezone(zone).date() - timedelta(days=1)
        last = end.astimezone(zone).date() + timedelta(days=1)
        self.days: list[Day] = []
        day = first
        while day <= last:
            midnight = _utc(day, time(0), zone)
            if day in holidays:
                self.days.append(Day(midnight, None, None, "holiday"))
            elif day.weekday() not in hours.days:
                self.days.append(Day(midnight, None, None, "weekend"))
            else:
                self.days.append(Day(midnight, _utc(day, hours.start, zone), _utc(day, hours.end, zone), "workday"))
            day += timedelta(days=1)
        self.starts = [d.start for d in self.days]
        self.ends = self.starts[1:] + [_utc(last + timedelta(days=1), time(0), zone)]
        # Running totals of each kind over whole days, so a stretch costs two partial days and a subtraction.
        self.totals = {kind: [timedelta(0)] for kind in KINDS}
        for i in range(len(self.days)):
            whole = self._day(i, self.starts[i], self.ends[i])
            for kind in KINDS:
                self.totals[kind].append(self.totals[kind][-1] + whole.get(kind, timedelta(0)))

    def _day(self, i: int, lo: datetime, hi: datetime) -> dict[str, timedelta]:
        """[lo, hi) within day i, by kind."""
        day = self.days[i]
        if hi <= lo:
            return {}
        if day.kind == "holiday":
            return {"holiday": hi - lo}
        if day.kind == "weekend":
            return {"weekend": hi - lo}
        inside = max(min(hi, day.closes) - max(lo, day.opens), timedelta(0))
        return {"business": inside, "after": (hi - lo) - inside}

    def split(self, start: datetime, end: datetime, into: Tally) -> None:
        """Add [start, end) to `into`, kind by kind."""
        if end <= start:
            return
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_right(self.starts, end) - 1
        if first == last:
            parts = [self._day(first, start, end)]
        else:
            parts = [self._day(first, start, self.ends[first]), self._day(last, self.starts[last], end),
                     {kind: self.totals[kind][last] - self.totals[kind][first + 1] for kind in KINDS}]
        for part in parts:
            for kind, amount in part.items():
                setattr(into, kind, getattr(into, kind) + amount)


def _utc(day: date, at: time, zone: tzinfo) -> datetime:
    """A wall-clock time as a UTC moment (UTC, so that differences are real durations even across DST)."""
    return datetime.combine(day, at, tzinfo=zone).astimezone(timezone.utc)


def at_night(moment: datetime, zone: tzinfo) -> bool:
    """Between 22:00 and 07:00 on the wall clock of `zone`."""
    local = moment.astimezone(zone).time()
    return local >= NIGHT_FROM or local < NIGHT_UNTIL


def hours(delta: timedelta) -> float:
    return round(delta / timedelta(hours=1), 6)


def row(person: str, rotation: str, tally: Tally) -> dict:
    return {"person": person, "rotation": rotation, "hours": hours(tally.total),
            "business_hours": hours(tally.business), "after_hours": hours(tally.after),
            "weekend_hours": hours(tally.weekend), "holiday_hours": hours(tally.holiday),
            "pages": tally.pages, "night_pages": tally.night_pages}
