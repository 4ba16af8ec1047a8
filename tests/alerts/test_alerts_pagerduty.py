"""POST /v2/enqueue speaks PagerDuty Events API v2, answers included."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from service import db
from service.alerts.models import AlertEvent
from tests.alerts.senders import payload

ENQUEUE = "/v2/enqueue"


@pytest.fixture
def routing_key(ingest) -> str:
    return ingest["Authorization"].split(" ", 1)[1]


def event(routing_key: str, action: str = "trigger", **changes) -> dict:
    body = payload("pagerduty_trigger")
    body["routing_key"] = routing_key
    body["event_action"] = action
    if action != "trigger":
        body = {"routing_key": routing_key, "dedup_key": body["dedup_key"], "event_action": action}
    body.update(changes)
    return body


def stored(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AlertEvent.id)))


def invalid(response, status: int = 400) -> list[str]:
    assert response.status_code == status, response.get_json()
    body = response.get_json()
    assert set(body) == {"status", "message", "errors"}
    assert body["status"] == "invalid event" and body["message"] == "Event object is invalid"
    assert body["errors"] and all(isinstance(e, str) for e in body["errors"])
    return body["errors"]


def test_trigger_answers_like_pagerduty_and_opens_an_incident(app, client, routing_key, process, incidents, timeline):
    response = client.post(ENQUEUE, json=event(routing_key))
    assert response.status_code == 202
    assert response.get_json() == {"status": "success", "message": "Event processed",
                                   "dedup_key": "db-replication-lag/db-2"}
    with app.app_context():
        kept = db.session.scalar(select(AlertEvent))
        assert "routing_key" not in kept.payload  # the credential is not stored
    process()
    (incident,) = incidents()
    assert incident["title"] == "Replication lag above 30s on db-2.example.com"
    assert incident["severity"] == "P2"  # payload.severity=error through alerts.severity_map
    assert incident["source"] == "pagerduty"
    assert incident["links"] == {"runbook": "https://runbooks.example.com/replication-lag",
                                 "Example Monitoring": "https://monitoring.example.com/checks/db-2"}


def test_repeated_triggers_share_one_incident(client, routing_key, process, incidents, timeline):
    for _ in range(5):
        assert client.post(ENQUEUE, json=event(routing_key)).status_code == 202
    process()
    (incident,) = incidents()
    assert [e["kind"] for e in timeline(incident["id"])].count("alert_firing") == 1


def test_trigger_without_dedup_key_gets_one(client, routing_key, process, incidents):
    body = event(routing_key)
    del body["dedup_key"]
    first = client.post(ENQUEUE, json=body).get_json()["dedup_key"]
    second = client.post(ENQUEUE, json=body).get_json()["dedup_key"]
    assert first != second and len(first) == 32
    process()
    assert len(incidents()) == 2  # as in PagerDuty: no dedup_key, a new alert each time


def test_acknowledge_and_resolve(client, routing_key, process, incidents, timeline):
    client.post(ENQUEUE, json=event(routing_key))
    process()
    (incident,) = incidents()
    response = client.post(ENQUEUE, json=event(routing_key, "acknowledge"))
    assert response.status_code == 202 and response.get_json()["dedup_key"] == "db-replication-lag/db-2"
    assert client.post(ENQUEUE, json=event(routing_key, "resolve")).status_code == 202
    process()
    entries = timeline(incident["id"])
    assert [e["kind"] for e in entries][-4:] == ["acknowledged", "response_met", "alert_resolved", "alerts_resolved"]
    assert entries[-4]["text"] == ("Acknowledged (no paged role is held) via PagerDuty Events API "
                                   "(monitoringtool:cloudvendor:eu-central-1:db-2.example.com)")  # the alert's source
    assert entries[-2]["text"].startswith("1 alert resolved: ")
    incident = incidents()[0]
    assert incident["status"] == "investigating" and incident["acknowledged_at"] is not None  # a person resolves


def test_acknowledge_stops_repeat_pages_and_the_not_acknowledged_escalation(
        client, routing_key, process, incidents, timeline, make_person, put_on_call, frozen_clock, admin_headers):
    from datetime import timedelta

    from tests.conftest import START

    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    critical = event(routing_key)
    critical["payload"]["severity"] = "critical"
    client.post(ENQUEUE, json=critical)
    process()
    (incident,) = incidents()
    assert incident["severity"] == "P1"
    frozen_clock.advance(minutes=2)
    client.post(ENQUEUE, json=event(routing_key, "acknowledge", client="Grafana OnCall"))
    process()
    incident = incidents()[0]
    assert {r: v["acknowledged_at"] is not None for r, v in incident["roles"].items() if v["person"]} == {
        "incident_commander": True, "technical_lead": True}
    assert incident["acknowledged_at"] is not None
    assert {v["acknowledged_via"] for v in incident["roles"].values() if v["person"]} == {"pagerduty"}
    assert timeline(incident["id"])[-2]["text"] == ("Acknowledged (Incident Commander Alice Archer, Technical Lead "
                                                    "Bob Baker) via PagerDuty Events API (Grafana OnCall)")
    for _ in range(6):  # 30 minutes: past every repeat page and the 15-minute not-acknowledged rule
        frozen_clock.advance(minutes=5)
        process()
    pages = client.get(f"/api/incidents/{incident['id']}/notifications?kind=page", headers=admin_headers).get_json()
    assert not [p for p in pages if p["slot"].startswith("repeat")]
    assert "escalated" not in [e["kind"] for e in timeline(incident["id"])]
    assert client.get(f"/api/incidents/{incident['id']}/notifications?kind=escalation",
                      headers=admin_headers).get_json() == []


def test_a_trigger_after_the_incident_is_resolved_opens_a_linked_one(client, routing_key, process, incidents,
                                                                     admin_headers):
    client.post(ENQUEUE, json=event(routing_key))
    process()
    (first,) = incidents()
    client.post(ENQUEUE, json=event(routing_key, "resolve"))
    process()
    client.post(f"/api/incidents/{first['id']}/resolve", json={"root_cause": "a", "resolution": "b"},
                headers=admin_headers)
    client.post(ENQUEUE, json=event(routing_key))
    process()
    (second,) = incidents(status="open")
    assert second["id"] != first["id"] and second["previous_incident"] is not None


def test_acknowledge_or_resolve_for_an_unknown_dedup_key_is_accepted_and_dropped(client, routing_key, process,
                                                                                 incidents, admin_headers):
    assert client.post(ENQUEUE, json=event(routing_key, "acknowledge", dedup_key="nope")).status_code == 202
    assert client.post(ENQUEUE, json=event(routing_key, "resolve", dedup_key="nope")).status_code == 202
    process()
    assert incidents() == []
    outcomes = [e["outcome"] for e in client.get("/api/alerts/events", headers=admin_headers).get_json()]
    assert outcomes == ["recorded: nothing firing, no incident", "ignored: no open incident for this dedup_key"]


def test_dedup_keys_are_scoped_to_the_routing_key(client, routing_key, token_for, process, incidents):
    other = token_for("ingest")["Authorization"].split(" ", 1)[1]
    client.post(ENQUEUE, json=event(routing_key))
    client.post(ENQUEUE, json=event(other))
    process()
    assert len(incidents()) == 2


def test_custom_details_may_carry_herald_severity(client, routing_key, process, incidents):
    body = event(routing_key)
    body["payload"]["custom_details"]["herald_severity"] = "P1"
    client.post(ENQUEUE, json=body)
    process()
    assert incidents()[0]["severity"] == "P1"


@pytest.mark.parametrize("change,expected", [
    ({"event_action": "explode"}, "'event_action' Must be one of: trigger, acknowledge, resolve."),
    ({"payload": None}, "'payload' Field may not be null."),
    ({"dedup_key": "k" * 256}, "'dedup_key' Length must be between 1 and 255."),
])
def test_bad_events_get_pagerdutys_400(app, client, routing_key, change, expected):
    assert expected in invalid(client.post(ENQUEUE, json=event(routing_key, **change)))
    assert stored(app) == 0


def test_payload_field_errors_are_listed(app, client, routing_key):
    body = event(routing_key)
    body["payload"].pop("summary")
    body["payload"]["severity"] = "catastrophic"
    body["links"] = [{"text": "no href"}]
    errors = invalid(client.post(ENQUEUE, json=body))
    assert "'payload.summary' Missing data for required field." in errors
    assert "'payload.severity' Must be one of: critical, error, warning, info." in errors
    assert "'links[0].href' Missing data for required field." in errors
    assert stored(app) == 0


def test_acknowledge_without_dedup_key_is_400(client, routing_key):
    body = event(routing_key, "acknowledge")
    del body["dedup_key"]
    assert invalid(client.post(ENQUEUE, json=body)) == ["'dedup_key' is required for an acknowledge event."]


def test_trigger_without_payload_is_400(client, routing_key):
    body = event(routing_key)
    del body["payload"]
    assert invalid(client.post(ENQUEUE, json=body)) == ["'payload' is required for a trigger event."]


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", ""])
def test_malformed_json_is_400_in_pagerdutys_shape(app, client, raw):
    invalid(client.post(ENQUEUE, data=raw, content_type="application/json"))
    assert stored(app) == 0


def test_routing_keys_that_are_not_ingest_tokens_are_refused(app, client, token_for):
    reader = token_for("read")["Authorization"].split(" ", 1)[1]
    assert invalid(client.post(ENQUEUE, json=event("R0UTINGKEYR0UTINGKEYR0UTINGKEY12"))) == ["Invalid routing key"]
    assert invalid(client.post(ENQUEUE, json=event(reader))) == ["Invalid routing key"]
    body = event("x")
    del body["routing_key"]
    assert invalid(client.post(ENQUEUE, json=body)) == ["'routing_key' is missing or blank"]
    assert stored(app) == 0


def test_more_than_512_kb_is_413(app, client, routing_key):
    body = event(routing_key)
    body["payload"]["custom_details"] = {"blob": "x" * (512 * 1024)}
    invalid(client.post(ENQUEUE, json=body), status=413)
    assert stored(app) == 0


def test_throttled_with_retry_after(app, client, routing_key):
    app.extensions["herald.ingest"].buckets.burst = 2
    app.extensions["herald.ingest"].buckets.rate = 0.1
    codes = [client.post(ENQUEUE, json=event(routing_key)).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    response = client.post(ENQUEUE, json=event(routing_key))
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["status"] == "throttle event"
    assert stored(app) == 2
