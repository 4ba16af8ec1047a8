"""Business hours and holidays: pure functions of the policy, a holiday set and a moment.

The holiday set comes from the policy's holidays file, read by `rotations/holidays.py`.
"""
from __future__ import annotations

from datetime import date, datetime, timedelta, timezone
from .model import BusinessHours, Policy


def is_business_day(day: date, hours: BusinessHours, holidays: frozenset[date]) -> bool:
    return day.weekday() in hours.days and day not in holidays


def within_business_hours(moment: datetime, policy: Policy, holidays: frozenset[date] = frozenset()) -> bool:
    local = moment.astimezone(policy.timezone)
    hours = policy.business_hours
    return is_business_day(local.date(), hours, holidays) and hours.start <= local.time() < hours.end


def next_business_slot(
    moment: datetime, length: timedelta, policy: Policy, holidays: frozenset[date] = frozenset()
) -> datetime:
    """The earliest start >= `moment` of a slot of `length` that lies wholly inside one business day.

    Times are in the policy's time zone (so DST is honoured); the result is UTC.
    """
    hours = policy.business_hours
    tz = policy.timezone
    local = moment.astimezone(tz)
    day = local.date()
    for _ in range(3660):  # ten years of days: a policy with no business day at all ends here
        if is_business_day(day, hours, holidays):
            opens = datetime.combine(day, hours.start, tzinfo=tz)
            closes = datetime.combine(day, hours.end, tzinfo=tz)
            start = max(opens, local) if day == local.date() else opens
            if start < closes and start + length <= closes:
                return start.astimezone(timezone.utc)
        day += timedelta(days=1)
    raise ValueError("the policy's business hours contain no slot of that length")


def next_business_day_start(moment: datetime, policy: Policy, holidays: frozenset[date] = frozenset()) -> datetime:
    """Opening time of the first business day after the one `moment` falls on (P4: "next business day")."""
    tz = policy.timezone
    day = moment.astimezone(tz).date() + timedelta(days=1)
    opens = datetime.combine(day, policy.business_hours.start, tzinfo=tz)
    return next_business_slot(opens, timedelta(0), policy, holidays)
