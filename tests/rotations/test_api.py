"""The rotations API over HTTP, on SQLite and PostgreSQL: import, who is on call, shifts, overrides, the ticks."""

from service.wiring import run_tick
from tests.conftest import ADMIN

from .helpers import fixture_text

GOOGLE = "google_berlin.ics"


def oncall(client, at=None):
    response = client.get("/api/oncall" + (f"?at={at}" if at else ""), headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def rotation_state(client, name="incident-commander"):
    return client.get(f"/api/rotations/{name}", headers=ADMIN).get_json()


def shifts(client, name, start, end):
    response = client.get(f"/api/rotations/{name}/shifts?from={start}&to={end}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_import_returns_the_report_and_answers_who_is_on_call(client, team, put_calendar):
    response = put_calendar("incident-commander", GOOGLE)
    assert response.status_code == 200, response.get_json()
    report = response.get_json()
    assert report["rotation"] == "incident-commander"
    assert report["events"] == 4
    assert report["people"] == ["alice", "bob", "carol"]
    assert report["unknown"] == [] and report["warnings"] == []
    assert report["shifts"] > 20  # a fortnightly pair of weekly shifts over the 430-day horizon

    now = oncall(client)
    assert now["at"] == "2026-03-02T10:00:00Z"
    assert now["rotations"]["incident-commander"] == {
        "person": "alice", "name": "Alice Archer", "label": "On call: Alice Archer",
        "start": "2026-03-02T08:00:00Z", "end": "2026-03-09T08:00:00Z", "override": False,
    }
    assert now["roles"]["incident_commander"]["person"] == "alice"
    assert now["roles"]["technical_lead"] is None
    assert oncall(client, "2026-03-18T20:00:00Z")["roles"]["incident_commander"]["person"] == "carol"
    assert oncall(client, "2026-03-23T09:00:00Z")["roles"]["incident_commander"] is None


def test_oncall_rejects_a_bad_time(client):
    response = client.get("/api/oncall?at=yesterday", headers=ADMIN)
    assert response.status_code == 422
    assert "at" in response.get_json()["errors"]


def test_reimport_replaces_shifts_and_a_failed_import_keeps_them(client, team, put_calendar):
    assert put_calendar("incident-commander", GOOGLE).status_code == 200
    before = shifts(client, "incident-commander", "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z")

    broken = fixture_text(GOOGLE).replace("DTSTART;TZID=Europe/Berlin:20260302T090000", "DTSTART:2026-13-45")
    failed = put_calendar("incident-commander", broken)
    assert failed.status_code == 422
    assert failed.get_json()["code"] == "invalid_calendar"
    assert "DTSTART" in failed.get_json()["message"]
    assert shifts(client, "incident-commander", "2026-03-01T00:00:00Z", "2026-05-01T00:00:00Z") == before

    swapped = fixture_text(GOOGLE).replace("On call: Alice Archer", "On call: Bob Baker")
    assert put_calendar("incident-commander", swapped).status_code == 200
    assert oncall(client)["rotations"]["incident-commander"]["person"] == "bob"


def test_shift_listing_applies_overrides_and_checks_the_window(client, team, put_calendar):
    put_calendar("incident-commander", GOOGLE)
    created = client.post("/api/rotations/incident-commander/overrides", headers=ADMIN, json={
        "person": "bob", "start": "2026-03-04T12:00:00Z", "end": "2026-03-05T12:00:00Z"})
    assert created.status_code == 201, created.get_json()
    listed = shifts(client, "incident-commander", "2026-03-02T09:00:00Z", "2026-03-10T00:00:00Z")
    assert [(s["person"], s["start"], s["end"], s["override"]) for s in listed] == [
        ("alice", "2026-03-02T08:00:00Z", "2026-03-04T12:00:00Z", False),
        ("bob", "2026-03-04T12:00:00Z", "2026-03-05T12:00:00Z", True),
        ("alice", "2026-03-05T12:00:00Z", "2026-03-09T08:00:00Z", False),
        ("bob", "2026-03-09T08:00:00Z", "2026-03-16T08:00:00Z", False),
    ]
    assert len({s["uid"] for s in listed}) == 4
    backwards = client.get("/api/rotations/incident-commander/shifts?from=2026-03-05T00:00:00Z&to=2026-03-01T00:00:00Z",
                           headers=ADMIN)
    assert backwards.status_code == 422
    too_long = client.get("/api/rotations/incident-commander/shifts?from=2026-03-05T00:00:00Z&to=2028-03-01T00:00:00Z",
                          headers=ADMIN)
    assert too_long.status_code == 422
    assert client.get("/api/rotations/nope/shifts", headers=ADMIN).status_code == 404


def test_overrides_win_can_be_listed_and_deleted(client, team, put_calendar, token_for, frozen_clock):
    put_calendar("incident-commander", GOOGLE)
    writer, reader = token_for("read", "write"), token_for("read")
    url = "/api/rotations/incident-commander/overrides"
    body = {"person": "carol", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T18:00:00Z"}
    assert client.post(url, json=body, headers=reader).status_code == 403
    created = client.post(url, json=body, headers=writer)
    assert created.status_code == 201
    override = created.get_json()
    assert override["rotation"] == "incident-commander"
    assert (override["person"], override["created_by"]) == ("carol", "token:test-read-write")
    now = oncall(client)["rotations"]["incident-commander"]
    assert (now["person"], now["override"], now["end"]) == ("carol", True, "2026-03-02T18:00:00Z")

    frozen_clock.advance(minutes=1)
    newer = client.post(url, json={**body, "person": "bob"}, headers=writer).get_json()
    assert oncall(client)["rotations"]["incident-commander"]["person"] == "bob"  # the newest override wins
    assert [o["id"] for o in client.get(url, headers=reader).get_json()] == [override["id"], newer["id"]]
    assert client.get(f"{url}?from=2026-03-03T00:00:00Z", headers=reader).get_json() == []

    assert client.delete(f"{url}/{newer['id']}", headers=writer).status_code == 204
    assert client.delete(f"{url}/{newer['id']}", headers=writer).status_code == 404
    assert client.delete(f"{url}/{override['id']}", headers=writer).status_code == 204
    assert oncall(client)["rotations"]["incident-commander"]["person"] == "alice"


def test_override_input_is_checked(client, team, put_calendar):
    put_calendar("incident-commander", GOOGLE)
    url = "/api/rotations/incident-commander/overrides"
    unknown = client.post(url, json={"person": "zed", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T18:00:00Z"},
                          headers=ADMIN)
    assert unknown.status_code == 422 and "person" in unknown.get_json()["errors"]
    backwards = client.post(url, json={"person": "bob", "start": "2026-03-02T18:00:00Z", "end": "2026-03-02T09:00:00Z"},
                            headers=ADMIN)
    assert backwards.status_code == 422 and "end" in backwards.get_json()["errors"]
    extra = client.post(url, json={"person": "bob", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T18:00:00Z",
                                   "reason": "x"}, headers=ADMIN)
    assert extra.status_code == 422
    missing = client.post("/api/rotations/nope/overrides", headers=ADMIN,
                          json={"person": "bob", "start": "2026-03-02T09:00:00Z", "end": "2026-03-02T18:00:00Z"})
    assert missing.status_code == 404


def test_rotation_listing_and_deletion(client, team, put_calendar, token_for):
    put_calendar("incident-commander", GOOGLE)
    listed = client.get("/api/rotations", headers=token_for("read")).get_json()
    assert len(listed) == 1
    rotation = listed[0]
    assert rotation["name"] == "incident-commander"
    assert rotation["kind"] == "upload"
    assert rotation["url"] is None and rotation["last_error"] is None
    assert rotation["roles"] == ["incident_commander"]
    assert rotation["on_call"]["person"] == "alice"
    assert rotation["shifts_from"] == "2021-02-26T10:00:00Z"  # the record reaches five years back
    assert rotation["shifts_until"] == "2027-04-06T10:00:00Z"
    assert rotation["report"]["people"] == ["alice", "bob", "carol"]
    assert client.delete("/api/rotations/incident-commander", headers=token_for("read", "write")).status_code == 403
    refused = client.delete("/api/rotations/incident-commander", headers=ADMIN)
    assert refused.status_code == 409 and "Incident Commander" in refused.get_json()["message"]
    assert client.get("/api/rotations/incident-commander", headers=ADMIN).status_code == 200
    assert client.delete("/api/rotations/incident-commander?force=1", headers=ADMIN).status_code == 204
    assert client.get("/api/rotations/incident-commander", headers=ADMIN).status_code == 404
    assert oncall(client)["roles"]["incident_commander"] is None


def test_import_needs_admin_and_a_valid_name(client, put_calendar, token_for):
    assert put_calendar("incident-commander", GOOGLE, headers=token_for("read", "write")).status_code == 403
    assert put_calendar("incident-commander", GOOGLE, headers={}).status_code == 401
    bad_name = put_calendar("no spaces please", GOOGLE)
    assert bad_name.status_code == 422 and "name" in bad_name.get_json()["errors"]


def test_people_added_after_the_import_are_matched_at_the_next_tick(client, make_person, put_calendar, frozen_clock):
    report = put_calendar("incident-commander", GOOGLE).get_json()
    assert report["people"] == [] and "On call: Alice Archer" in report["unknown"]
    assert oncall(client)["rotations"]["incident-commander"]["person"] is None
    make_person("alice", "Alice Archer")
    run_tick(frozen_clock.now())
    assert oncall(client)["rotations"]["incident-commander"]["person"] == "alice"
    rotation = rotation_state(client)
    assert rotation["report"]["people"] == ["alice"]


def test_the_daily_tick_slides_the_horizon(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", GOOGLE)
    run_tick(frozen_clock.now())  # nothing due yet
    assert rotation_state(client)["shifts_until"] == "2027-04-06T10:00:00Z"
    frozen_clock.advance(days=3)  # a late tick catches up once
    run_tick(frozen_clock.now())
    rotation = rotation_state(client)
    assert rotation["shifts_from"] == "2021-02-26T10:00:00Z"  # the record of the past stays
    assert rotation["shifts_until"] == "2027-04-09T10:00:00Z"
    beyond = shifts(client, "incident-commander", "2027-04-07T00:00:00Z", "2027-04-09T00:00:00Z")
    assert beyond and beyond[-1]["end"] == "2027-04-09T10:00:00Z"  # shifts now reach the new horizon


def test_openapi_documents_the_rotation_endpoints(client):
    paths = client.get("/openapi.json").get_json()["paths"]
    for path in ("/api/oncall", "/api/rotations", "/api/rotations/{name}/calendar", "/api/rotations/{name}/shifts",
                 "/api/rotations/{name}/overrides", "/api/rotations/{name}/overrides/{override_id}",
                 "/api/rotations/{name}/refresh", "/api/rotations/{name}/calendar-token",
                 "/api/people/{handle}/calendar-token"):
        assert path in paths, path
    assert "text/calendar" in paths["/api/rotations/{name}/calendar"]["put"]["requestBody"]["content"]
