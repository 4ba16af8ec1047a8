from prometheus_client.parser import text_string_to_metric_families

from service.wiring import run_tick
from tests.conftest import ADMIN


def scrape(client) -> dict:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def test_metrics_count_the_outbox_incidents_and_acknowledgements(client, config, responders, teams, frozen_clock):
    config.teams_webhook_url = teams.url
    responders()
    incident = client.post("/api/incidents", json={"title": "Down", "severity": "P1"}, headers=ADMIN).get_json()
    client.post("/api/incidents", json={"title": "Slow", "severity": "P3"}, headers=ADMIN)
    before = scrape(client)
    assert before[("herald_notifications", (("channel", "log"), ("kind", "page"), ("status", "pending")))] == 3
    assert before[("herald_incidents_open", (("severity", "P1"), ("status", "investigating")))] == 1
    assert before[("herald_incidents_open", (("severity", "P3"), ("status", "investigating")))] == 1

    teams.script(500)
    run_tick(frozen_clock.now())
    frozen_clock.advance(seconds=2)
    run_tick(frozen_clock.now())
    frozen_clock.advance(minutes=4)
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)

    after = scrape(client)
    assert after[("herald_notifications", (("channel", "teams"), ("kind", "initial"), ("status", "sent")))] == 1
    assert after[("herald_notification_retries_total", (("channel", "teams"),))] == 1
    assert after[("herald_notification_delivery_seconds_count", (("channel", "teams"),))] == 1
    assert after[("herald_notification_delivery_seconds_bucket", (("channel", "teams"), ("le", "1.0")))] == 0
    assert after[("herald_notification_delivery_seconds_bucket", (("channel", "teams"), ("le", "2.5")))] == 1
    assert after[("herald_notification_delivery_seconds_bucket", (("channel", "log"), ("le", "0.05")))] == 7
    assert after[("herald_time_to_acknowledge_seconds_count", (("severity", "P1"),))] == 1
    assert after[("herald_time_to_acknowledge_seconds_bucket", (("le", "300.0"), ("severity", "P1")))] == 1
    assert after[("herald_time_to_acknowledge_seconds_bucket", (("le", "120.0"), ("severity", "P1")))] == 0
    assert after[("herald_time_to_acknowledge_seconds_sum", (("severity", "P1"),))] == 242.0
