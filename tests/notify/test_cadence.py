"""The cadence as pure functions: no database, no clock, no sleeping."""
from datetime import datetime, timedelta, timezone

from service.config import PROJECT_ROOT
from service.notify.cadence import due_step, lookahead, next_update_due, page_not_before, raised, reminder_at
from service.policy import load_policy

POLICY = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
P1, P2, P3, P4 = (POLICY.severities[k] for k in ("P1", "P2", "P3", "P4"))
T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)  # Monday


def minutes(n):
    return timedelta(minutes=n)


def test_next_update_is_due_update_every_after_the_last_update():
    assert next_update_due(P1, is_open=True, last_update_at=T0) == T0 + minutes(15)
    assert next_update_due(P2, is_open=True, last_update_at=T0) == T0 + minutes(30)


def test_no_cadence_for_p3_p4_or_a_closed_incident():
    assert next_update_due(P3, is_open=True, last_update_at=T0) is None
    assert next_update_due(P4, is_open=True, last_update_at=T0) is None
    assert next_update_due(P1, is_open=False, last_update_at=T0) is None


def test_reminder_a_third_of_the_interval_before():
    assert reminder_at(P1, T0 + minutes(15)) == T0 + minutes(10)
    assert reminder_at(P2, T0 + minutes(30)) == T0 + minutes(20)
    assert lookahead(POLICY) == minutes(10)


def test_steps_over_one_interval():
    due = T0 + minutes(15)
    step = lambda now: due_step(P1, is_open=True, next_update_due_at=due, now=now)  # noqa: E731
    assert step(T0 + minutes(9)) is None
    assert step(T0 + minutes(10)).action == "reminder"
    assert step(T0 + minutes(14, )).action == "reminder"
    assert step(due).action == "update"
    assert step(due + timedelta(hours=3)).action == "update"
    assert due_step(P1, is_open=False, next_update_due_at=due, now=due) is None


def test_a_late_tick_sends_one_catch_up_and_the_clock_restarts_from_it():
    """Simulate ticks: one every 15 s for an hour, then a 2-hour gap; count automatic updates."""
    last_update = T0
    sent = []
    ticks = [T0 + timedelta(seconds=15 * i) for i in range(4 * 60 + 1)] + [T0 + timedelta(hours=3)]
    for now in ticks:
        due = next_update_due(P1, is_open=True, last_update_at=last_update)
        step = due_step(P1, is_open=True, next_update_due_at=due, now=now)
        if step and step.action == "update":
            sent.append(now)
            last_update = now
    assert sent[:4] == [T0 + minutes(15), T0 + minutes(30), T0 + minutes(45), T0 + minutes(60)]
    assert sent[4:] == [T0 + timedelta(hours=3)]  # after the gap: exactly one, not eight


def test_business_hours_only_pages_wait_for_the_next_business_morning():
    saturday_night = datetime(2026, 3, 7, 23, 0, tzinfo=timezone.utc)
    assert page_not_before(P4, saturday_night, POLICY) == datetime(2026, 3, 9, 9, 0, tzinfo=timezone.utc)
    assert page_not_before(P4, T0, POLICY) is None  # Monday 10:00: at once
    assert page_not_before(P1, saturday_night, POLICY) is None
    friday_evening = datetime(2026, 3, 6, 17, 0, tzinfo=timezone.utc)
    assert page_not_before(P4, friday_evening, POLICY) == datetime(2026, 3, 9, 9, 0, tzinfo=timezone.utc)


def test_holidays_are_not_business_hours():
    monday_holiday = frozenset({datetime(2026, 3, 9).date()})
    sunday = datetime(2026, 3, 8, 12, 0, tzinfo=timezone.utc)
    assert page_not_before(P4, sunday, POLICY, monday_holiday) == datetime(2026, 3, 10, 9, 0, tzinfo=timezone.utc)


def test_raised_means_more_severe():
    assert raised(POLICY, "P2", "P1") and raised(POLICY, "P4", "P3")
    assert not raised(POLICY, "P1", "P2") and not raised(POLICY, "P2", "P2")
