from datetime import timedelta

from tests.conftest import ADMIN, START


def create(client, **body):
    payload = {"title": "Orders are failing", "severity": "P1", "impact": "No one can trade", **body}
    return client.post("/api/incidents", json=payload, headers=ADMIN)


def test_create_assigns_number_and_roles_from_rotations(client, make_person, put_on_call):
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))

    response = create(client)
    assert response.status_code == 201, response.get_json()
    incident = response.get_json()
    assert incident["number"] == "INC-20260302-1"
    assert incident["status"] == "investigating"
    assert incident["started_at"] == "2026-03-02T10:00:00Z"
    assert incident["respond_by"] == "2026-03-02T10:15:00Z"
    assert incident["roles"]["incident_commander"]["person"] == "alice"
    assert incident["roles"]["technical_lead"]["name"] == "Bob Baker"
    assert incident["roles"]["scribe"]["person"] is None

    second = create(client).get_json()
    assert second["number"] == "INC-20260302-2"

    timeline = client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()
    texts = [e["text"] for e in timeline]
    assert texts[0].startswith("Incident opened: Orders are failing (P1")
    assert "Incident Commander assigned: Alice Archer (on call)" in texts


def test_numbers_restart_each_utc_day(client, frozen_clock):
    assert create(client).get_json()["number"] == "INC-20260302-1"
    frozen_clock.advance(days=1)
    assert create(client).get_json()["number"] == "INC-20260303-1"


def test_status_machine_over_http(client):
    incident = create(client).get_json()
    url = f"/api/incidents/{incident['id']}"
    closed = client.patch(url, json={"status": "closed"}, headers=ADMIN)
    assert closed.status_code == 409
    assert closed.get_json()["code"] == "conflict"
    assert client.patch(url, json={"status": "resolved"}, headers=ADMIN).status_code == 409

    monitoring = client.patch(url, json={"status": "monitoring"}, headers=ADMIN).get_json()
    assert monitoring["mitigated_at"] == "2026-03-02T10:00:00Z"
    back = client.patch(url, json={"status": "identified"}, headers=ADMIN)
    assert back.status_code == 200

    resolved = client.post(f"{url}/resolve", json={"root_cause": "bad deploy", "resolution": "rolled back"},
                           headers=ADMIN)
    assert resolved.status_code == 200
    assert resolved.get_json()["status"] == "resolved"
    assert client.patch(url, json={"status": "monitoring"}, headers=ADMIN).status_code == 409
    reopened = client.patch(url, json={"status": "investigating"}, headers=ADMIN).get_json()
    assert reopened["resolved_at"] is None
    client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    assert client.patch(url, json={"status": "closed"}, headers=ADMIN).get_json()["closed_at"]
    final = client.patch(url, json={"status": "investigating"}, headers=ADMIN)
    assert final.status_code == 409


def test_patch_fields_and_timeline_records_actor(client, token_for):
    writer = token_for("read", "write")
    incident = client.post("/api/incidents", json={"title": "Slow", "severity": "P3"}, headers=writer).get_json()
    url = f"/api/incidents/{incident['id']}"
    patched = client.patch(url, json={"severity": "P2", "impact": "Matching delayed", "financial_impact": 2500.5,
                                      "data_breach_suspected": True}, headers=writer).get_json()
    assert patched["severity"] == "P2"
    assert patched["financial_impact"] == 2500.5
    assert patched["respond_by"] == "2026-03-02T10:30:00Z"
    entries = client.get(f"{url}/timeline", headers=writer).get_json()
    # Herald's own consequences (e.g. "Nobody to page as …") are written as "herald"; every change is the token's.
    assert {e["actor"] for e in entries} - {"herald"} == {"token:test-read-write"}
    kinds = [e["kind"] for e in entries]
    assert {"severity", "impact", "financial_impact", "data_breach_suspected"} <= set(kinds)


def test_updates_and_resolution(client):
    incident = create(client).get_json()
    url = f"/api/incidents/{incident['id']}"
    update = client.post(f"{url}/updates", json={"status": "identified", "learned": "A bad index",
                                                 "doing": "Rebuilding it"}, headers=ADMIN)
    assert update.status_code == 201
    assert update.get_json()["kind"] == "progress"
    assert client.get(url, headers=ADMIN).get_json()["status"] == "identified"
    updates = client.get(f"{url}/updates", headers=ADMIN).get_json()
    assert [u["kind"] for u in updates] == ["initial", "progress"]
    bad = client.post(f"{url}/updates", json={"status": "resolved"}, headers=ADMIN)
    assert bad.status_code == 422


def test_role_handover_and_acknowledgement(client, make_person, put_on_call, frozen_clock):
    make_person("alice")
    make_person("carol")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    incident = create(client).get_json()
    url = f"/api/incidents/{incident['id']}"

    not_holder = client.post(f"{url}/acknowledgements", json={"person": "carol"}, headers=ADMIN)
    assert not_holder.status_code == 409
    frozen_clock.advance(minutes=3)
    acked = client.post(f"{url}/acknowledgements", json={"person": "alice"}, headers=ADMIN).get_json()
    assert acked["acknowledged_at"] == "2026-03-02T10:03:00Z"
    assert acked["roles"]["incident_commander"]["acknowledged_at"] == "2026-03-02T10:03:00Z"
    assert acked["roles"]["incident_commander"]["acknowledged_via"] == "api"

    handed = client.put(f"{url}/roles/incident_commander", json={"person": "carol"}, headers=ADMIN).get_json()
    assert handed["roles"]["incident_commander"]["person"] == "carol"
    assert handed["roles"]["incident_commander"]["acknowledged_at"] is None
    assert client.put(f"{url}/roles/nope", json={"person": "carol"}, headers=ADMIN).status_code == 404
    assert client.put(f"{url}/roles/scribe", json={"person": "nobody"}, headers=ADMIN).status_code == 404
    texts = [e["text"] for e in client.get(f"{url}/timeline", headers=ADMIN).get_json()]
    assert "Incident Commander handed over from Alice to Carol" in texts
    assert "Response time met" in texts


def test_list_filters_and_pagination(client):
    for severity in ("P1", "P2", "P2", "P3"):
        create(client, severity=severity)
    assert len(client.get("/api/incidents?severity=P2", headers=ADMIN).get_json()) == 2
    page = client.get("/api/incidents?limit=2&offset=1", headers=ADMIN).get_json()
    assert len(page) == 2
    assert len(client.get("/api/incidents?status=open", headers=ADMIN).get_json()) == 4
    assert client.get("/api/incidents?status=weird", headers=ADMIN).status_code == 422
    assert client.get("/api/incidents?limit=0", headers=ADMIN).status_code == 422
    assert client.get("/api/incidents/INC-20260302-2", headers=ADMIN).get_json()["severity"] == "P2"


def test_errors_have_one_shape(client, token_for):
    assert client.get("/api/incidents").status_code == 401
    assert client.get("/api/incidents", headers={"Authorization": "Bearer wrong"}).status_code == 401
    reader = token_for("read")
    forbidden = client.post("/api/incidents", json={"title": "x", "severity": "P1"}, headers=reader)
    assert forbidden.status_code == 403
    assert set(forbidden.get_json()) == {"code", "message", "errors"}

    malformed = client.post("/api/incidents", data="{not json", content_type="application/json", headers=ADMIN)
    assert malformed.status_code == 400
    assert set(malformed.get_json()) == {"code", "message", "errors"}

    invalid = client.post("/api/incidents", json={"severity": "P9", "extra": 1}, headers=ADMIN)
    assert invalid.status_code == 422
    errors = invalid.get_json()["errors"]
    assert set(errors) == {"title", "severity", "extra"}

    not_a_dict = client.post("/api/incidents", json=[1, 2], headers=ADMIN)
    assert not_a_dict.status_code == 422

    missing = client.get("/api/incidents/999", headers=ADMIN)
    assert missing.status_code == 404
    assert missing.get_json()["code"] == "not_found"
    assert client.get("/api/nope", headers=ADMIN).get_json()["code"] == "not_found"

    huge = client.post("/api/incidents", data=b"x" * (1024 * 1024 + 10), content_type="application/json",
                       headers=ADMIN)
    assert huge.status_code == 413
    assert huge.get_json()["code"] == "request_entity_too_large"

    wrong_method = client.delete("/api/incidents", headers=ADMIN)
    assert wrong_method.status_code == 405
    # nothing above created an incident
    assert client.get("/api/incidents", headers=ADMIN).get_json() == []


def test_people_crud(client, token_for):
    body = {"handle": "dana", "name": "Dana Diaz", "email": "dana@example.com", "aliases": ["dd@example.org"],
            "timezone": "Europe/Berlin"}
    assert client.post("/api/people", json=body, headers=ADMIN).status_code == 201
    assert client.post("/api/people", json=body, headers=ADMIN).status_code == 409
    assert client.post("/api/people", json={**body, "handle": "Bad Handle"}, headers=ADMIN).status_code == 422
    assert client.post("/api/people", json={**body, "handle": "x", "timezone": "Mars/Base"},
                       headers=ADMIN).status_code == 422
    assert client.post("/api/people", json={**body, "handle": "y"}, headers=token_for("write")).status_code == 403
    patched = client.patch("/api/people/dana", json={"name": "Dana D."}, headers=ADMIN).get_json()
    assert patched["name"] == "Dana D."
    assert client.get("/api/people/dana", headers=ADMIN).get_json()["aliases"] == ["dd@example.org"]
    assert [p["handle"] for p in client.get("/api/people", headers=ADMIN).get_json()] == ["dana"]
    assert client.get("/api/people/zed", headers=ADMIN).status_code == 404


def test_health_and_openapi(client):
    health = client.get("/api/health")
    assert health.status_code == 200
    assert health.get_json()["database"] == "ok"
    spec = client.get("/openapi.json").get_json()
    for path in ("/api/health", "/api/incidents", "/api/incidents/{ident}/resolve", "/api/people/{handle}"):
        assert path in spec["paths"], path
    assert client.get("/docs").status_code == 200
