"""Action items over HTTP, and the reminder rows they and the post-mortem deadline leave behind."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from service import db
from service.reviews.models import ReviewReminder
from tests.conftest import ADMIN, START, in_threads

UTC = timezone.utc


def pending_reminders(app):
    with app.app_context():
        rows = db.session.scalars(select(ReviewReminder).where(ReviewReminder.status == "pending")
                                  .order_by(ReviewReminder.due_at)).all()
        return [(r.purpose, r.due_at) for r in rows]


def test_action_items_are_numbered_per_incident(client, make_person, token_for, new_incident):
    make_person("bob", "Bob Baker")
    first, second = new_incident(), new_incident()
    writer = token_for("read", "write")
    created = client.post(f"{first}/actions", json={"action": "Add an alert", "owner": "bob",
                                                    "due_date": "2026-03-10"}, headers=writer)
    assert created.status_code == 201
    assert created.get_json() == {
        "number": 1, "action": "Add an alert", "owner": "bob", "owner_name": "Bob Baker",
        "due_date": "2026-03-10", "done": False, "done_at": None, "created_at": "2026-03-02T10:00:00Z",
        "created_by": "token:test-read-write", "updated_at": "2026-03-02T10:00:00Z",
    }
    assert client.post(f"{first}/actions", json={"action": "Write a runbook"}, headers=writer).get_json()["number"] == 2
    assert client.post(f"{second}/actions", json={"action": "Other"}, headers=writer).get_json()["number"] == 1
    listed = client.get(f"{first}/actions", headers=writer).get_json()
    assert [(a["number"], a["action"], a["owner"]) for a in listed] == [(1, "Add an alert", "bob"),
                                                                       (2, "Write a runbook", None)]
    assert client.get(f"{first}/actions?limit=1&offset=1", headers=writer).get_json()[0]["number"] == 2
    assert client.get(f"{first}/actions/2", headers=writer).get_json()["action"] == "Write a runbook"


def test_patch_action(client, make_person, frozen_clock, new_incident):
    make_person("bob")
    make_person("dana")
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "Add an alert", "owner": "bob"}, headers=ADMIN)
    frozen_clock.advance(hours=2)
    patched = client.patch(f"{url}/actions/1", json={"owner": "dana", "due_date": "2026-03-12",
                                                     "action": "Add two alerts"}, headers=ADMIN).get_json()
    assert (patched["owner"], patched["due_date"], patched["action"]) == ("dana", "2026-03-12", "Add two alerts")
    assert patched["updated_at"] == "2026-03-02T12:00:00Z"
    done = client.patch(f"{url}/actions/1", json={"done": True}, headers=ADMIN).get_json()
    assert done["done"] is True and done["done_at"] == "2026-03-02T12:00:00Z"
    undone = client.patch(f"{url}/actions/1", json={"done": False}, headers=ADMIN).get_json()
    assert undone["done_at"] is None
    cleared = client.patch(f"{url}/actions/1", json={"owner": None, "due_date": None}, headers=ADMIN).get_json()
    assert (cleared["owner"], cleared["due_date"]) == (None, None)


def test_bad_action_requests_change_nothing(client, make_person, token_for, new_incident):
    make_person("bob")
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "Add an alert"}, headers=ADMIN)
    cases = [
        ({"owner": "bob"}, "action"),
        ({"action": ""}, "action"),
        ({"action": "x", "owner": "zed"}, "owner"),
        ({"action": "x", "due_date": "next week"}, "due_date"),
        ({"action": "x", "priority": "high"}, "priority"),
    ]
    for body, field in cases:
        response = client.post(f"{url}/actions", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"]
    assert client.patch(f"{url}/actions/1", json={"done": "maybe"}, headers=ADMIN).status_code == 422
    assert client.patch(f"{url}/actions/1", json={"owner": "zed"}, headers=ADMIN).status_code == 422
    assert client.patch(f"{url}/actions/9", json={"done": True}, headers=ADMIN).status_code == 404
    assert client.post("/api/incidents/999/actions", json={"action": "x"}, headers=ADMIN).status_code == 404
    assert client.post(f"{url}/actions", json={"action": "x"}, headers=token_for("read")).status_code == 403
    assert [a["action"] for a in client.get(f"{url}/actions", headers=ADMIN).get_json()] == ["Add an alert"]
    assert client.get(f"{url}/actions/1", headers=ADMIN).get_json()["owner"] is None


def test_action_reminders_the_day_before_and_on_the_day(app, client, make_person, new_incident):
    make_person("bob")
    make_person("kai", timezone="Asia/Tokyo")
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "a", "owner": "bob", "due_date": "2026-03-10"}, headers=ADMIN)
    client.post(f"{url}/actions", json={"action": "b", "owner": "kai", "due_date": "2026-03-12"}, headers=ADMIN)
    client.post(f"{url}/actions", json={"action": "no owner", "due_date": "2026-03-12"}, headers=ADMIN)
    client.post(f"{url}/actions", json={"action": "no date", "owner": "bob"}, headers=ADMIN)
    assert pending_reminders(app) == [
        ("action_due_tomorrow", datetime(2026, 3, 9, 9, tzinfo=UTC)),   # business hours start, policy zone
        ("action_due_today", datetime(2026, 3, 10, 9, tzinfo=UTC)),
        ("action_due_tomorrow", datetime(2026, 3, 11, 0, tzinfo=UTC)),  # 09:00 in Tokyo
        ("action_due_today", datetime(2026, 3, 12, 0, tzinfo=UTC)),
    ]
    client.patch(f"{url}/actions/1", json={"done": True}, headers=ADMIN)
    client.patch(f"{url}/actions/2", json={"due_date": "2026-03-02"}, headers=ADMIN)  # today: both times passed
    assert pending_reminders(app) == []
    client.patch(f"{url}/actions/1", json={"done": False}, headers=ADMIN)
    assert [p for p, _ in pending_reminders(app)] == ["action_due_tomorrow", "action_due_today"]


def test_postmortem_reminder_12_hours_before_or_halfway(app, client, new_incident):
    url = new_incident("P1")
    client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    assert pending_reminders(app) == [("postmortem_due", START + timedelta(hours=36))]
    client.patch(url, json={"status": "investigating"}, headers=ADMIN)
    assert pending_reminders(app) == []


def test_short_window_reminds_halfway(app, client, monkeypatch, new_incident):
    from dataclasses import replace

    from service.runtime import runtime

    policy = runtime.policy
    short = replace(policy.severities["P1"], postmortem_within=timedelta(hours=8))
    monkeypatch.setattr(runtime, "policy", replace(policy, severities={**policy.severities, "P1": short}))
    url = new_incident("P1")
    client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    assert pending_reminders(app) == [("postmortem_due", START + timedelta(hours=4))]


def test_concurrent_additions_get_distinct_numbers(app, client, new_incident):
    from service.incidents.models import Incident
    from service.reviews.actions import add_action

    url = new_incident()
    incident_id = int(url.rsplit("/", 1)[1])
    def add(n: int) -> None:
        for i in range(4):
            with db.transaction() as s:
                add_action(s, s.get(Incident, incident_id), action=f"a{n}-{i}", actor="test")

    errors = in_threads(app, add, 6)
    assert errors == []
    numbers = [a["number"] for a in client.get(f"{url}/actions", headers=ADMIN).get_json()]
    assert numbers == list(range(1, 25))
