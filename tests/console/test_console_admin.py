"""Rotations, people, feeds and overrides from the console: admins administer, everyone covers their own shifts."""
import io
from pathlib import Path

from tests.conftest import ADMIN

CALENDARS = Path(__file__).resolve().parents[1] / "rotations" / "calendars"


def test_an_admin_imports_a_calendar_and_sees_the_report(client, as_person, team):
    ada, csrf = as_person("ada@example.com")
    body = (CALENDARS / "google_utc_recurring.ics").read_bytes()
    response = ada.post("/console/rotations/import", content_type="multipart/form-data",
                        data={"csrf_token": csrf, "name": "platform", "calendar": (io.BytesIO(body), "cal.ics")})
    html = response.get_data(as_text=True)
    assert response.status_code == 200 and "Import report: platform" in html
    assert client.get("/api/rotations/platform", headers=ADMIN).status_code == 200
    broken = ada.post("/console/rotations/import", content_type="multipart/form-data",
                      data={"csrf_token": csrf, "name": "broken", "calendar": (io.BytesIO(b"not a calendar"), "x.ics")})
    assert broken.status_code == 422 and 'aria-invalid="true"' in broken.get_data(as_text=True)
    assert client.get("/api/rotations/broken", headers=ADMIN).status_code == 404


def test_responders_cannot_administer(client, as_person, team):
    alice, csrf = as_person("alice@example.com")
    body = (CALENDARS / "google_utc_recurring.ics").read_bytes()
    refused = alice.post("/console/rotations/import", content_type="multipart/form-data",
                         data={"csrf_token": csrf, "name": "platform", "calendar": (io.BytesIO(body), "c.ics")})
    assert refused.status_code == 403
    assert alice.post("/console/people", data={"csrf_token": csrf, "handle": "zed", "name": "Zed",
                                               "email": "zed@example.com"}).status_code == 403
    assert alice.post("/console/people/bob", data={"csrf_token": csrf, "name": "Robert"}).status_code == 403
    assert client.get("/api/rotations/platform", headers=ADMIN).status_code == 404
    assert client.get("/api/people/bob", headers=ADMIN).get_json()["name"] == "Bob Baker"


def test_an_admin_adds_and_edits_people(client, as_person, team):
    ada, csrf = as_person("ada@example.com")
    added = ada.post("/console/people", data={"csrf_token": csrf, "handle": "zed", "name": "Zed Zane",
                                              "email": "zed@example.com", "aliases": "z.zane@corp.example, zz"})
    assert added.status_code == 303
    assert client.get("/api/people/zed", headers=ADMIN).get_json()["aliases"] == ["z.zane@corp.example", "zz"]
    taken = ada.post("/console/people", data={"csrf_token": csrf, "handle": "zed", "name": "Z", "email": "z@x.io"})
    assert taken.status_code == 422 and "already exists" in taken.get_data(as_text=True)
    edited = ada.post("/console/people/zed", data={"csrf_token": csrf, "name": "Zed Z", "email": "zed@example.com",
                                                   "aliases": "", "teams_webhook": "", "timezone": "Europe/Berlin"})
    assert edited.status_code == 303
    person = client.get("/api/people/zed", headers=ADMIN).get_json()
    assert (person["name"], person["aliases"], person["timezone"]) == ("Zed Z", [], "Europe/Berlin")
    bad = ada.post("/console/people/zed", data={"csrf_token": csrf, "name": "Zed", "email": "not-an-email"})
    assert bad.status_code == 422
    assert client.get("/api/people/zed", headers=ADMIN).get_json()["email"] == "zed@example.com"


def test_overrides_put_yourself_on_call_admins_anyone(client, as_person, team):
    form = {"start": "2026-03-02T12:00", "end": "2026-03-02T18:00"}
    bob, csrf = as_person("bob@example.com")
    refused = bob.post("/console/rotations/incident-commander/overrides",
                       data={**form, "person": "carol", "csrf_token": csrf})
    assert refused.status_code == 403
    mine = bob.post("/console/rotations/incident-commander/overrides",
                    data={**form, "person": "bob", "csrf_token": csrf})
    assert mine.status_code == 303
    overrides = client.get("/api/rotations/incident-commander/overrides", headers=ADMIN).get_json()
    assert [(o["person"], o["start"], o["end"]) for o in overrides] == [
        ("bob", "2026-03-02T12:00:00Z", "2026-03-02T18:00:00Z")]  # read in the policy's zone (UTC)
    backwards = bob.post("/console/rotations/incident-commander/overrides",
                         data={"start": "2026-03-02T18:00", "end": "2026-03-02T12:00", "person": "bob",
                               "csrf_token": csrf})
    assert backwards.status_code == 422
    carol, carol_csrf = as_person("carol@example.com")
    assert carol.post(f"/console/rotations/incident-commander/overrides/{overrides[0]['id']}/remove",
                      data={"csrf_token": carol_csrf}).status_code == 403
    ada, ada_csrf = as_person("ada@example.com")
    assert ada.post(f"/console/rotations/incident-commander/overrides/{overrides[0]['id']}/remove",
                    data={"csrf_token": ada_csrf}).status_code == 303
    assert client.get("/api/rotations/incident-commander/overrides", headers=ADMIN).get_json() == []


def test_my_calendar_link_is_shown_once_and_works(client, as_person, team):
    alice, csrf = as_person("alice@example.com")
    assert alice.get("/console/me").headers["Location"].endswith("/console/people/alice")
    page = alice.post("/console/people/alice/calendar-link", data={"csrf_token": csrf}).get_data(as_text=True)
    url = page.split('id="feed-url" class="wide" readonly value="', 1)[1].split('"', 1)[0]
    assert "/calendars/" in url
    feed = client.get(url.removeprefix("http://herald.test"))
    assert feed.status_code == 200 and "BEGIN:VCALENDAR" in feed.get_data(as_text=True)
    assert url not in alice.get("/console/people/alice").get_data(as_text=True)  # shown once
    assert alice.post("/console/people/bob/calendar-link", data={"csrf_token": csrf}).status_code == 403
