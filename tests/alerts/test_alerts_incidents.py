"""From webhook to incident: grouping, repeats, resolution, re-firing, severity."""
from __future__ import annotations

import copy
import json

from sqlalchemy import select

from service import db
from service.alerts.models import AlertGroup
from service.incidents.models import TimelineEntry
from tests.alerts.senders import payload, resolved
from tests.conftest import START

AM = "/api/alerts/alertmanager"


def kinds(entries: list[dict]) -> list[str]:
    return [e["kind"] for e in entries]


def test_a_firing_group_opens_one_incident_as_the_policy_says(client, ingest, process, incidents, timeline,
                                                                make_person, put_on_call):
    make_person("ada", "Ada Lovelace")
    put_on_call("incident-commander", "ada", START)
    assert client.post(AM, json=payload("alertmanager_firing"), headers=ingest).status_code == 202
    process()
    (incident,) = incidents()
    assert incident["title"] == "Order matching delayed"
    assert incident["severity"] == "P1"  # severity=critical through alerts.severity_map
    assert incident["impact"] == "Orders wait more than a minute to be matched"
    assert incident["source"] == "alertmanager"
    assert incident["status"] == "investigating"
    assert incident["roles"]["incident_commander"]["person"] == "ada"
    assert incident["links"] == {
        "runbook": "https://runbooks.example.com/order-matching",
        "source": "http://prometheus.example.com:9090/graph?g0.expr=match_delay_seconds+%3E+60&g0.tab=1",
        "alertmanager": "http://alertmanager.example.com:9093",
    }
    assert "receiver 'herald'" in incident["description"]
    entries = timeline(incident["id"])
    firing = [e for e in entries if e["kind"] == "alert_firing"]
    assert len(firing) == 1 and firing[0]["actor"] == "alertmanager"
    assert firing[0]["text"].startswith("2 alerts firing: OrderMatchingSlow {instance=\"matcher-0.prod:9100\"}")


def test_a_repeat_storm_only_moves_last_seen(app, client, ingest, process, incidents, timeline, frozen_clock):
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    process()
    (incident,) = incidents()

    def from_monitoring():
        return [e for e in timeline(incident["id"]) if e["actor"] == "alertmanager"]

    before = from_monitoring()
    for _ in range(25):
        frozen_clock.advance(seconds=30)
        assert client.post(AM, json=body, headers=ingest).status_code == 202
    process()
    assert len(incidents()) == 1
    assert from_monitoring() == before
    with app.app_context():
        group = db.session.scalar(select(AlertGroup))
        assert group.last_seen == frozen_clock.now()
        assert group.first_seen == START


def test_new_and_resolved_alerts_go_on_the_timeline(app, client, ingest, process, incidents, timeline):
    body = payload("alertmanager_firing")
    first, second = copy.deepcopy(body), copy.deepcopy(body)
    first["alerts"] = first["alerts"][:1]
    client.post(AM, json=first, headers=ingest)
    process()
    (incident,) = incidents()
    client.post(AM, json=second, headers=ingest)  # matcher-1 joins the group
    client.post(AM, json=resolved(second, only={"7a1b3c9d2e4f5a60"}), headers=ingest)  # matcher-0 recovers
    process()
    entries = timeline(incident["id"])
    assert kinds(entries)[-2:] == ["alert_firing", "alert_resolved"]
    assert entries[-2]["text"] == '1 alert firing: OrderMatchingSlow {instance="matcher-1.prod:9100"}'
    assert entries[-1]["text"] == '1 alert resolved: OrderMatchingSlow {instance="matcher-0.prod:9100"}'
    assert entries[-1]["data"]["fingerprints"] == ["7a1b3c9d2e4f5a60"]
    assert incidents()[0]["status"] == "investigating"


def test_all_resolved_is_said_once_and_the_incident_stays_open(client, ingest, process, incidents, timeline):
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    process()
    (incident,) = incidents()
    client.post(AM, json=resolved(body), headers=ingest)
    client.post(AM, json=resolved(body), headers=ingest)  # Alertmanager may repeat the resolved notification
    process()
    entries = timeline(incident["id"])
    assert kinds(entries).count("alerts_resolved") == 1
    assert "stays open until a person resolves it" in entries[-1]["text"]
    assert incidents()[0]["status"] == "investigating" and incidents()[0]["resolved_at"] is None


def test_the_incident_commander_is_told_when_every_alert_resolved(client, ingest, process, incidents, timeline,
                                                                   admin_headers, make_person, put_on_call, config):
    config.allow_private_urls = True  # Ada's webhook is on loopback
    make_person("ada", "Ada Lovelace", teams_webhook="http://127.0.0.1:9/teams-webhook-of-ada")
    put_on_call("incident-commander", "ada", START)
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    process()
    (incident,) = incidents()
    client.post(AM, json=resolved(body), headers=ingest)
    process()
    assert timeline(incident["id"])[-1]["text"].endswith("the Incident Commander, Ada Lovelace, has been told.")
    sent = client.get(f"/api/incidents/{incident['id']}/notifications?kind=notice", headers=admin_headers).get_json()
    told = [n for n in sent if n["slot"].startswith("alerts-resolved-")]
    assert {n["channel"] for n in told} == {"teams", "log"}  # P1 channels; no mail transport configured: log
    mail = next(n for n in told if n["channel"] == "log")["payload"]
    assert mail["subject"] == "[INC-20260302-1] ✅ P1: Order matching delayed: every alert has resolved"
    assert "Alertmanager reports that every alert of this incident has resolved" in mail["text"]
    assert 'OrderMatchingSlow {instance="matcher-0.prod:9100", job="order-matcher", severity="critical"}' in mail["text"]
    assert "stays open until a person resolves it" in mail["text"]
    card = json.dumps(next(n for n in told if n["channel"] == "teams")["payload"], ensure_ascii=False)
    assert "every alert has resolved" in card


def test_nobody_to_tell_is_said_on_the_timeline(client, ingest, process, incidents, timeline):
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    client.post(AM, json=resolved(body), headers=ingest)
    process()
    (incident,) = incidents()
    assert timeline(incident["id"])[-1]["text"].endswith("nobody holds the Incident Commander role to tell.")


def test_a_group_firing_again_after_resolution_opens_a_linked_incident(client, ingest, process, incidents,
                                                                       timeline, admin_headers, frozen_clock):
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    process()
    (first,) = incidents()
    # Firing again while the incident is still open only goes on its timeline.
    client.post(AM, json=resolved(body), headers=ingest)
    client.post(AM, json=body, headers=ingest)
    process()
    assert len(incidents()) == 1
    assert kinds(timeline(first["id"]))[-2:] == ["alerts_resolved", "alert_firing"]
    # A person resolves it; the group fires again later: a new incident that links the old one.
    client.post(AM, json=resolved(body), headers=ingest)
    process()
    response = client.post(f"/api/incidents/{first['id']}/resolve", json={"root_cause": "slow disk",
                                                                          "resolution": "replaced"},
                           headers=admin_headers)
    assert response.status_code == 200
    frozen_clock.advance(hours=2)
    client.post(AM, json=body, headers=ingest)
    process()
    second = incidents(status="open")[0]
    assert second["id"] != first["id"]
    assert second["previous_incident"] is not None
    assert "linked" in kinds(timeline(second["id"]))
    # The new incident only inherits alerts that fire now.
    groups = client.get(f"/api/alerts/groups?incident={second['number']}", headers=admin_headers).get_json()
    assert {a["status"] for a in groups[0]["alerts"]} == {"firing"}


def test_still_firing_after_a_person_resolved_opens_a_new_incident(client, ingest, process, incidents, admin_headers):
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    process()
    (first,) = incidents()
    client.post(f"/api/incidents/{first['id']}/resolve", json={"root_cause": "x", "resolution": "y"},
                headers=admin_headers)
    client.post(AM, json=body, headers=ingest)  # Alertmanager's repeat_interval: the problem is still there
    process()
    assert len(incidents()) == 2


def test_resolved_notifications_for_an_unknown_group_open_nothing(client, ingest, process, incidents, admin_headers):
    client.post(AM, json=resolved(payload("alertmanager_firing")), headers=ingest)
    process()
    assert incidents() == []
    (event,) = client.get("/api/alerts/events", headers=admin_headers).get_json()
    assert event["status"] == "done" and event["outcome"] == "recorded: nothing firing, no incident"


def test_herald_severity_label_overrides_and_unmapped_is_p3(client, ingest, process, incidents):
    body = payload("alertmanager_firing")
    for alert in body["alerts"]:
        alert["labels"]["herald_severity"] = "P2"
    client.post(AM, json=body, headers=ingest)
    other = payload("alertmanager_firing")
    other["groupKey"] = '{}:{alertname="Mystery"}'
    for alert in other["alerts"]:
        alert["labels"]["severity"] = "page-everyone"
    client.post(AM, json=other, headers=ingest)
    process()
    assert sorted(i["severity"] for i in incidents()) == ["P2", "P3"]


def test_a_more_severe_alert_raises_the_incident_but_never_lowers_it(client, ingest, process, incidents, timeline):
    body = payload("alertmanager_firing")
    mild = copy.deepcopy(body)
    mild["alerts"] = mild["alerts"][:1]
    mild["alerts"][0]["labels"]["severity"] = "warning"
    client.post(AM, json=mild, headers=ingest)
    process()
    assert incidents()[0]["severity"] == "P3"
    client.post(AM, json=body, headers=ingest)  # matcher-1 critical joins; matcher-0 now critical too
    process()
    (incident,) = incidents()
    assert incident["severity"] == "P1"
    severity = [e for e in timeline(incident["id"]) if e["kind"] == "severity"]
    assert severity[-1]["text"] == "Severity changed from P3 to P1" and severity[-1]["actor"] == "alertmanager"


def test_truncated_resolution_is_not_taken_for_all_resolved(client, ingest, process, incidents, timeline):
    body = payload("alertmanager_truncated")
    firing = copy.deepcopy(body)
    firing["status"] = "firing"
    for alert in firing["alerts"]:
        alert["status"], alert["endsAt"] = "firing", "0001-01-01T00:00:00Z"
    client.post(AM, json=firing, headers=ingest)
    client.post(AM, json=body, headers=ingest)
    process()
    (incident,) = incidents()
    assert incident["severity"] == "P2"
    assert "3 more alert(s) were left out" in incident["description"]
    entries = timeline(incident["id"])
    assert kinds(entries)[-1] == "alerts_resolved_unconfirmed"
    assert "alerts_resolved" not in kinds(entries)


def test_unicode_and_quoted_labels_survive_the_round_trip(client, ingest, process, incidents, timeline, admin_headers):
    body = payload("alertmanager_unicode")
    client.post(AM, json=body, headers=ingest)
    client.post(AM, json=body, headers=ingest)
    process()
    (incident,) = incidents()
    assert incident["title"] == "Zahlungen schlagen fehl — 支付失败 🔥"
    assert incident["severity"] == "P3"
    (group,) = client.get("/api/alerts/groups", headers=admin_headers).get_json()
    assert group["key"] == body["groupKey"]
    assert group["labels"] == {"service": 'zahlungs-dienst "blau"'}
    assert group["alerts"][0]["labels"]["team"] == "Zahlungsverkehr 支付"
    assert group["alerts"][0]["ends_at"] is None


def test_grafana_opens_incidents_the_same_way(client, ingest, process, incidents, timeline):
    body = payload("grafana_firing")
    assert client.post("/api/alerts/grafana", json=body, headers=ingest).status_code == 202
    process()
    (incident,) = incidents()
    assert incident["source"] == "grafana"
    assert incident["title"] == "Memory pressure on the matching engine in us-1"
    assert incident["severity"] == "P3"  # no severity label: unmapped
    assert incident["links"]["dashboard"] == "https://grafana.example.com/d/matching?orgId=1"
    assert incident["links"]["silence"].startswith("https://grafana.example.com/alerting/silence/new")
    assert incident["links"]["panel"].endswith("&viewPanel=4")
    client.post("/api/alerts/grafana", json=resolved(body), headers=ingest)
    process()
    assert kinds(timeline(incident["id"]))[-2:] == ["alert_resolved", "alerts_resolved"]


def test_one_group_in_two_grafana_orgs_is_two_incidents(client, ingest, process, incidents):
    body = payload("grafana_firing")
    client.post("/api/alerts/grafana", json=body, headers=ingest)
    body["orgId"] = 2
    client.post("/api/alerts/grafana", json=body, headers=ingest)
    process()
    assert len(incidents()) == 2


def test_distinct_groups_are_distinct_incidents(app, client, ingest, process, incidents):
    for n in range(5):
        body = payload("alertmanager_firing")
        body["groupKey"] = f'{{}}:{{alertname="OrderMatchingSlow", shard="{n}"}}'
        client.post(AM, json=body, headers=ingest)
    process()
    assert len(incidents()) == 5
    with app.app_context():
        assert db.session.scalar(select(TimelineEntry).where(TimelineEntry.kind == "alert_firing")) is not None
