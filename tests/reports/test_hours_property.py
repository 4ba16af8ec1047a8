"""The hours report adds up exactly to the shift record: a hypothesis property over random shifts, zones
(DST in both hemispheres, and a zone whose DST change falls at midnight), business hours and holidays,
checked against a minute-by-minute count that classifies each minute by itself (no day tables, no
running totals)."""
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from service.policy import BusinessHours
from service.reports.hours import Calendar, Tally

UTC = timezone.utc
ORIGIN = datetime(2026, 3, 20, tzinfo=UTC)  # London, Santiago and Sydney all change their clocks within 3 weeks
ZONES = ["UTC", "Europe/London", "Australia/Sydney", "America/Santiago", "Asia/Kolkata"]


def opening(day: date, at: time, tz: ZoneInfo) -> datetime:
    """When the wall clock first shows `at` on `day` (a repeated hour counts once: DST ending at midnight in
    Santiago repeats 23:00-24:00; a skipped time is read with the offset before the gap)."""
    return datetime.combine(day, at, tzinfo=tz).astimezone(UTC)


@st.composite
def records(draw):
    """Non-overlapping shifts at minute resolution, as the record holds them (sorted, gaps allowed)."""
    cursor = ORIGIN + timedelta(minutes=draw(st.integers(0, 3000)))
    shifts = []
    for _ in range(draw(st.integers(1, 6))):
        length = timedelta(minutes=draw(st.integers(1, 6 * 24 * 60)))
        shifts.append((cursor, cursor + length))
        cursor += length + timedelta(minutes=draw(st.integers(0, 2000)))
    return shifts


@given(
    shifts=records(),
    zone=st.sampled_from(ZONES),
    days=st.sets(st.integers(0, 6), min_size=0, max_size=7),
    opens=st.integers(0, 22),
    length=st.integers(1, 23),
    holiday_offsets=st.sets(st.integers(-2, 30), max_size=4),
)
@settings(max_examples=150, deadline=None)
def test_the_kinds_add_up_to_the_record_minute_by_minute(shifts, zone, days, opens, length, holiday_offsets):
    tz = ZoneInfo(zone)
    closes = min(opens + length, 23)
    hours = BusinessHours(tuple(sorted(days)), time(opens), time(closes, 59 if opens + length > 23 else 0))
    holidays = frozenset(date(2026, 3, 20) + timedelta(days=d) for d in holiday_offsets)
    start, end = shifts[0][0], shifts[-1][1]
    calendar = Calendar(start, end, tz, hours, holidays)
    tally = Tally()
    for lo, hi in shifts:
        calendar.split(lo, hi, tally)

    record = sum((hi - lo for lo, hi in shifts), timedelta(0))
    assert tally.total == record  # exactly: timedeltas, no rounding
    assert tally.business + tally.after + tally.weekend + tally.holiday == record

    expected = {"business": 0, "after": 0, "weekend": 0, "holiday": 0}
    for lo, hi in shifts:
        minute = lo
        while minute < hi:
            local = minute.astimezone(tz)
            if local.date() in holidays:
                expected["holiday"] += 1
            elif local.weekday() not in hours.days:
                expected["weekend"] += 1
            elif opening(local.date(), hours.start, tz) <= minute < opening(local.date(), hours.end, tz):
                expected["business"] += 1
            else:
                expected["after"] += 1
            minute += timedelta(minutes=1)
    got = {kind: getattr(tally, kind) // timedelta(minutes=1) for kind in expected}
    assert got == expected
