"""Repeat pages, the escalation matrix and the assemble check, driven by the frozen clock and run_tick."""
from collections import Counter

from sqlalchemy import select

from service import db
from service.notify.models import Notification
from service.wiring import run_tick
from tests.conftest import ADMIN


def notifications(app, incident, kind):
    with app.app_context():
        return db.session.scalars(select(Notification).where(
            Notification.incident_id == incident["id"], Notification.kind == kind).order_by(Notification.id)).all()


def texts(client, incident):
    return [e["text"] for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()]


def tick_at(frozen_clock, minutes):
    from tests.conftest import START
    from datetime import timedelta

    frozen_clock.set(START + timedelta(minutes=minutes))
    run_tick(frozen_clock.now())


def pages_by_person(app, incident):
    return Counter(n.recipient for n in notifications(app, incident, "page"))


def test_pages_repeat_every_acknowledge_within_until_acknowledged_then_stop_at_five(app, client, frozen_clock,
                                                                                    open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 0)
    first = pages_by_person(app, incident)
    assert first == {"alice@example.com": 1, "bob@example.com": 1}
    tick_at(frozen_clock, 4)
    assert pages_by_person(app, incident) == first
    tick_at(frozen_clock, 5)
    assert pages_by_person(app, incident) == {"alice@example.com": 2, "bob@example.com": 2}
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    for minute in range(6, 61):
        tick_at(frozen_clock, minute)
    assert pages_by_person(app, incident) == {"alice@example.com": 2, "bob@example.com": 6}
    repeats = [n.slot for n in notifications(app, incident, "page") if n.recipient == "bob@example.com"][1:]
    assert repeats == [f"repeat-{n}" for n in range(1, 6)]
    assert "Paged Bob Baker as Technical Lead again (page 6)" in texts(client, incident)


def test_a_late_tick_sends_one_repeat_not_a_burst(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 17)  # the worker was down: repeats 1-3 were due
    assert pages_by_person(app, incident) == {"alice@example.com": 2, "bob@example.com": 2}
    assert "Paged Alice Archer as Incident Commander again (page 4)" in texts(client, incident)
    tick_at(frozen_clock, 19)
    assert pages_by_person(app, incident)["alice@example.com"] == 2
    tick_at(frozen_clock, 20)
    assert pages_by_person(app, incident)["alice@example.com"] == 3


def test_no_repeat_pages_for_business_hours_severities(app, frozen_clock, open_incident, put_on_call, make_person):
    incident = open_incident("P3")
    tick_at(frozen_clock, 600)
    assert all(not n.slot.startswith("repeat") for n in notifications(app, incident, "page"))


def test_p1_not_acknowledged_escalates_to_the_engineering_manager_once(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 14)
    assert notifications(app, incident, "escalation") == [] or all(
        n.slot == "assemble" for n in notifications(app, incident, "escalation"))
    tick_at(frozen_clock, 15)
    tick_at(frozen_clock, 16)
    [manager] = [n for n in notifications(app, incident, "escalation") if n.slot.startswith("rule:")]
    assert manager.recipient == "eng-manager@example.com"
    assert "not acknowledged within 15 minutes" in manager.payload["text"]
    assert texts(client, incident).count(
        "Escalated to Engineering Manager: P1 not acknowledged within 15 minutes") == 1


def test_acknowledged_in_time_is_never_escalated_but_unmitigated_goes_to_the_vp(app, client, frozen_clock,
                                                                              open_incident):
    incident = open_incident("P1")
    frozen_clock.advance(minutes=3)
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    tick_at(frozen_clock, 59)
    assert [n.slot for n in notifications(app, incident, "escalation") if n.slot.startswith("rule:")] == []
    tick_at(frozen_clock, 60)
    [vp] = [n for n in notifications(app, incident, "escalation") if n.slot.startswith("rule:")]
    assert vp.recipient == "vp-engineering@example.com" and vp.slot == "rule:P1 not mitigated"


def test_mitigated_in_time_is_not_escalated(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    frozen_clock.advance(minutes=40)
    client.patch(f"/api/incidents/{incident['id']}", json={"status": "monitoring"}, headers=ADMIN)
    tick_at(frozen_clock, 180)
    assert [n for n in notifications(app, incident, "escalation") if n.slot.startswith("rule:")] == []


def test_data_breach_goes_to_security_and_legal_at_once(app, client, frozen_clock, open_incident):
    incident = open_incident("P3")
    tick_at(frozen_clock, 1)
    assert notifications(app, incident, "escalation") == []
    client.patch(f"/api/incidents/{incident['id']}", json={"data_breach_suspected": True}, headers=ADMIN)
    tick_at(frozen_clock, 1)
    assert sorted(n.recipient for n in notifications(app, incident, "escalation")) == [
        "legal@example.com", "security@example.com"]
    assert "Escalated to Security Team and Legal: data breach suspected" in texts(client, incident)
    client.patch(f"/api/incidents/{incident['id']}", json={"data_breach_suspected": False}, headers=ADMIN)
    client.patch(f"/api/incidents/{incident['id']}", json={"data_breach_suspected": True}, headers=ADMIN)
    tick_at(frozen_clock, 2)
    assert len(notifications(app, incident, "escalation")) == 2  # once per incident


def test_financial_impact_over_the_threshold_goes_to_business_operations(app, client, frozen_clock, open_incident):
    incident = open_incident("P2", financial_impact=10000)
    tick_at(frozen_clock, 1)
    assert notifications(app, incident, "escalation") == []
    client.patch(f"/api/incidents/{incident['id']}", json={"financial_impact": 25000}, headers=ADMIN)
    tick_at(frozen_clock, 2)
    [ops] = notifications(app, incident, "escalation")
    assert ops.recipient == "biz-ops@example.com"
    assert "financial impact 25,000.00 is over 10,000.00" in ops.payload["text"]


def test_unassembled_team_is_recorded_and_the_commander_told(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    frozen_clock.advance(minutes=2)
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    tick_at(frozen_clock, 9)
    assert [n for n in notifications(app, incident, "escalation") if n.slot == "assemble"] == []
    tick_at(frozen_clock, 10)
    tick_at(frozen_clock, 11)
    [told] = [n for n in notifications(app, incident, "escalation") if n.slot == "assemble"]
    assert told.recipient == "alice@example.com"
    assert "Technical Lead (Bob Baker) has not acknowledged" in told.payload["text"]
    assert texts(client, incident).count(
        "Team not assembled within 10 minutes: Technical Lead (Bob Baker) has not acknowledged "
        "(told Alice Archer)") == 1


def test_assembled_team_is_recorded(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    for person in ("alice", "bob"):
        client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": person}, headers=ADMIN)
    tick_at(frozen_clock, 10)
    assert "Team assembled: every paged role acknowledged within 10 minutes" in texts(client, incident)
    assert notifications(app, incident, "escalation") == []


def test_resolved_incidents_stop_repeating_and_escalating(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 1)
    client.post(f"/api/incidents/{incident['id']}/resolve", json={"root_cause": "x", "resolution": "y"},
                headers=ADMIN)
    tick_at(frozen_clock, 120)
    assert pages_by_person(app, incident) == {"alice@example.com": 1, "bob@example.com": 1}
    assert notifications(app, incident, "escalation") == []


def test_a_new_role_owner_gets_their_own_repeats(app, client, frozen_clock, open_incident, make_person):
    incident = open_incident("P1")
    make_person("carol", "Carol Clark", "carol@example.com")
    tick_at(frozen_clock, 7)  # alice and bob: repeat 1 was due at 5
    client.put(f"/api/incidents/{incident['id']}/roles/technical_lead", json={"person": "carol"}, headers=ADMIN)
    tick_at(frozen_clock, 11)
    assert pages_by_person(app, incident)["carol@example.com"] == 1  # the handover page; her first repeat is at 12
    tick_at(frozen_clock, 12)
    assert pages_by_person(app, incident)["carol@example.com"] == 2
    assert pages_by_person(app, incident)["bob@example.com"] == 2  # bob no longer holds the role


def test_each_item_fires_once(app, frozen_clock, open_incident):
    from service.escalation.ticks import act, fire_once
    from service.incidents.models import Incident

    incident = open_incident("P1", data_breach_suspected=True)
    with app.app_context():
        for _ in range(2):  # a second worker, or the same tick run again, finds the firing rows
            with db.transaction() as s:
                act(s, s.get(Incident, incident["id"]), frozen_clock.now())
        with db.transaction() as s:
            claimed = s.get(Incident, incident["id"])
            assert fire_once(s, claimed, "rule:Data breach suspected", frozen_clock.now()) is False
            assert fire_once(s, claimed, "something new", frozen_clock.now()) is True
    assert sorted(n.recipient for n in notifications(app, incident, "escalation")) == [
        "legal@example.com", "security@example.com"]
