"""Calendars built to hang Herald: each is refused (or stopped by the budget) within a time limit.

The expansion runs in a child process of the test with a timeout, so a rule that never terminates
fails the test instead of hanging the suite (as INTERVAL=0 did: dateutil never advanced).
"""
import json
import subprocess
import sys
import threading
import time

import pytest

from service import db
from service.config import PROJECT_ROOT
from service.incidents import lifecycle

from .helpers import vcalendar

LIMIT = 60  # seconds for one calendar, child process included; a refusal takes milliseconds


def _event(rule: str, tzid: str | None = None) -> str:
    when = (f"DTSTART;TZID={tzid}:20260101T090000\nDTEND;TZID={tzid}:20260101T100000" if tzid
            else "DTSTART:20260101T090000Z\nDTEND:20260101T100000Z")
    return f"UID:hang@test\n{when}\nSUMMARY:alice\nRRULE:{rule}"


def _zone(start: str, rule: str) -> str:
    return ("BEGIN:VTIMEZONE\nTZID:Custom Zone\nBEGIN:STANDARD\n"
            f"DTSTART:{start}\nTZOFFSETFROM:+0100\nTZOFFSETTO:+0000\nRRULE:{rule}\nEND:STANDARD\nEND:VTIMEZONE\n")


ALL_DAYS = "BYDAY=MO,TU,WE,TH,FR,SA,SU"
HOURS = "BYHOUR=" + ",".join(str(h) for h in range(24))
PATHOLOGICAL = {
    # the 235-byte calendar of the report: dateutil yields the same moment for ever
    "INTERVAL=0": (vcalendar(_event("FREQ=DAILY;INTERVAL=0")), "INTERVAL"),
    "INTERVAL=-3": (vcalendar(_event("FREQ=WEEKLY;INTERVAL=-3")), "INTERVAL"),
    "INTERVAL=x": (vcalendar(_event("FREQ=WEEKLY;INTERVAL=x")), "RRULE"),
    # a minutely rule in the calendar's own zone: 35 million transitions from 1970 to 2038
    "VTIMEZONE minutely": (vcalendar(_event("FREQ=WEEKLY", "Custom Zone"),
                                     header=_zone("19700101T000000", "FREQ=MINUTELY")), "VTIMEZONE"),
    "VTIMEZONE hourly since 1601": (vcalendar(_event("FREQ=WEEKLY", "Custom Zone"),
                                              header=_zone("16010101T000000", "FREQ=HOURLY")), "VTIMEZONE"),
    "VTIMEZONE INTERVAL=0": (vcalendar(_event("FREQ=WEEKLY", "Custom Zone"),
                                       header=_zone("16010101T000000", "FREQ=YEARLY;INTERVAL=0;BYMONTH=10")),
                             "VTIMEZONE"),
    # BYDAY makes a yearly rule fire on every such weekday of the year: 53x, not 1x
    "YEARLY BYDAY": (vcalendar(_event(f"FREQ=YEARLY;{ALL_DAYS};{HOURS};BYMINUTE=0,30")), "repeats too often"),
    "MONTHLY BYDAY": (vcalendar(_event(f"FREQ=MONTHLY;{ALL_DAYS};{HOURS};BYMINUTE=0,20,40")), "repeats too often"),
}


def _resolve_in_child(calendar: str, seconds: float | None = None) -> dict:
    """Resolve in a fresh interpreter, killed after LIMIT seconds: a hang fails, it does not hang the suite."""
    script = f"""
import json, sys
from datetime import datetime, timezone
from zoneinfo import ZoneInfo
from service.rotations.calendar import CalendarError
from service.rotations.resolve import resolve_calendar
from service.rotations.budget import resolve_bounded
text = sys.stdin.read()
window = (datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2027, 2, 1, tzinfo=timezone.utc))
try:
    if {seconds!r} is None:
        result = resolve_calendar(text, [], *window, ZoneInfo("UTC"))
    else:
        result = resolve_bounded(text, [], *window, ZoneInfo("UTC"), seconds={seconds!r})
    print(json.dumps({{"shifts": len(result.shifts)}}))
except CalendarError as exc:
    print(json.dumps({{"refused": str(exc)}}))
"""
    started = time.monotonic()
    try:
        done = subprocess.run([sys.executable, "-c", script], input=calendar, capture_output=True, text=True,
                              timeout=LIMIT, cwd=PROJECT_ROOT)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the calendar was still being expanded after {LIMIT} s")
    assert done.returncode == 0, done.stderr[-2000:]
    return {**json.loads(done.stdout.strip().splitlines()[-1]), "took": time.monotonic() - started}


@pytest.mark.parametrize("case", sorted(PATHOLOGICAL))
def test_a_rule_that_cannot_terminate_is_refused_at_once(case):
    calendar, reason = PATHOLOGICAL[case]
    outcome = _resolve_in_child(calendar)
    assert "refused" in outcome, outcome
    assert reason in outcome["refused"]


def test_the_budget_stops_what_no_check_foresaw():
    """DAILY with BYSETPOS=2 never matches after its first day: dateutil walks to the year 9999 (11 s here)
    without yielding. No static check knows it; the wall-clock budget stops it."""
    calendar = vcalendar(_event("FREQ=DAILY;BYSETPOS=2"))
    outcome = _resolve_in_child(calendar, seconds=1.0)
    assert "refused" in outcome, outcome
    assert "took longer than 1 seconds" in outcome["refused"]


def test_the_budget_lets_a_real_calendar_through():
    outcome = _resolve_in_child(vcalendar(_event("FREQ=WEEKLY;BYDAY=MO")), seconds=20)
    assert outcome.get("shifts", 0) > 50, outcome


def test_a_hanging_calendar_is_a_422_and_holds_no_lock(app, client, put_calendar):
    """While a costly calendar is expanded (here until its budget runs out), the database is free: an
    incident opens at once; then the upload is refused and nothing changed."""
    app.config["HERALD"].calendar_seconds = 3.0
    answer = {}
    upload = threading.Thread(target=lambda: answer.update(
        response=put_calendar("incident-commander", vcalendar(_event("FREQ=DAILY;BYSETPOS=2")))))
    upload.start()
    time.sleep(0.5)
    with app.app_context(), db.transaction() as s:  # would wait for the write lock (30 s) if it were held
        lifecycle.open_incident(s, title="meanwhile", severity="P3", actor="test")
    assert upload.is_alive(), "the expansion should still be running"
    upload.join(LIMIT)
    response = answer["response"]
    assert response.status_code == 422
    assert "took longer than 3 seconds" in response.get_json()["message"]
    assert client.get("/api/rotations/incident-commander", headers={"Authorization": "Bearer test-admin-token"}
                      ).status_code == 404


def test_interval_zero_over_the_api_is_a_422(put_calendar):
    response = put_calendar("incident-commander", PATHOLOGICAL["INTERVAL=0"][0])
    assert response.status_code == 422
    assert "INTERVAL" in response.get_json()["message"]
