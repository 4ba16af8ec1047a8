"""Bad calendars get a clear 4xx and change nothing."""
import pytest

from service.rotations.calendar import MAX_CALENDAR_BYTES, CalendarError, parse_calendar
from tests.conftest import ADMIN

from .helpers import fixture_text, vcalendar

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
    "two calendars": (vcalendar("UID:a\nDTSTART:20260302T000000Z\nDTEND:20260303T000000Z") * 2,
                      "exactly one VCALENDAR"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_bad_calendar_is_refused_with_a_clear_reason(case):
    text, reason = BAD[case]
    with pytest.raises(CalendarError) as raised:
        parse_calendar(text, __import__("zoneinfo").ZoneInfo("UTC"))
    assert reason in str(raised.value)


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
