"""Escalation chains on the frozen clock: the example policy's "P1 not acknowledged" tells the Engineering
Manager after 15 minutes and, when nobody acknowledges that within 15 minutes, the VP Engineering."""
from datetime import timedelta

from sqlalchemy import select

from service import db
from service.escalation import ticks
from service.escalation.models import EscalationFiring, EscalationStep
from service.incidents.models import Incident
from service.notify.models import Notification
from service.wiring import run_tick
from tests.conftest import ADMIN, START

RULE = "P1 not acknowledged"


def tick_at(frozen_clock, minutes):
    frozen_clock.set(START + timedelta(minutes=minutes))
    run_tick(frozen_clock.now())


def chain_mail(app, incident):
    """(slot, recipient) of the rule's escalation messages, in order."""
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(
            Notification.incident_id == incident["id"], Notification.kind == "escalation",
            Notification.slot.like(f"rule:{RULE}%")).order_by(Notification.id)).all()
        return [(n.slot, n.recipient) for n in rows]


def escalations(client, incident):
    response = client.get(f"/api/incidents/{incident['id']}/escalations", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return [e for e in response.get_json() if e["rule"] == RULE]


def ack_link(app, incident, recipient):
    with app.app_context():
        row = db.session.scalar(select(Notification).where(
            Notification.incident_id == incident["id"], Notification.kind == "escalation",
            Notification.recipient == recipient).order_by(Notification.id))
        return row.ack_token


def texts(client, incident):
    return [e["text"] for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()]


STEP0 = (f"rule:{RULE}", "eng-manager@example.com")
STEP1 = (f"rule:{RULE}:step:1", "vp-engineering@example.com")


def test_each_step_on_time(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 14)
    assert chain_mail(app, incident) == []
    tick_at(frozen_clock, 15)
    assert chain_mail(app, incident) == [STEP0]
    tick_at(frozen_clock, 29)
    assert chain_mail(app, incident) == [STEP0]
    tick_at(frozen_clock, 30)
    assert chain_mail(app, incident) == [STEP0, STEP1]
    for minute in range(31, 45):
        tick_at(frozen_clock, minute)
    assert chain_mail(app, incident) == [STEP0, STEP1]
    assert not any(t.startswith(f"Escalation '{RULE}' unanswered") for t in texts(client, incident))
    tick_at(frozen_clock, 45)  # the last step's time ran out: nobody is left, the timeline says so once
    tick_at(frozen_clock, 50)
    unanswered = [t for t in texts(client, incident) if t.startswith(f"Escalation '{RULE}' unanswered")]
    assert unanswered == [f"Escalation '{RULE}' unanswered: VP Engineering did not acknowledge within 15 minutes, "
                          "and the chain has no further step"]
    assert ("Escalated to VP Engineering (step 2): P1 not acknowledged within 15 minutes; Engineering Manager did "
            "not acknowledge within 15 minutes") in texts(client, incident)

    steps = escalations(client, incident)
    assert [(e["step"], e["contacts"], e["fired_at"]) for e in steps] == [
        (0, ["engineering_manager"], "2026-03-02T10:15:00Z"), (1, ["vp_engineering"], "2026-03-02T10:30:00Z")]
    assert steps[1]["recipients"] == [{"address": "vp-engineering@example.com", "channel": "log",
                                       "sent_at": "2026-03-02T10:30:00Z", "acknowledged_at": None}]
    assert steps[1]["acknowledged_at"] is None and steps[1]["acknowledged_by"] is None and steps[1]["via"] is None


def test_no_step_after_an_acknowledgement(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 15)
    frozen_clock.set(START + timedelta(minutes=22))
    token = ack_link(app, incident, "eng-manager@example.com")
    assert client.post(f"/ack/{token}").status_code == 200
    for minute in range(23, 80):
        tick_at(frozen_clock, minute)
    assert chain_mail(app, incident) == [STEP0]
    [step] = escalations(client, incident)
    assert (step["acknowledged_at"], step["acknowledged_by"], step["via"]) == (
        "2026-03-02T10:22:00Z", "eng-manager@example.com", "link")
    assert step["recipients"][0]["acknowledged_at"] == "2026-03-02T10:22:00Z"
    assert not any("unanswered" in t for t in texts(client, incident))
    # The other rule of the matrix is not this chain: P1 not mitigated still reaches the VP at 60 minutes.
    with app.app_context():
        slots = set(db.session.scalars(select(Notification.slot).where(
            Notification.incident_id == incident["id"], Notification.kind == "escalation")))
    assert "rule:P1 not mitigated" in slots


def test_the_condition_ending_stops_the_chain(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 15)
    frozen_clock.set(START + timedelta(minutes=20))
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    for minute in (30, 45, 59):
        tick_at(frozen_clock, minute)
    assert chain_mail(app, incident) == [STEP0]


def test_one_step_per_late_tick(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 50)  # the worker was down for 50 minutes: step 0 only, not the whole chain
    assert chain_mail(app, incident) == [STEP0]
    tick_at(frozen_clock, 64)  # step 1 waits its full time from when step 0 actually went out
    assert chain_mail(app, incident) == [STEP0]
    tick_at(frozen_clock, 65)
    assert chain_mail(app, incident) == [STEP0, STEP1]
    tick_at(frozen_clock, 200)  # very late again: only the end of the chain is noted
    assert chain_mail(app, incident) == [STEP0, STEP1]
    assert sum("unanswered" in t for t in texts(client, incident)) == 1


def test_each_step_fires_once_across_workers(app, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 15)
    frozen_clock.set(START + timedelta(minutes=30))
    with app.app_context():
        for _ in range(3):  # three workers acting on the same incident at the same moment
            with db.transaction() as s:
                ticks.act(s, s.get(Incident, incident["id"]), frozen_clock.now())
        keys = db.session.scalars(select(EscalationFiring.key).where(
            EscalationFiring.incident_id == incident["id"], EscalationFiring.key.like("rule:%"))).all()
        steps = db.session.scalars(select(EscalationStep.step).where(
            EscalationStep.incident_id == incident["id"], EscalationStep.rule == RULE)).all()
    assert sorted(keys) == [f"rule:{RULE}", f"rule:{RULE}:step:1"]
    assert sorted(steps) == [0, 1]
    assert chain_mail(app, incident) == [STEP0, STEP1]


def test_a_rule_fired_before_chains_existed_continues_from_its_firing(app, frozen_clock, open_incident):
    """An incident escalated by an older Herald has a `rule:<name>` firing but no step record: the chain
    still counts from that firing."""
    incident = open_incident("P1")
    with app.app_context(), db.transaction() as s:
        s.add(EscalationFiring(incident_id=incident["id"], key=f"rule:{RULE}", fired_at=START + timedelta(minutes=15)))
    tick_at(frozen_clock, 29)
    assert chain_mail(app, incident) == []
    tick_at(frozen_clock, 30)
    assert chain_mail(app, incident) == [STEP1]


def test_escalations_api_for_an_unknown_incident_and_without_a_token(client):
    assert client.get("/api/incidents/999/escalations", headers=ADMIN).status_code == 404
    assert client.get("/api/incidents/1/escalations").status_code == 401
