"""Repeat pages follow whoever holds the role, and a raised severity starts its own series of repeats."""
from datetime import timedelta

from service.wiring import run_tick
from tests.conftest import ADMIN, START
from tests.escalation.test_escalation_ticks import notifications, texts, tick_at


def pages_to(app, incident, address):
    return [n.slot for n in notifications(app, incident, "page") if n.recipient == address]


def test_a_holder_who_got_the_role_by_rotation_handoff_is_paged_again(app, client, frozen_clock, make_person,
                                                                      put_on_call):
    make_person("alice", "Alice Archer", "alice@example.com")
    make_person("bob", "Bob Baker", "bob@example.com")
    make_person("carol", "Carol Chen", "carol@example.com")
    put_on_call("incident-commander", "alice", START - timedelta(days=1), START + timedelta(minutes=10))
    put_on_call("incident-commander", "carol", START + timedelta(minutes=10), START + timedelta(days=7))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                           headers=ADMIN).get_json()
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "bob"}, headers=ADMIN)
    for minute in range(0, 11):
        tick_at(frozen_clock, minute)
    roles = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["person"] == "carol"  # the rotation handed the role over at minute 10
    assert [n.recipient for n in notifications(app, incident, "handoff")] == ["carol@example.com"]
    assert pages_to(app, incident, "carol@example.com") == []
    for minute in range(11, 21):
        tick_at(frozen_clock, minute)
    # Paged like anyone who was paged: acknowledge_within (5 minutes) after the handoff message, and again.
    assert pages_to(app, incident, "carol@example.com") == ["repeat-1", "repeat-2"]
    assert "Paged Carol Chen as Incident Commander again (page 2)" in texts(client, incident)
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "carol"}, headers=ADMIN)
    for minute in range(21, 40):
        tick_at(frozen_clock, minute)
    assert pages_to(app, incident, "carol@example.com") == ["repeat-1", "repeat-2"]


def test_raising_p2_to_p1_pages_once_then_repeats_at_the_p1_pace(app, client, frozen_clock, open_incident):
    incident = open_incident("P2")
    for minute in (0, 15, 30, 31):  # P2: a repeat every 15 minutes
        tick_at(frozen_clock, minute)
    assert pages_to(app, incident, "alice@example.com") == ["P2", "repeat-1", "repeat-2"]
    client.patch(f"/api/incidents/{incident['id']}", json={"severity": "P1"}, headers=ADMIN)
    for second in (0, 1, 2, 30):
        frozen_clock.set(START + timedelta(minutes=31, seconds=second))
        run_tick(frozen_clock.now())
    # The P1 page, and no repeat counted from the first P2 page ("page 6" a second later).
    assert pages_to(app, incident, "alice@example.com") == ["P2", "repeat-1", "repeat-2", "P1"]
    tick_at(frozen_clock, 35)
    assert pages_to(app, incident, "alice@example.com") == ["P2", "repeat-1", "repeat-2", "P1"]
    tick_at(frozen_clock, 36)  # five minutes after the P1 page: P1's acknowledge_within
    assert pages_to(app, incident, "alice@example.com") == ["P2", "repeat-1", "repeat-2", "P1", "repeat-3"]
