"""Text from monitoring is normalised (control characters dropped, lone surrogates replaced) so that an
accepted alert pages, and an event that fails by itself never holds its group for long."""
import json

from tests.conftest import ADMIN

JSON = {**ADMIN, "Content-Type": "application/json"}


def alertmanager(title: str, group: str = "poison") -> dict:
    return {"version": "4", "groupKey": group, "status": "firing", "receiver": "herald",
            "groupLabels": {"alertname": "X"}, "commonLabels": {"severity": "critical"}, "commonAnnotations": {},
            "externalURL": "http://am", "truncatedAlerts": 0,
            "alerts": [{"status": "firing", "labels": {"alertname": "X", "severity": "critical", "t\u0000x": "1"},
                        "annotations": {"summary": title}, "startsAt": "2026-03-02T09:59:00Z",
                        "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom", "fingerprint": group}]}


def test_poisoned_alert_text_is_normalised_and_pages(app, client, frozen_clock):
    """A lone surrogate, a NUL and control characters from monitoring: accepted, cleaned, paged at once."""
    from service.wiring import run_tick

    title = "Disk \ud800 full\u0000 on db-1\u0007\u001b[31m"
    body = json.dumps(alertmanager(title))  # json.dumps writes \\ud800 and \\u0000 escapes, as senders do
    response = client.post("/api/alerts/alertmanager", data=body, headers=JSON)
    assert response.status_code == 202
    run_tick(frozen_clock.now())
    incidents = client.get("/api/incidents", headers=ADMIN).get_json()
    assert [i["title"] for i in incidents] == ["Disk \ufffd full on db-1[31m"]
    events = client.get("/api/alerts/events", headers=ADMIN).get_json()
    assert [e["status"] for e in events] == ["done"]


def test_poisoned_pagerduty_event_is_normalised(client):
    event = {"routing_key": "test-admin-token", "event_action": "trigger", "dedup_key": "k\ud800",
             "payload": {"summary": "x\u0000y", "source": "s\udc00", "severity": "error"}}
    response = client.post("/v2/enqueue", data=json.dumps(event), headers={"Content-Type": "application/json"})
    assert response.status_code == 202, response.get_json()
    assert response.get_json()["dedup_key"] == "k\ufffd"


def test_an_event_that_fails_never_holds_its_group_for_long(app, client, frozen_clock, monkeypatch):
    """An event whose content trips the processing is given up within seconds (visible as dead), and the
    clean event of the same group behind it opens the incident; before, the group waited ~14 minutes."""
    from datetime import timedelta

    from service.alerts import processing
    from service.wiring import run_tick

    original = processing.apply_runs

    def trips_on_poison(s, runs):
        if any("POISON" in json.dumps(e.payload) for run in runs for e in run):
            raise ValueError("this event trips a bug")
        return original(s, runs)

    monkeypatch.setattr(processing, "apply_runs", trips_on_poison)
    for title in ("POISON", "Disk full on db-1"):
        assert client.post("/api/alerts/alertmanager", data=json.dumps(alertmanager(title, group="g")),
                           headers=JSON).status_code == 202
    for seconds in (0, 3, 5, 9):
        run_tick(frozen_clock.advance(timedelta(seconds=seconds)))
    events = client.get("/api/alerts/events", headers=ADMIN).get_json()
    assert sorted(e["status"] for e in events) == ["dead", "done"]
    assert [i["title"] for i in client.get("/api/incidents", headers=ADMIN).get_json()] == ["Disk full on db-1"]
