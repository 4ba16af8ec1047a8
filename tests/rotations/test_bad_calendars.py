"""Bad calendars get a clear 4xx and change nothing."""
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.rotations.calendar import MAX_CALENDAR_BYTES, CalendarError
from service.rotations.resolve import resolve_calendar
from tests.conftest import ADMIN

from .helpers import CALENDARS, PEOPLE, WINDOW, fixture_text, vcalendar

UTC = ZoneInfo("UTC")
JUNK = ["", "X", "20260230T100000", "99991231T235959Z", "00010101", "P-1D", "PT0S", "-PT5M", "FREQ=SECONDLY",
        "FREQ=YEARLY;COUNT=0", "FREQ=DAILY;BYMONTH=2;BYMONTHDAY=31", "FREQ=WEEKLY;UNTIL=20250101", "BYDAY=XX",
        "20260302T090000", "20260302", "20260302T090000Z/PT1H", "Nowhere/Else:20260302T090000"]

GOOD = "google_berlin.ics"
MiB = 1024 * 1024


def _nested(depth: int) -> str:
    return "BEGIN:VCALENDAR\n" + "BEGIN:X-NEST\n" * depth + "END:X-NEST\n" * depth + "END:VCALENDAR\n"


BAD = {
    "garbage": ("this is not a calendar at all\n\x00\x01", "must start with BEGIN:VCALENDAR"),
    "html error page": ("<!doctype html><html><body>Sign in</body></html>", "must start with BEGIN:VCALENDAR"),
    "empty calendar text": ("   \n\n", "empty"),
    "bad date": (vcalendar("UID:a\nDTSTART:2026-13-45\nDTEND:20260303T000000Z\nSUMMARY:alice"), "DTSTART"),
    "no DTSTART": (vcalendar("UID:a\nDTEND:20260303T000000Z\nSUMMARY:alice"), "has no DTSTART"),
    "ends before it starts": (vcalendar("UID:a\nDTSTART:20260303T000000Z\nDTEND:20260302T000000Z\nSUMMARY:alice"),
                              "ends before it starts"),
    "date and date-time mixed": (vcalendar("UID:a\nDTSTART;VALUE=DATE:20260303\nDTEND:20260304T000000Z\nSUMMARY:x"),
                                 "must both be dates or both date-times"),
    "bad RRULE": (vcalendar("UID:a\nDTSTART:20260302T000000Z\nDTEND:20260303T000000Z\nRRULE:FREQ=SOMETIMES\n"
                            "SUMMARY:alice"), "RRULE"),
    "never closed": ("BEGIN:VCALENDAR\nVERSION:2.0\nBEGIN:VEVENT\nUID:a\n", "never closed"),
    "END without BEGIN": ("BEGIN:VCALENDAR\nEND:VEVENT\nEND:VCALENDAR\n", "END without BEGIN"),
    "thousands of nested components": (_nested(5000), "nested more than"),
    "DTSTART twice": (vcalendar("UID:a\nDTSTART:20260302T000000Z\nDTSTART:20260303T000000Z\nSUMMARY:x"),
                      "DTSTART appears more than once"),
    "DTSTART as a duration": (vcalendar("UID:a\nDTSTART:P1D\nSUMMARY:x"), "not a date or a date-time"),
    "year 9999": (vcalendar("UID:a\nDTSTART:99991231T235959Z\nDTEND:99991231T235959Z\nSUMMARY:x"),
                  "lies outside 1900-2200"),
    "secondly rule": (vcalendar("UID:a\nDTSTART:20260302T000000Z\nDURATION:PT1S\nRRULE:FREQ=SECONDLY\nSUMMARY:x"),
                      "repeats too often"),
    "rule that never matches": (vcalendar("UID:a\nDTSTART:20260302T000000Z\nDTEND:20260302T010000Z\n"
                                          "RRULE:FREQ=DAILY;BYMONTH=2;BYMONTHDAY=30\nSUMMARY:x"),
                                "never yields a date"),
    "two calendars": (vcalendar("UID:a\nDTSTART:20260302T000000Z\nDTEND:20260303T000000Z") * 2,
                      "exactly one VCALENDAR"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_calendar_is_refused_with_a_clear_reason(case):
    text, reason = BAD[case]
    with pytest.raises(CalendarError) as raised:
        resolve_calendar(text, PEOPLE, *WINDOW, UTC)
    assert reason in str(raised.value)


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(sorted(p.name for p in CALENDARS.glob("*.ics"))), st.data())
def test_a_damaged_export_is_read_or_refused_never_anything_else(name, data):
    """Random damage to real exports (lines cut, dropped, values replaced): CalendarError or shifts, fast."""
    lines = fixture_text(name).splitlines()
    for _ in range(data.draw(st.integers(1, 3))):
        k = data.draw(st.integers(0, len(lines) - 1))
        damage = data.draw(st.sampled_from(["cut", "drop", "value", "insert"]))
        if damage == "cut":
            lines[k] = lines[k][:data.draw(st.integers(0, len(lines[k])))]
        elif damage == "drop":
            del lines[k]
        else:
            value = data.draw(st.sampled_from(JUNK))
            prop = data.draw(st.sampled_from(["DTSTART", "DTEND", "RRULE", "EXDATE", "RDATE", "RECURRENCE-ID",
                                              "DURATION", "TZID"]))
            if damage == "value" and ":" in lines[k]:
                lines[k] = lines[k].partition(":")[0] + ":" + value
            else:
                lines.insert(k, f"{prop}:{value}")
    try:
        resolve_calendar("\r\n".join(lines), PEOPLE, *WINDOW, UTC)
    except CalendarError as exc:
        assert exc.problems and all(p for p in exc.problems)
        assert not any(raw in str(exc) for raw in ("object has no attribute", "Traceback", "invalid '"))


@pytest.mark.parametrize("case", ["garbage", "bad date", "no DTSTART", "thousands of nested components", "bad RRULE"])
def test_bad_calendar_over_http_is_422_and_keeps_the_previous_shifts(client, put_calendar, case):
    assert put_calendar("incident-commander", GOOD).status_code == 200
    before = client.get("/api/rotations/incident-commander", headers=ADMIN).get_json()
    response = put_calendar("incident-commander", BAD[case][0])
    assert response.status_code == 422
    body = response.get_json()
    assert body["code"] == "invalid_calendar"
    assert BAD[case][1] in body["message"]
    assert body["errors"]["calendar"]
    assert client.get("/api/rotations/incident-commander", headers=ADMIN).get_json() == before


def test_bad_calendar_for_a_new_rotation_creates_nothing(client, put_calendar):
    assert put_calendar("new-rotation", BAD["no DTSTART"][0]).status_code == 422
    assert client.get("/api/rotations/new-rotation", headers=ADMIN).status_code == 404


def test_fifty_mebibyte_body_is_413(client, put_calendar):
    response = put_calendar("incident-commander", b"B" * (50 * MiB))
    assert response.status_code == 413
    assert response.get_json()["code"] == "request_entity_too_large"
    assert client.get("/api/rotations/incident-commander", headers=ADMIN).status_code == 404


def test_calendar_bodies_may_exceed_the_default_api_limit_up_to_ten_mebibytes(client, put_calendar):
    padding = "X-PADDING:" + "p" * 70 + "\n"
    text = fixture_text(GOOD).replace("BEGIN:VEVENT", padding * (2 * MiB // len(padding)) + "BEGIN:VEVENT", 1)
    assert MiB < len(text) < MAX_CALENDAR_BYTES
    assert put_calendar("incident-commander", text).status_code == 200
    assert put_calendar("incident-commander", b"B" * (MAX_CALENDAR_BYTES + 1)).status_code == 413


def test_empty_body_is_422(client, put_calendar):
    response = put_calendar("incident-commander", b"")
    assert response.status_code == 422
    assert "empty" in response.get_json()["message"]


def test_non_utf8_calendar_is_read_as_windows_1252(client, make_person, put_calendar):
    make_person("joao", "João Jardim")
    text = vcalendar("UID:a\nDTSTART:20260302T000000Z\nDTEND:20260309T000000Z\nSUMMARY:Plantão: João Jardim")
    assert put_calendar("incident-commander", text.encode("cp1252")).get_json()["people"] == ["joao"]
