"""Review slot choice: pure function, fixed times (2026-03-02 is a Monday)."""
from dataclasses import replace
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from service.config import PROJECT_ROOT
from service.policy import load_policy
from service.reviews.slots import review_slot

UTC = timezone.utc
P1 = timedelta(hours=48)
P2 = timedelta(days=7)


@pytest.fixture(scope="module")
def policy():
    return load_policy(PROJECT_ROOT / "schedules" / "policy.toml")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 3, day, hour, minute, tzinfo=UTC)


def slot(policy, resolved, window, holidays=frozenset()):
    return review_slot(resolved, resolved + window if window else None, policy, holidays)


def test_first_slot_a_day_after_resolution(policy):
    chosen = slot(policy, at(2, 10), P1)
    assert (chosen.start, chosen.end, chosen.within_deadline) == (at(3, 10), at(3, 11), True)


def test_start_rounds_up_to_the_half_hour(policy):
    assert slot(policy, at(2, 10, 10), P1).start == at(3, 10, 30)
    assert slot(policy, at(2, 10, 30), P1).start == at(3, 10, 30)


def test_a_slot_that_would_run_past_closing_moves_to_the_next_morning(policy):
    chosen = slot(policy, at(2, 16, 30), P1)  # Tue 16:30 + 1 h > 17:00
    assert (chosen.start, chosen.end) == (at(4, 9), at(4, 10))


def test_over_the_weekend_p2_waits_for_monday(policy):
    chosen = slot(policy, at(6, 11), P2)  # Friday
    assert chosen.start == at(9, 9)


def test_p1_resolved_friday_falls_back_to_the_last_slot_before_the_deadline(policy):
    # Due Sunday 11:00; Monday 09:00 is too late, so the last slot that ends in time: Friday 16:00.
    chosen = slot(policy, at(6, 11), P1)
    assert (chosen.start, chosen.end, chosen.within_deadline) == (at(6, 16), at(6, 17), True)


def test_no_business_hour_before_the_deadline_books_the_first_slot_anyway(policy):
    chosen = slot(policy, at(6, 17, 30), P1)  # Friday after hours, due Sunday 17:30
    assert (chosen.start, chosen.within_deadline) == (at(9, 9), False)


def test_holiday_is_skipped(policy):
    good_friday = frozenset({date(2026, 3, 6)})
    assert slot(policy, at(5, 10), P2, good_friday).start == at(9, 9)


def test_holiday_inside_a_p1_window(policy):
    thursday_off = frozenset({date(2026, 3, 5)})
    assert slot(policy, at(4, 14), P1, thursday_off).start == at(6, 9)
    long_weekend = frozenset({date(2026, 3, 5), date(2026, 3, 6)})
    chosen = slot(policy, at(4, 14), P1, long_weekend)
    assert (chosen.start, chosen.end, chosen.within_deadline) == (at(4, 16), at(4, 17), True)


def test_short_window_takes_the_last_slot_that_ends_in_time(policy):
    chosen = slot(policy, at(2, 10), timedelta(hours=6))
    assert (chosen.start, chosen.end) == (at(2, 15), at(2, 16))
    exact = slot(policy, at(2, 10), timedelta(hours=1))
    assert (exact.start, exact.end) == (at(2, 10), at(2, 11))


def test_window_too_short_for_a_meeting(policy):
    chosen = slot(policy, at(2, 10), timedelta(minutes=45))
    assert (chosen.start, chosen.within_deadline) == (at(3, 10), False)


def test_optional_review_without_deadline(policy):
    assert slot(policy, at(6, 11), None).start == at(9, 9)


def test_business_hours_in_the_policy_time_zone_across_dst(policy):
    berlin = replace(policy, timezone=ZoneInfo("Europe/Berlin"))
    # Friday 27 March 09:00 CET; Europe moves to summer time on Sunday 29 March.
    chosen = review_slot(at(27, 8), at(27, 8) + P2, berlin)
    assert chosen.start == at(30, 7)  # Monday 09:00 CEST
    friday_late = review_slot(at(27, 14), at(27, 14) + P1, berlin)  # 15:00 CET, due Sunday
    assert (friday_late.start, friday_late.end) == (at(27, 15), at(27, 16))  # 16:00-17:00 CET


def test_a_slot_planned_late_never_lies_in_the_past(policy):
    # Resolved Monday 10:00; the severity is raised on Thursday 14:10, long after the P1 deadline.
    chosen = review_slot(at(2, 10), at(2, 10) + P1, policy, not_before=at(5, 14, 10))
    assert (chosen.start, chosen.within_deadline) == (at(5, 14, 30), False)
    # Raised on Monday 15:00 with a P1 window: the settled slot still counts from resolution.
    assert review_slot(at(2, 10), at(2, 10) + P1, policy, not_before=at(2, 15)).start == at(3, 10)
