"""Raising the severity tells the stakeholders the new severity adds (P3 is email only; P1 adds Teams)."""
from service.wiring import run_tick
from tests.conftest import ADMIN
from tests.notify.test_outbox import open_incident


def test_raising_the_severity_sends_the_initial_update_to_the_newly_included_channels(client, config, teams, outbox,
                                                                                      frozen_clock):
    config.teams_webhook_url = teams.url
    incident = open_incident(client, severity="P3")
    before = [(n.channel, n.recipient) for n in outbox(kind="initial")]
    assert before and all(channel != "teams" for channel, _ in before)

    assert client.patch(f"/api/incidents/{incident['id']}", json={"severity": "P1"}, headers=ADMIN).status_code == 200
    after = [(n.channel, n.recipient) for n in outbox(kind="initial")]
    assert after[:len(before)] == before  # nobody gets it twice
    assert after[len(before):] == [("teams", teams.url)]
    run_tick(frozen_clock.now())
    [card] = teams.cards()
    assert card["body"][0]["text"] == "🔴 INCIDENT: Orders are failing"

    client.patch(f"/api/incidents/{incident['id']}", json={"severity": "P2"}, headers=ADMIN)
    client.patch(f"/api/incidents/{incident['id']}", json={"severity": "P1"}, headers=ADMIN)
    assert len(outbox(kind="initial")) == len(after)  # raised again: the same people, nothing new
