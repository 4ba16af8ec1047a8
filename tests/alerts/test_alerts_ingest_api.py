"""The two webhook endpoints: authentication, validation, limits, and that bad input stores nothing."""
from __future__ import annotations

import base64
import json
import threading

import pytest
from sqlalchemy import func, select, text

from service import db
from service.alerts.ratelimit import ConcurrencyGate
from service.auth import hash_token
from service.alerts.models import AlertEvent
from tests.alerts.senders import payload

ENDPOINTS = [("/api/alerts/alertmanager", "alertmanager_firing"), ("/api/alerts/grafana", "grafana_firing")]


def stored_events(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count(AlertEvent.id)))


def basic(password: str, user: str = "alertmanager") -> dict:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


@pytest.mark.parametrize("path,name", ENDPOINTS)
def test_accepts_and_stores_without_waiting_for_incidents(client, app, ingest, path, name):
    body = payload(name)
    response = client.post(path, json=body, headers=ingest)
    assert response.status_code == 202, response.get_json()
    event_id = response.get_json()["id"]
    assert response.get_json() == {"id": event_id, "status": "pending"}
    with app.app_context():
        event = db.session.get(AlertEvent, event_id)
        assert event.payload == body  # kept exactly as received
        assert event.status == "pending" and event.token_name == "test-ingest"
    assert client.get("/api/incidents", headers={"Authorization": "Bearer test-admin-token"}).get_json() == []


def test_token_as_http_basic_password(client, ingest):
    secret = ingest["Authorization"].split(" ", 1)[1]
    response = client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=basic(secret))
    assert response.status_code == 202
    response = client.post("/api/alerts/grafana", json=payload("grafana_firing"), headers=basic(secret, user=""))
    assert response.status_code == 202


@pytest.mark.parametrize("path,name", ENDPOINTS)
def test_tokens_without_ingest_are_refused(client, app, token_for, path, name):
    assert client.post(path, json=payload(name)).status_code == 401
    assert client.post(path, json=payload(name), headers=basic("wrong")).status_code == 401
    response = client.post(path, json=payload(name), headers=token_for("read", "write"))
    assert response.status_code == 403 and response.get_json()["code"] == "forbidden"
    assert stored_events(app) == 0


def test_body_over_one_mebibyte_is_413(client, app, ingest):
    body = payload("alertmanager_firing")
    body["commonAnnotations"]["description"] = "x" * (1024 * 1024)
    response = client.post("/api/alerts/alertmanager", json=body, headers=ingest)
    assert response.status_code == 413
    assert set(response.get_json()) == {"code", "message", "errors"}
    assert stored_events(app) == 0


@pytest.mark.parametrize("raw", ['{"version": "4", "groupKey": ', "not json at all", '{"a": 1}}'])
def test_malformed_json_is_400(client, app, ingest, raw):
    response = client.post("/api/alerts/alertmanager", data=raw, headers=ingest | {"Content-Type": "application/json"})
    assert response.status_code == 400, response.get_json()
    assert set(response.get_json()) == {"code", "message", "errors"}
    assert stored_events(app) == 0


@pytest.mark.parametrize("raw", ["", "[]", "null", '"firing"'])
def test_an_empty_body_or_not_an_object_is_422(client, app, ingest, raw):
    response = client.post("/api/alerts/alertmanager", data=raw, headers=ingest | {"Content-Type": "application/json"})
    assert response.status_code == 422, response.get_json()
    assert response.get_json()["errors"]
    assert stored_events(app) == 0


def test_wrong_shape_is_422_with_field_errors(client, app, ingest):
    body = payload("alertmanager_firing")
    body["version"] = "3"
    body["status"] = "burning"
    body["alerts"][0]["labels"]["severity"] = 5
    body["alerts"][1]["startsAt"] = "last tuesday"
    del body["groupKey"]
    response = client.post("/api/alerts/alertmanager", json=body, headers=ingest)
    assert response.status_code == 422
    errors = response.get_json()["errors"]
    assert set(errors) == {"version", "status", "alerts", "groupKey"}
    assert "version 4" in errors["version"][0]
    assert errors["alerts"]["0"]["labels"]["severity"]["value"] == ["Not a valid string."]
    assert errors["alerts"]["1"]["startsAt"] == ["Not a valid RFC 3339 timestamp."]
    assert stored_events(app) == 0


def test_an_empty_alert_list_or_a_grafana_payload_sent_to_alertmanager_is_422(client, app, ingest):
    body = payload("alertmanager_firing")
    body["alerts"] = []
    assert client.post("/api/alerts/alertmanager", json=body, headers=ingest).status_code == 422
    response = client.post("/api/alerts/alertmanager", json=payload("grafana_firing"), headers=ingest)
    assert response.status_code == 422 and "version" in response.get_json()["errors"]
    assert stored_events(app) == 0


def test_unknown_fields_from_newer_senders_are_kept_not_refused(client, app, ingest):
    body = payload("alertmanager_firing")
    body["someFutureField"] = {"x": 1}
    body["alerts"][0]["anotherNewField"] = True
    response = client.post("/api/alerts/alertmanager", json=body, headers=ingest)
    assert response.status_code == 202
    with app.app_context():
        assert db.session.get(AlertEvent, response.get_json()["id"]).payload["someFutureField"] == {"x": 1}


def test_a_flood_from_one_token_gets_429_with_retry_after(app, client, ingest, token_for):
    app.extensions["herald.ingest"].buckets.burst = 3
    app.extensions["herald.ingest"].buckets.rate = 0.5
    codes = [client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest).status_code
             for _ in range(5)]
    assert codes == [202, 202, 202, 429, 429]
    response = client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest)
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) >= 1
    assert response.get_json()["code"] == "too_many_requests"
    assert stored_events(app) == 3
    # Another token, and the rest of the API, are not affected.
    other = token_for("ingest")
    assert client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=other).status_code == 202
    assert client.get("/api/health").status_code == 200


def test_when_every_ingest_slot_is_busy_the_request_is_refused_at_once(app, client, ingest):
    gate = app.extensions["herald.ingest"].gate
    taken = 0
    while gate.try_enter():
        taken += 1
    try:
        response = client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest)
        assert response.status_code == 429 and response.headers["Retry-After"] == "1"
        assert client.get("/api/incidents", headers={"Authorization": "Bearer test-admin-token"}).status_code == 200
    finally:
        for _ in range(taken):
            gate.leave()
    assert stored_events(app) == 0


def test_events_and_groups_are_visible(client, ingest, process, admin_headers):
    event_id = client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest).get_json()["id"]
    process()
    events = client.get("/api/alerts/events?status=done", headers=admin_headers).get_json()
    assert [e["id"] for e in events] == [event_id]
    assert events[0]["outcome"].startswith("opened INC-20260302-")
    detail = client.get(f"/api/alerts/events/{event_id}", headers=admin_headers).get_json()
    assert detail["payload"]["groupKey"] == payload("alertmanager_firing")["groupKey"]
    groups = client.get("/api/alerts/groups", headers=admin_headers).get_json()
    assert len(groups) == 1 and groups[0]["status"] == "firing" and groups[0]["incident"] == "INC-20260302-1"
    assert {a["fingerprint"] for a in groups[0]["alerts"]} == {"7a1b3c9d2e4f5a60", "0c2d4e6f8a9b1c3d"}
    by_incident = client.get("/api/alerts/groups?incident=INC-20260302-1", headers=admin_headers).get_json()
    assert [g["id"] for g in by_incident] == [groups[0]["id"]]
    assert client.get("/api/alerts/groups?incident=INC-19990101-1", headers=admin_headers).status_code == 404
    assert client.get("/api/alerts/events/999", headers=admin_headers).status_code == 404
    assert client.get("/api/alerts/events", headers=ingest).status_code == 403  # ingest cannot read


def test_openapi_documents_the_monitoring_endpoints(client):
    spec = client.get("/openapi.json").get_json()
    for path in ("/api/alerts/alertmanager", "/api/alerts/grafana", "/v2/enqueue", "/api/alerts/groups"):
        assert path in spec["paths"], path
    enqueue = spec["paths"]["/v2/enqueue"]["post"]
    assert "requestBody" in enqueue and "202" in enqueue["responses"]
    assert json.dumps(spec)  # serialisable


def test_concurrent_requests_share_commits_and_all_are_stored(app, client, ingest):
    """Requests arriving together are written together; every one is answered with its own event."""
    app.extensions["herald.ingest"].gate = ConcurrencyGate(32)
    results: list[tuple[int, int]] = []

    def send(n: int) -> None:
        body = payload("alertmanager_firing")
        body["groupKey"] = f'{{}}:{{alertname="Burst", n="{n}"}}'
        with app.test_client() as own:
            response = own.post("/api/alerts/alertmanager", json=body, headers=ingest)
            results.append((response.status_code, response.get_json().get("id")))

    threads = [threading.Thread(target=send, args=(n,)) for n in range(24)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {status for status, _ in results} == {202}
    assert len({event_id for _, event_id in results}) == 24
    assert stored_events(app) == 24


def test_when_the_database_cannot_store_the_sender_is_told_to_retry(app, client, ingest):
    with app.app_context(), db.transaction() as s:
        s.execute(text("ALTER TABLE alert_events RENAME TO alert_events_away"))
    try:
        response = client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest)
        assert response.status_code == 503  # Alertmanager and Grafana retry a 5xx
        assert response.headers["Retry-After"] == "5"
        assert set(response.get_json()) == {"code", "message", "errors"}
    finally:
        with app.app_context(), db.transaction() as s:
            s.execute(text("ALTER TABLE alert_events_away RENAME TO alert_events"))
    assert client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest).status_code == 202


def test_a_known_token_is_looked_up_once_per_few_seconds(app, client, ingest):
    recent = app.extensions["herald.ingest"].recent
    client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=ingest)
    digest = hash_token(ingest["Authorization"].split(" ", 1)[1])
    assert recent.get(digest).name == "test-ingest"
    assert recent.get(hash_token("hrld_unknown")) is None
    client.post("/api/alerts/alertmanager", json=payload("alertmanager_firing"), headers=basic("hrld_unknown"))
    assert recent.get(hash_token("hrld_unknown")) is None  # refusals are not remembered
