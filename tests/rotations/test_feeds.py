"""Calendar feeds: `POST …/calendar-token` and `GET /calendars/<token>.ics`."""
import icalendar

from service.wiring import run_tick
from tests.conftest import ADMIN

from .helpers import fixture_text, t


def _token_url(client, path, headers=ADMIN):
    response = client.post(path, headers=headers)
    assert response.status_code == 201, response.get_json()
    url = response.get_json()["url"]
    assert url.startswith("http://herald.test/calendars/") and url.endswith(".ics")
    return url.removeprefix("http://herald.test")


def _events(response):
    calendar = icalendar.Calendar.from_ical(response.data)
    return calendar, list(calendar.walk("VEVENT"))


def test_rotation_feed_serves_resolved_shifts_with_stable_uids_and_refresh_hints(client, team, put_calendar):
    put_calendar("incident-commander", "google_berlin.ics")
    client.post("/api/rotations/incident-commander/overrides", headers=ADMIN,
                json={"person": "bob", "start": "2026-03-04T12:00:00Z", "end": "2026-03-05T12:00:00Z"})
    path = _token_url(client, "/api/rotations/incident-commander/calendar-token")

    response = client.get(path)  # no Authorization: the token is the credential
    assert response.status_code == 200
    assert response.mimetype == "text/calendar"
    assert b"REFRESH-INTERVAL;VALUE=DURATION:PT1H" in response.data
    assert b"X-PUBLISHED-TTL:PT1H" in response.data
    calendar, events = _events(response)
    starts = [e.decoded("DTSTART") for e in events]
    assert min(starts) >= t("2026-02-15T00:00")  # 15 days back…
    assert max(starts) < t("2026-08-29T10:00")  # …to 180 days ahead
    first = [e for e in events if e.decoded("DTSTART") == t("2026-03-02T08:00")][0]
    assert str(first["SUMMARY"]) == "Alice Archer (Incident Commander)"
    assert first.decoded("DTEND") == t("2026-03-04T12:00")  # cut by Bob's override
    override = [e for e in events if e.decoded("DTSTART") == t("2026-03-04T12:00")][0]
    assert str(override["SUMMARY"]) == "Bob Baker (Incident Commander)"

    again = client.get(path)
    assert [str(e["UID"]) for e in _events(again)[1]] == [str(e["UID"]) for e in events]
    assert len({str(e["UID"]) for e in events}) == len(events)
    assert response.headers["ETag"]


def test_feed_answers_304_when_unchanged_and_changes_when_the_schedule_does(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    path = _token_url(client, "/api/rotations/incident-commander/calendar-token")
    first = client.get(path)
    etag = first.headers["ETag"]
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    frozen_clock.advance(minutes=5)
    run_tick(frozen_clock.now())
    assert client.get(path, headers={"If-None-Match": etag}).status_code == 304
    client.post("/api/rotations/incident-commander/overrides", headers=ADMIN,
                json={"person": "carol", "start": "2026-03-10T00:00:00Z", "end": "2026-03-11T00:00:00Z"})
    changed = client.get(path, headers={"If-None-Match": etag})
    assert changed.status_code == 200
    assert changed.headers["ETag"] != etag


def test_feed_carries_no_contact_details(client, make_person, put_calendar):
    make_person("alice", "Alice Archer")
    text = fixture_text("google_berlin.ics").replace("SUMMARY:Night cover", "SUMMARY:Night cover zed@agency.example")
    put_calendar("incident-commander", text)
    body = client.get(_token_url(client, "/api/rotations/incident-commander/calendar-token")).data.decode()
    assert "@example.com" not in body and "zed@agency.example" not in body
    assert "ATTENDEE" not in body and "ORGANIZER" not in body
    assert "Night cover (address hidden) (Incident Commander)" in body.replace("\r\n ", "")


def test_person_feed_spans_rotations_and_shows_only_that_person(client, team, put_calendar):
    put_calendar("incident-commander", "google_berlin.ics")
    put_calendar("scribe", fixture_text("google_berlin.ics").replace("Alice Archer", "Carol Chen"))
    path = _token_url(client, "/api/people/alice/calendar-token")
    calendar, events = _events(client.get(path))
    assert str(calendar["X-WR-CALNAME"]) == "Alice Archer: on call"
    assert events and {str(e["SUMMARY"]) for e in events} == {"On call: Incident Commander"}
    carol = _events(client.get(_token_url(client, "/api/people/carol/calendar-token")))[1]
    assert {str(e["SUMMARY"]) for e in carol} == {"On call: Incident Commander", "On call: Scribe"}


def test_a_new_token_revokes_the_old_one_and_tokens_need_admin(client, team, put_calendar, token_for):
    put_calendar("incident-commander", "google_berlin.ics")
    old = _token_url(client, "/api/rotations/incident-commander/calendar-token")
    new = _token_url(client, "/api/rotations/incident-commander/calendar-token")
    assert old != new
    assert client.get(old).status_code == 404
    assert client.get(new).status_code == 200
    assert client.get("/calendars/not-a-token.ics").status_code == 404
    assert client.post("/api/rotations/incident-commander/calendar-token",
                       headers=token_for("read", "write")).status_code == 403
    assert client.post("/api/people/nobody/calendar-token", headers=ADMIN).status_code == 404
    secret = new.removeprefix("/calendars/").removesuffix(".ics")
    assert len(secret) >= 32  # 192 random bits, URL-safe


def test_token_is_stored_hashed(app, client, team, put_calendar):
    from sqlalchemy import select

    from service import db
    from service.rotations.models import CalendarFeed

    put_calendar("incident-commander", "google_berlin.ics")
    secret = _token_url(client, "/api/rotations/incident-commander/calendar-token").split("/")[-1][:-4]
    with app.app_context():
        stored = db.session.scalars(select(CalendarFeed.token_hash)).all()
    assert stored and secret not in stored and all(len(h) == 64 for h in stored)
