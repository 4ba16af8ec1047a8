from datetime import date, datetime, timedelta, timezone

from service.config import PROJECT_ROOT
from service.policy import load_policy, parse_policy
from service.rotations.holidays import load_holidays
from service.policy.business_hours import (
    next_business_day_start,
    next_business_slot,
    within_business_hours,
)

POLICY = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
UTC = timezone.utc
HOUR = timedelta(hours=1)


def test_slot_inside_business_hours_is_now():
    monday_10 = datetime(2026, 3, 2, 10, tzinfo=UTC)
    assert next_business_slot(monday_10, HOUR, POLICY) == monday_10


def test_slot_that_would_overrun_closing_moves_to_next_day():
    assert next_business_slot(datetime(2026, 3, 2, 16, 30, tzinfo=UTC), HOUR, POLICY) == datetime(
        2026, 3, 3, 9, tzinfo=UTC)


def test_weekend_and_holidays_are_skipped():
    friday_evening = datetime(2026, 3, 6, 18, tzinfo=UTC)
    assert next_business_slot(friday_evening, HOUR, POLICY) == datetime(2026, 3, 9, 9, tzinfo=UTC)
    holidays = frozenset({date(2026, 3, 9)})
    assert next_business_slot(friday_evening, HOUR, POLICY, holidays) == datetime(2026, 3, 10, 9, tzinfo=UTC)


def test_policy_time_zone_and_dst():
    berlin = parse_policy((PROJECT_ROOT / "schedules" / "policy.toml").read_text()
                          .replace('timezone = "UTC"', 'timezone = "Europe/Berlin"'))
    # Before the switch to summer time 09:00 Berlin is 08:00 UTC, after it 07:00 UTC.
    assert next_business_slot(datetime(2026, 3, 27, 20, tzinfo=UTC), HOUR, berlin) == datetime(
        2026, 3, 30, 7, tzinfo=UTC)
    assert next_business_slot(datetime(2026, 3, 26, 20, tzinfo=UTC), HOUR, berlin) == datetime(
        2026, 3, 27, 8, tzinfo=UTC)
    assert within_business_hours(datetime(2026, 3, 30, 7, 30, tzinfo=UTC), berlin)
    assert not within_business_hours(datetime(2026, 3, 30, 6, 30, tzinfo=UTC), berlin)


def test_next_business_day_for_p4():
    assert next_business_day_start(datetime(2026, 3, 6, 11, tzinfo=UTC), POLICY) == datetime(
        2026, 3, 9, 9, tzinfo=UTC)
    assert next_business_day_start(datetime(2026, 3, 2, 3, tzinfo=UTC), POLICY) == datetime(
        2026, 3, 3, 9, tzinfo=UTC)


def test_holidays_from_ical(tmp_path):
    ics = tmp_path / "holidays.ics"
    ics.write_text(
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//test//EN\r\n"
        "BEGIN:VEVENT\r\nUID:a\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20261224\r\n"
        "DTEND;VALUE=DATE:20261227\r\nSUMMARY:Christmas\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:b\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20260101\r\n"
        "SUMMARY:New Year\r\nEND:VEVENT\r\n"
        "BEGIN:VEVENT\r\nUID:c\r\nDTSTAMP:20260101T000000Z\r\nDTSTART;VALUE=DATE:20200501\r\n"
        "RRULE:FREQ=YEARLY\r\nSUMMARY:Labour Day\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    days = load_holidays(ics, around=date(2026, 6, 1), years=2)
    assert {date(2026, 12, 24), date(2026, 12, 25), date(2026, 12, 26), date(2026, 1, 1)} <= days
    assert {date(y, 5, 1) for y in range(2025, 2029)} <= days
    assert date(2020, 5, 1) not in days  # outside the window
    assert len(days) == 4 + 4
