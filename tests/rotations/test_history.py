"""The shift record: who was on call years back, and imports that change the future but never the past."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import delete, select, update

from service import db
from service.rotations.models import Rotation, Shift
from service.wiring import run_tick
from tests.conftest import ADMIN

from .helpers import vcalendar

UTC = timezone.utc


def weekly(first_person: str, second_person: str, since: str = "20240101T090000") -> str:
    """Two people alternating weekly on Mondays 09:00 London time since `since`."""
    return vcalendar(
        f"UID:a@test\nDTSTART;TZID=Europe/London:{since}\nDURATION:P7D\nRRULE:FREQ=WEEKLY;INTERVAL=2\n"
        f"SUMMARY:On call: {first_person}",
        f"UID:b@test\nDTSTART;TZID=Europe/London:{since[:6]}{int(since[6:8]) + 7:02d}{since[8:]}\nDURATION:P7D\n"
        f"RRULE:FREQ=WEEKLY;INTERVAL=2\nSUMMARY:On call: {second_person}",
        header="X-WR-TIMEZONE:Europe/London\n",
    )


def who(client, at: str) -> str | None:
    answer = client.get(f"/api/oncall?at={at}", headers=ADMIN).get_json()["rotations"]["incident-commander"]
    return answer["person"] if answer else None


def listing(client, start: str, end: str) -> list[tuple]:
    response = client.get(f"/api/rotations/incident-commander/shifts?from={start}&to={end}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return [(s["person"], s["start"], s["end"]) for s in response.get_json()]


def test_who_was_on_call_two_years_back(client, team, put_calendar):
    assert put_calendar("incident-commander", weekly("Alice Archer", "Bob Baker")).status_code == 200
    # 2024-01-01 alice, 01-08 bob, ... ; 4 October 2024 (a Friday) falls in the week from Mon 30 Sep.
    weeks = (datetime(2024, 9, 30, tzinfo=UTC) - datetime(2024, 1, 1, tzinfo=UTC)).days // 7
    expected = "alice" if weeks % 2 == 0 else "bob"
    assert who(client, "2024-10-04T02:00:00Z") == expected
    assert listing(client, "2024-10-04T00:00:00Z", "2024-10-05T00:00:00Z") == [
        (expected, "2024-09-30T08:00:00Z", "2024-10-07T08:00:00Z")]  # BST: 09:00 London is 08:00 UTC
    assert who(client, "2023-12-31T12:00:00Z") is None  # before the calendar began


def test_a_reimport_changes_the_future_never_the_past(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", weekly("Alice Archer", "Bob Baker"))
    override = client.post("/api/rotations/incident-commander/overrides", headers=ADMIN, json={
        "person": "carol", "start": "2026-02-10T00:00:00Z", "end": "2026-02-11T00:00:00Z"})
    assert override.status_code == 201
    past_before = listing(client, "2025-09-01T00:00:00Z", "2026-03-02T09:00:00Z")
    current = who(client, "2026-03-02T10:00:00Z")
    assert current in ("alice", "bob")

    frozen_clock.advance(hours=2)  # 12:00 on Monday 2 March 2026, in the middle of a shift
    # The new calendar hands everything to Carol, from the calendar's very beginning.
    response = put_calendar("incident-commander", weekly("Carol Chen", "Carol Chen"))
    assert response.status_code == 200
    assert listing(client, "2025-09-01T00:00:00Z", "2026-03-02T09:00:00Z") == past_before
    assert listing(client, "2026-03-02T09:00:00Z", "2026-03-02T13:00:00Z") == [
        (current, "2026-03-02T09:00:00Z", "2026-03-02T12:00:00Z"), ("carol", "2026-03-02T12:00:00Z", "2026-03-09T09:00:00Z")]
    assert who(client, "2026-02-10T12:00:00Z") == "carol"  # the override stays in the record
    assert who(client, "2026-03-02T11:59:59Z") == current  # until the import, as it was
    assert who(client, "2026-03-02T12:00:00Z") == "carol"  # from the import on, the new calendar
    assert who(client, "2026-06-01T12:00:00Z") == "carol"

    frozen_clock.advance(days=2)  # the daily re-resolve and a subscription-style re-import keep it too
    run_tick(frozen_clock.now())
    assert who(client, "2026-03-02T11:59:59Z") == current


def test_reimporting_the_same_calendar_keeps_the_shift_in_progress_whole(app, client, team, put_calendar,
                                                                         frozen_clock):
    put_calendar("incident-commander", weekly("Alice Archer", "Bob Baker"))
    before = listing(client, "2026-02-20T00:00:00Z", "2026-03-20T00:00:00Z")
    for _ in range(3):
        frozen_clock.advance(minutes=10)
        put_calendar("incident-commander", weekly("Alice Archer", "Bob Baker"))
    assert listing(client, "2026-02-20T00:00:00Z", "2026-03-20T00:00:00Z") == before
    with app.app_context():
        starts = db.session.scalars(select(Shift.start)).all()
        assert len(starts) == len(set(starts))  # no fragments at the moments of the imports


def test_a_rotation_recorded_before_history_was_kept_gets_its_past_filled_in(app, client, team, put_calendar,
                                                                            frozen_clock):
    put_calendar("incident-commander", weekly("Alice Archer", "Bob Baker"))
    expected = listing(client, "2025-01-06T00:00:00Z", "2025-03-01T00:00:00Z")
    recorded_from = frozen_clock.now() - timedelta(days=30)
    with app.app_context(), db.transaction() as s:  # as an older Herald left it: 30 days of past
        s.execute(delete(Shift).where(Shift.end <= recorded_from))
        s.execute(update(Shift).where(Shift.start < recorded_from).values(start=recorded_from))
        s.execute(update(Rotation).values(materialised_from=recorded_from))
    assert listing(client, "2025-01-06T00:00:00Z", "2025-03-01T00:00:00Z") == []
    frozen_clock.advance(days=1, minutes=1)
    run_tick(frozen_clock.now())
    assert listing(client, "2025-01-06T00:00:00Z", "2025-03-01T00:00:00Z") == expected
    with app.app_context():
        first = db.session.scalars(select(Shift).where(Shift.end > recorded_from).order_by(Shift.start)).first()
        assert first.start < recorded_from  # the shift cut at the old record's start is whole again
