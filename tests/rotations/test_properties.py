"""Property: for random daily and weekly rules with exceptions, the resolved owner at any moment equals a
brute-force expansion written independently of icalendar, recurring-ical-events and the sweep."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.rotations.resolve import resolve_calendar

from .helpers import HANDLES, PEOPLE, WINDOW

UTC = timezone.utc
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney"]
NAMES = ["alice", "bob", "carol", "dana"]


@dataclass
class Series:
    person: str
    daily: bool
    interval: int
    start: datetime  # naive local wall clock
    length: timedelta  # wall-clock length
    count: int
    use_until: bool
    excluded: set[int]
    moved: dict[int, tuple[timedelta, timedelta, str]]  # index -> (shift of start, new length, new person)

    def step(self) -> timedelta:
        return timedelta(days=self.interval * (1 if self.daily else 7))


@st.composite
def series(draw) -> Series:
    count = draw(st.integers(1, 12))
    indices = st.integers(0, count - 1)
    excluded = draw(st.sets(indices, max_size=3))
    # An instance both excluded and modified is left undefined by RFC 5545; exports never hold one.
    movable = st.integers(0, count - 1).filter(lambda k: k not in excluded)
    return Series(
        person=draw(st.sampled_from(NAMES)),
        daily=draw(st.booleans()),
        interval=draw(st.integers(1, 3)),
        start=datetime(2026, 2, 1) + timedelta(days=draw(st.integers(0, 80)), minutes=30 * draw(st.integers(0, 47))),
        length=timedelta(minutes=30 * draw(st.integers(1, 2 * 24 * 8))),
        count=count,
        use_until=draw(st.booleans()),
        excluded=excluded,
        moved=draw(st.dictionaries(movable, st.tuples(
            st.integers(-12, 12).map(lambda h: timedelta(hours=h)),
            st.integers(1, 72).map(lambda h: timedelta(hours=h)),
            st.sampled_from(NAMES)), max_size=2)),
    )


def _local(moment: datetime) -> str:
    return moment.strftime("%Y%m%dT%H%M%S")


def to_ical(all_series: list[Series], zone: str) -> str:
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//property test//EN"]
    for n, s in enumerate(all_series):
        uid = f"series-{n}"
        freq = "DAILY" if s.daily else "WEEKLY"
        if s.use_until:
            last = s.start + s.step() * (s.count - 1)
            rule = f"RRULE:FREQ={freq};INTERVAL={s.interval};UNTIL={_utc(last, zone):%Y%m%dT%H%M%SZ}"
        else:
            rule = f"RRULE:FREQ={freq};INTERVAL={s.interval};COUNT={s.count}"
        lines += ["BEGIN:VEVENT", f"UID:{uid}", f"DTSTART;TZID={zone}:{_local(s.start)}",
                  f"DTEND;TZID={zone}:{_local(s.start + s.length)}", rule, f"SUMMARY:On call: {s.person}"]
        lines += [f"EXDATE;TZID={zone}:{_local(s.start + s.step() * k)}" for k in sorted(s.excluded)]
        lines.append("END:VEVENT")
        for k, (shift, length, person) in sorted(s.moved.items()):
            original = s.start + s.step() * k
            lines += ["BEGIN:VEVENT", f"UID:{uid}", f"RECURRENCE-ID;TZID={zone}:{_local(original)}",
                      f"DTSTART;TZID={zone}:{_local(original + shift)}",
                      f"DTEND;TZID={zone}:{_local(original + shift + length)}", f"SUMMARY:Swap: {person}",
                      "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def _utc(local: datetime, zone: str) -> datetime:
    return local.replace(tzinfo=ZoneInfo(zone)).astimezone(UTC)


def brute_force(all_series: list[Series], zone: str) -> list[tuple[datetime, datetime, str]]:
    """Every occurrence as (start UTC, end UTC, person), expanded by plain date arithmetic."""
    found = []
    for s in all_series:
        for k in range(s.count):
            original = s.start + s.step() * k
            if k in s.moved:
                shift, length, person = s.moved[k]
                found.append((_utc(original + shift, zone), _utc(original + shift + length, zone), person))
            elif k not in s.excluded:
                found.append((_utc(original, zone), _utc(original + s.length, zone), s.person))
    return [o for o in found if o[1] > o[0]]


def owners_at(occurrences, moment: datetime) -> set[str | None]:
    """Who may be on call at `moment`: the shortest covering occurrence, ties to the later start (an exact
    tie of length and start is left to the implementation's stable tie-break)."""
    covering = [o for o in occurrences if o[0] <= moment < o[1]]
    if not covering:
        return {None}
    best = min((o[1] - o[0], -o[0].timestamp()) for o in covering)
    return {o[2] for o in covering if (o[1] - o[0], -o[0].timestamp()) == best}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(series(), min_size=1, max_size=4), st.sampled_from(ZONES),
       st.lists(st.integers(0, 365 * 24 * 4), max_size=20))
def test_owner_matches_brute_force_expansion(all_series, zone, quarter_hours):
    resolution = resolve_calendar(to_ical(all_series, zone), PEOPLE, *WINDOW, ZoneInfo("UTC"))
    occurrences = brute_force(all_series, zone)
    moments = {o[0] for o in occurrences} | {o[1] for o in occurrences}
    moments |= {o[0] + (o[1] - o[0]) / 2 for o in occurrences}
    moments |= {WINDOW[0] + timedelta(minutes=15 * q) for q in quarter_hours}
    for moment in sorted(m for m in moments if WINDOW[0] <= m < WINDOW[1]):
        shifts = [s for s in resolution.shifts if s.start <= moment < s.end]
        assert len(shifts) <= 1
        owner = HANDLES[shifts[0].person_id] if shifts else None
        assert owner in owners_at(occurrences, moment), (moment, owner, owners_at(occurrences, moment))
