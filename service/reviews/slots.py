"""When the post-incident review meets: a pure function of the resolution, the deadline and the policy.

The guide wants the review inside the post-mortem window, and a review the day after (once people
have slept) is worth more than one an hour after the fix. So: the first business-hours slot at least
`settle` after resolution that ends by the deadline; else the last slot that still ends by it; else,
when no business hour at all lies before the deadline, the first slot a day later after all (late,
but booked, and flagged `within_deadline=False`). Slots start on a half-hour grid, because that is what people accept in a calendar.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from ..policy import Policy
from ..policy.business_hours import next_business_slot

MEETING_LENGTH = timedelta(hours=1)
SETTLE = timedelta(hours=24)
GRID = timedelta(minutes=30)


@dataclass(frozen=True)
class Slot:
    start: datetime
    end: datetime
    within_deadline: bool


def review_slot(
    resolved_at: datetime,
    due_at: datetime | None,
    policy: Policy,
    holidays: frozenset[date] = frozenset(),
    *,
    not_before: datetime | None = None,
    length: timedelta = MEETING_LENGTH,
    settle: timedelta = SETTLE,
) -> Slot:
    """The review meeting for an incident resolved at `resolved_at` whose post-mortem is due at `due_at`.

    `not_before` (now) keeps a meeting planned late, e.g. after a severity change, out of the past.
    """
    floor = max(resolved_at, not_before or resolved_at)
    preferred = _slot_from(max(resolved_at + settle, floor), length, policy, holidays)
    if due_at is None or preferred.end <= due_at:
        return Slot(preferred.start, preferred.end, True)
    last = None
    candidate = _slot_from(floor, length, policy, holidays)
    while candidate.end <= due_at:
        last = candidate
        candidate = _slot_from(candidate.start + GRID, length, policy, holidays)
    if last is not None:
        return Slot(last.start, last.end, True)
    return Slot(preferred.start, preferred.end, False)


def _slot_from(earliest: datetime, length: timedelta, policy: Policy, holidays: frozenset[date]) -> Slot:
    start = next_business_slot(_round_up(earliest), length, policy, holidays)
    return Slot(start, start + length, True)


def _round_up(moment: datetime) -> datetime:
    """The first grid point (:00 or :30 UTC) at or after `moment`."""
    epoch = datetime(2000, 1, 1, tzinfo=timezone.utc)
    steps = -(-(moment - epoch) // GRID)
    return epoch + steps * GRID
