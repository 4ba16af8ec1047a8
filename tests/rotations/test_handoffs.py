"""Rotation handoffs during open P1/P2 incidents (the ticker moves the role; the timeline records it)."""
from datetime import timedelta

from service.wiring import run_tick
from tests.conftest import ADMIN, START

from .helpers import t, vcalendar

HANDOFF = t("2026-03-09T08:00")  # Alice's week ends, Bob's begins (google_berlin.ics)


def open_incident(client, severity="P1"):
    response = client.post("/api/incidents", json={"title": "Orders failing", "severity": severity}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def incident(client, number):
    return client.get(f"/api/incidents/{number}", headers=ADMIN).get_json()


def holder(client, number, role="incident_commander"):
    return incident(client, number)["roles"][role]["person"]


def timeline(client, number):
    return [e for e in client.get(f"/api/incidents/{number}/timeline", headers=ADMIN).get_json()]


def tick_at(frozen_clock, moment):
    frozen_clock.set(moment)
    run_tick(moment)


def test_role_follows_the_rotation_at_its_handoff(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    number = open_incident(client)["number"]
    assert holder(client, number) == "alice"
    tick_at(frozen_clock, START + timedelta(seconds=1))
    assert holder(client, number) == "alice"

    tick_at(frozen_clock, HANDOFF)
    assert holder(client, number) == "bob"
    entries = timeline(client, number)
    moved = [e for e in entries if e["kind"] == "role_assigned" and e["data"].get("reason") == "rotation"]
    assert len(moved) == 1
    assert moved[0]["text"] == "Incident Commander handed over from Alice Archer to Bob Baker (rotation handoff)"
    assert moved[0]["actor"] == "herald"
    tick_at(frozen_clock, HANDOFF + timedelta(minutes=1))
    assert len([e for e in timeline(client, number) if e["kind"] == "role_assigned"]) == len(
        [e for e in entries if e["kind"] == "role_assigned"])  # nothing more until the next change


def test_the_new_owner_is_told_through_the_outbox(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    number = open_incident(client)["number"]
    tick_at(frozen_clock, START + timedelta(seconds=1))
    tick_at(frozen_clock, HANDOFF)
    notes = client.get(f"/api/incidents/{number}/notifications", headers=ADMIN).get_json()
    handoffs = [n for n in notes if n["kind"] == "handoff"]
    assert [(n["recipient"], n["channel"]) for n in handoffs] == [("bob@example.com", "log")]  # no mail configured
    text = handoffs[0]["payload"]["text"]
    assert "You are now the Incident Commander" in text and "taking over from Alice Archer" in text
    assert "/ack/" in text  # the new owner acknowledges like a paged one
    assert any(e["kind"] == "handoff_sent" and "Bob Baker" in e["text"] for e in timeline(client, number))
    tick_at(frozen_clock, HANDOFF + timedelta(seconds=1))
    again = client.get(f"/api/incidents/{number}/notifications", headers=ADMIN).get_json()
    assert len([n for n in again if n["kind"] == "handoff"]) == 1


def test_a_manual_handover_stands_until_the_rotation_itself_changes(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    number = open_incident(client)["number"]
    tick_at(frozen_clock, START + timedelta(seconds=1))
    frozen_clock.set(START + timedelta(minutes=30))
    client.put(f"/api/incidents/{number}/roles/incident_commander", json={"person": "carol"}, headers=ADMIN)
    tick_at(frozen_clock, START + timedelta(minutes=31))
    assert holder(client, number) == "carol"
    tick_at(frozen_clock, HANDOFF)
    assert holder(client, number) == "bob"


def test_a_cover_takes_the_role_and_gives_it_back(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    number = open_incident(client)["number"]
    tick_at(frozen_clock, START + timedelta(seconds=1))
    client.post("/api/rotations/incident-commander/overrides", headers=ADMIN,
                json={"person": "carol", "start": "2026-03-02T11:00:00Z", "end": "2026-03-02T12:00:00Z"})
    tick_at(frozen_clock, t("2026-03-02T11:00"))
    assert holder(client, number) == "carol"
    tick_at(frozen_clock, t("2026-03-02T12:00"))
    assert holder(client, number) == "alice"


def test_lower_severities_and_closed_incidents_are_left_alone(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    p3 = open_incident(client, "P3")["number"]
    p1 = open_incident(client, "P1")["number"]
    client.post(f"/api/incidents/{p1}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    tick_at(frozen_clock, HANDOFF)
    assert holder(client, p3) == "alice"
    assert holder(client, p1) == "alice"


def test_raised_to_p2_after_the_handoff_the_stale_holder_is_replaced(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", "google_berlin.ics")
    number = open_incident(client, "P3")["number"]
    tick_at(frozen_clock, HANDOFF + timedelta(hours=1))
    assert holder(client, number) == "alice"
    client.patch(f"/api/incidents/{number}", json={"severity": "P2"}, headers=ADMIN)
    tick_at(frozen_clock, HANDOFF + timedelta(hours=1, seconds=1))
    assert holder(client, number) == "bob"


def test_an_empty_role_is_filled_once_its_rotation_names_someone(client, team, put_calendar, frozen_clock):
    number = open_incident(client)["number"]
    tick_at(frozen_clock, START + timedelta(seconds=1))
    assert holder(client, number, "scribe") is None
    put_calendar("scribe", vcalendar("UID:s\nDTSTART:20260302T100500Z\nDTEND:20260303T100000Z\nSUMMARY:Carol Chen"))
    tick_at(frozen_clock, t("2026-03-02T10:05"))
    assert holder(client, number, "scribe") == "carol"
    assert incident(client, number)["roles"]["scribe"]["assigned_at"] == "2026-03-02T10:05:00Z"


def test_a_gap_in_the_rotation_keeps_the_current_holder(client, team, put_calendar, frozen_clock):
    put_calendar("incident-commander", vcalendar(
        "UID:a\nDTSTART:20260302T000000Z\nDTEND:20260302T120000Z\nSUMMARY:alice",
        "UID:b\nDTSTART:20260302T130000Z\nDTEND:20260303T000000Z\nSUMMARY:bob"))
    number = open_incident(client)["number"]
    tick_at(frozen_clock, START + timedelta(seconds=1))
    tick_at(frozen_clock, t("2026-03-02T12:30"))
    assert holder(client, number) == "alice"
    tick_at(frozen_clock, t("2026-03-02T13:00"))
    assert holder(client, number) == "bob"
