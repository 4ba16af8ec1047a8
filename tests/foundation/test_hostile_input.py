"""Hostile input gets the right 4xx, never a 500 (the adversarial run's 22 hand-made inputs and
Schemathesis' finds), and text from monitoring is normalised so that an accepted alert pages."""
import json

import pytest

from tests.conftest import ADMIN

JSON = {**ADMIN, "Content-Type": "application/json"}
BIG = str(2 ** 63)
PG_BIG = str(2 ** 31)


def deep(n: int) -> str:
    return "[" * n + "]" * n


BAD_REQUESTS = {
    "JSON nested 1000 deep": ("POST", "/api/incidents", deep(1000), 400),
    "JSON object nested 200 deep": ("POST", "/api/incidents", '{"a":' * 200 + "1" + "}" * 200, 400),
    "JSON nested 1000 deep to alertmanager": ("POST", "/api/alerts/alertmanager", deep(1000), 400),
    "JSON nested 1000 deep to PagerDuty": ("POST", "/v2/enqueue", deep(1000), 400),
    "offset past 2^63": ("GET", f"/api/incidents?offset={BIG}", None, 422),
    "offset past 2^31": ("GET", f"/api/incidents?offset={PG_BIG}", None, 422),
    "limit past 2^63": ("GET", f"/api/alerts/events?limit={BIG}", None, 422),
    "refresh_every as a number 1e166": ("POST", "/api/rotations", '{"name": "x", "url": "https://example.com/a.ics", '
                                                                  '"refresh_every": 1e166}', 422),
    "incident id past 2^63": ("GET", f"/api/incidents/{BIG}", None, 404),
    "incident id past 2^31": ("GET", f"/api/incidents/{PG_BIG}", None, 404),
    "superscript two as an id": ("GET", "/api/incidents/²", None, 404),
    "arabic-indic digits as an id": ("GET", "/api/incidents/٣", None, 404),
    "notification id past 2^63": ("GET", f"/api/notifications/{BIG}", None, 404),
    "alert group id past 2^31": ("GET", f"/api/alerts/groups/{PG_BIG}", None, 404),
    "alert event id past 2^63": ("GET", f"/api/alerts/events/{BIG}", None, 404),
    "timeline of an id past 2^63": ("GET", f"/api/incidents/{BIG}/timeline", None, 404),
    "ack of an id past 2^31": ("POST", f"/api/incidents/{PG_BIG}/acknowledgements", '{"person": "x"}', 404),
    "at the year 1 east of UTC": ("GET", "/api/oncall?at=0001-01-01T00:00:00%2B14:00", None, 422),
    "at the year 9999 west of UTC": ("GET", "/api/oncall?at=9999-12-31T23:59:59-12:00", None, 422),
    "shifts from year 1": ("GET", "/api/rotations/x/shifts?from=0001-01-01T00:00:00%2B14:00", None, 422),
    "refresh_every=1e166": ("POST", "/api/rotations", '{"name": "x", "url": "https://example.com/a.ics", '
                                                      '"refresh_every": "1e166"}', 422),
    "refresh_every of 10^20 days": ("POST", "/api/rotations", '{"name": "x", "url": "https://example.com/a.ics", '
                                                              '"refresh_every": "' + "9" * 20 + 'd"}', 422),
    "lone surrogate in a title": ("POST", "/api/incidents", '{"title": "a\\ud800b", "severity": "P3"}', 400),
    "NUL in a title": ("POST", "/api/incidents", '{"title": "a\\u0000b", "severity": "P3"}', 400),
    "lone surrogate in a key": ("POST", "/api/incidents", '{"\\udfff": 1, "title": "t", "severity": "P3"}', 400),
    "NUL in a person's name": ("POST", "/api/people", '{"handle": "nul", "name": "a\\u0000", '
                                                      '"email": "n@example.com"}', 400),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_hostile_input_is_a_4xx_never_a_500(client, case):
    method, path, body, status = BAD_REQUESTS[case]
    response = client.open(path, method=method, data=body, headers=JSON)
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    if path.startswith("/api"):
        assert isinstance(response.get_json()["code"], str)


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
