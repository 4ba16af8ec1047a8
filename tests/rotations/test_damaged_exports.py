"""Real exports with harmless damage are read as recurring-ical-events reads them, with a warning;
the holidays file has the same reader; and a refusal never shows Python's own exception text."""
from zoneinfo import ZoneInfo

import icalendar
import pytest
import recurring_ical_events

from service.rotations.calendar import CalendarError
from service.rotations.holidays import load_holidays
from service.rotations.resolve import resolve_calendar
from tests.conftest import ADMIN

from .helpers import CALENDARS, PEOPLE, WINDOW, vcalendar

DAMAGED = CALENDARS / "damaged"
UTC = ZoneInfo("UTC")
WARNED = {  # the fixture: what its warning says
    "google_empty_exdate.ics": "ignored a damaged EXDATE",        # Google: an empty `EXDATE;VALUE=DATE:` line
    "calendarlabs_empty_rrule.ics": "ignored an empty RRULE",     # calendarlabs.com holidays: `RRULE:` lines
    "confluence_bad_fold.ics": "ignored a damaged line",          # Confluence: a fold without its space
    "apple_broken_radius.ics": "ignored a damaged line",          # Apple: `X-APPLE-RADIUS=` broken off its line
}
RAW = ("object has no attribute", "invalid '", "Traceback", "unpack", "Error:")


def text_of(name: str) -> str:
    return (DAMAGED / name).read_bytes().decode()


def occurrences(text: str) -> int:
    return len(recurring_ical_events.of(icalendar.Calendar.from_ical(text)).between(*WINDOW))


@pytest.mark.parametrize("name", sorted(WARNED))
def test_harmless_damage_is_read_like_recurring_ical_events_reads_it(name):
    text = text_of(name)
    resolution = resolve_calendar(text, PEOPLE, *WINDOW, UTC)
    assert len(resolution.shifts) == occurrences(text) > 0
    assert any(WARNED[name] in w for w in resolution.report.warnings), resolution.report.warnings


@pytest.mark.parametrize("name", sorted(WARNED))
def test_harmless_damage_is_imported_over_http_with_its_warning(client, make_person, put_calendar, name):
    for handle, full in (("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Chen")):
        make_person(handle, full)
    response = put_calendar("incident-commander", text_of(name))
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["shifts"] > 0 and any(WARNED[name] in w for w in report["warnings"])


def test_the_holidays_file_is_read_by_the_same_reader(tmp_path):
    path = DAMAGED / "calendarlabs_empty_rrule.ics"
    days = {d.isoformat() for d in load_holidays(path, UTC, around=WINDOW[0].date(), years=1)}
    assert {"2026-01-01", "2026-12-25", "2026-12-26"} <= days
    refused = tmp_path / "bad.ics"
    refused.write_text(vcalendar("UID:a\nDTSTART;VALUE=DATE:20260501\nRRULE:FREQ=SOMETIMES\nSUMMARY:Labour Day"))
    with pytest.raises(CalendarError) as as_rotation:
        resolve_calendar(refused.read_text(), PEOPLE, *WINDOW, UTC)
    with pytest.raises(CalendarError) as as_holidays:
        load_holidays(refused, UTC)
    assert as_holidays.value.problems == as_rotation.value.problems


@pytest.mark.parametrize("body, reason", [
    ("UID:a\nDTSTART:20260302T090000Z\nDTEND:20260302T100000Z\nRRULE:FREQ=YEARLY;BYMONTH=5L\nSUMMARY:alice",
     "RRULE FREQ=YEARLY;BYMONTH=5L: BYMONTH must be whole numbers in range"),
    ("UID:a\nDTSTART:20260302T090000Z\nDTEND:20260302T100000Z\nRRULE:FREQ=MONTHLY;BYDAY=1XX\nSUMMARY:alice",
     "RRULE: Expected weekday"),
    ("UID:a\nDTSTART:20260302T090000Z\nDTEND:20260302T100000Z\nRRULE:FREQ=WEEKLY;INTERVAL=0\nSUMMARY:alice",
     "INTERVAL must be whole numbers in range"),
])
def test_unreadable_rules_are_refused_in_words(client, put_calendar, body, reason):
    response = put_calendar("incident-commander", vcalendar(body))
    assert response.status_code == 422
    text = str(response.get_json())
    assert reason in text and not any(raw in text for raw in RAW), text
