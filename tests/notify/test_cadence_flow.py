"""The cadence through the API and the tick, with the test clock: who hears what, when."""
from datetime import timedelta

from sqlalchemy import select

from service import db
from service.incidents.models import Incident, IncidentUpdate
from service.notify import triggers
from service.wiring import run_tick
from tests.conftest import ADMIN, START


def open_incident(client, severity="P1", **body):
    payload = {"title": "Orders are failing", "severity": severity, "impact": "Nobody can trade", **body}
    response = client.post("/api/incidents", json=payload, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def get(client, incident):
    return client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()


def updates(client, incident):
    return client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN).get_json()


def minutes(n):
    return START + timedelta(minutes=n)


def test_p1_cadence_reminder_then_automatic_update_then_posted_update_restarts_the_clock(
        client, responders, outbox, frozen_clock):
    responders()
    incident = open_incident(client)
    assert get(client, incident)["next_update_due_at"] == "2026-03-02T10:15:00Z"
    run_tick(frozen_clock.now())

    run_tick(frozen_clock.set(minutes(9, )) or frozen_clock.now())
    assert outbox(kind="reminder") == []
    run_tick(frozen_clock.set(minutes(10)) or frozen_clock.now())
    run_tick(frozen_clock.set(minutes(11)) or frozen_clock.now())
    reminders = outbox(kind="reminder")
    assert [(r.recipient_name, r.status) for r in reminders] == [("Carol Clark", "sent")]
    assert reminders[0].payload["subject"] == "[INC-20260302-1] ⏰ Stakeholder update due in 5 minutes: " \
                                              "Orders are failing"

    run_tick(frozen_clock.set(minutes(15)) or frozen_clock.now())
    posted = updates(client, incident)
    assert [(u["kind"], u["automatic"]) for u in posted] == [("initial", False), ("progress", True)]
    assert get(client, incident)["next_update_due_at"] == "2026-03-02T10:30:00Z"
    automatic = outbox(kind="progress")
    assert [(n.recipient, n.status) for n in automatic] == [("stakeholders@example.com", "sent")]
    assert "nothing new to report" in automatic[0].payload["text"]
    assert "Next update in 15 minutes." in automatic[0].payload["text"]

    frozen_clock.set(minutes(20))
    response = client.post(f"/api/incidents/{incident['id']}/updates", headers=ADMIN,
                           json={"status": "identified", "learned": "A bad deploy", "doing": "Rolling back"})
    assert response.status_code == 201
    assert get(client, incident)["next_update_due_at"] == "2026-03-02T10:35:00Z"  # restarted from the posted update
    manual = outbox(kind="progress")[-1]
    assert manual.status == "pending"  # enqueued in the request, sent at once by the dispatcher (here: the tick)
    assert "What we've learned: A bad deploy" in manual.payload["text"]
    run_tick(frozen_clock.now())
    assert outbox(kind="progress")[-1].status == "sent"
    run_tick(frozen_clock.set(minutes(31)) or frozen_clock.now())
    assert len(updates(client, incident)) == 3  # nothing due at 10:30 any more
    assert [r.slot for r in outbox(kind="reminder")] == ["due-20260302T101500", "due-20260302T103500"]


def test_a_late_tick_sends_one_catch_up_not_a_burst(client, responders, outbox, frozen_clock):
    responders()
    incident = open_incident(client)
    run_tick(frozen_clock.set(START + timedelta(hours=3)) or frozen_clock.now())
    run_tick(frozen_clock.now())
    assert [u["kind"] for u in updates(client, incident)] == ["initial", "progress"]
    assert get(client, incident)["next_update_due_at"] == "2026-03-02T13:15:00Z"
    assert outbox(kind="reminder") == []  # the reminder's moment passed unseen; the update went instead


def test_resolution_goes_out_and_ends_the_cadence(client, responders, outbox, frozen_clock):
    responders()
    incident = open_incident(client)
    frozen_clock.set(minutes(12))
    resolved = client.post(f"/api/incidents/{incident['id']}/resolve", headers=ADMIN,
                           json={"root_cause": "A bad deploy", "resolution": "Rolled back"})
    assert resolved.status_code == 200
    assert resolved.get_json()["next_update_due_at"] is None
    run_tick(frozen_clock.set(START + timedelta(hours=5)) or frozen_clock.now())
    assert [u["kind"] for u in updates(client, incident)] == ["initial", "resolution"]
    resolution = outbox(kind="resolution")
    assert [(n.recipient, n.status) for n in resolution] == [("stakeholders@example.com", "sent")]
    assert "Root cause: A bad deploy" in resolution[0].payload["text"]
    assert "Duration: 12 minutes" in resolution[0].payload["text"]

    reopened = client.patch(f"/api/incidents/{incident['id']}", json={"status": "investigating"}, headers=ADMIN)
    assert reopened.get_json()["next_update_due_at"] == "2026-03-02T10:27:00Z"  # overdue: the next tick catches up
    run_tick(frozen_clock.now())
    assert [u["kind"] for u in updates(client, incident)] == ["initial", "resolution", "progress"]


def test_raising_p2_to_p1_pages_the_p1_roles_and_tightens_the_cadence(client, responders, outbox, frozen_clock):
    responders()
    incident = open_incident(client, severity="P2")
    assert get(client, incident)["next_update_due_at"] == "2026-03-02T10:30:00Z"
    assert sorted((n.kind, n.recipient_name, n.slot) for n in outbox() if n.kind in ("page", "notice")) == [
        ("notice", "Carol Clark", "P2"), ("page", "Alice Archer", "P2"), ("page", "Bob Baker", "P2")]
    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)

    frozen_clock.set(minutes(20))
    raised = client.patch(f"/api/incidents/{incident['id']}", json={"severity": "P1"}, headers=ADMIN).get_json()
    assert raised["next_update_due_at"] == "2026-03-02T10:15:00Z"  # 15 minutes after the last update: overdue now
    p1 = sorted((n.kind, n.recipient_name) for n in outbox() if n.slot == "P1")
    assert p1 == [("notice", "Carol Clark"), ("notice", "Dave Dunn"), ("page", "Alice Archer"), ("page", "Bob Baker")]
    assert "🚨 PAGE P1" in outbox(kind="page", slot="P1")[0].payload["subject"]
    run_tick(frozen_clock.now())
    assert [u["kind"] for u in updates(client, incident)] == ["initial", "progress"]  # the catch-up
    assert get(client, incident)["next_update_due_at"] == "2026-03-02T10:35:00Z"
    assert {n.status for n in outbox(slot="P1")} == {"sent"}  # Alice acknowledged the P2, not this P1 page

    lowered = client.patch(f"/api/incidents/{incident['id']}", json={"severity": "P3"}, headers=ADMIN).get_json()
    assert lowered["next_update_due_at"] is None
    assert outbox(slot="P3") == []  # lowering pages nobody


def test_p3_and_p4_have_no_cadence(client, responders, outbox, frozen_clock):
    responders()
    p3 = open_incident(client, severity="P3")
    p4 = open_incident(client, severity="P4")
    assert get(client, p3)["next_update_due_at"] is None and get(client, p4)["next_update_due_at"] is None
    run_tick(frozen_clock.set(START + timedelta(hours=6)) or frozen_clock.now())
    assert [u["kind"] for u in updates(client, p3)] == ["initial"]
    assert [n.kind for n in outbox(incident_id=p3["id"])] == ["initial", "page"]
    initial = outbox(incident_id=p3["id"], kind="initial")[0]
    assert "Updates will be posted as the investigation progresses." in initial.payload["text"]


def test_a_handover_pages_the_new_holder(client, responders, make_person, outbox):
    responders()
    make_person("fay", "Fay Fox")
    incident = open_incident(client)
    response = client.put(f"/api/incidents/{incident['id']}/roles/incident_commander", json={"person": "fay"},
                          headers=ADMIN)
    assert response.status_code == 200
    assert [n.recipient_name for n in outbox(kind="page", slot="P1")] == ["Alice Archer", "Bob Baker", "Fay Fox"]
    client.put(f"/api/incidents/{incident['id']}/roles/scribe", json={"person": "alice"}, headers=ADMIN)
    assert [n.recipient_name for n in outbox(kind="notice")][-1] == "Alice Archer"


def test_two_workers_ticking_at_once_post_one_automatic_update(app, client, responders, frozen_clock):
    responders()
    incident = open_incident(client)
    frozen_clock.set(minutes(15))
    with app.app_context():
        for _ in range(2):  # the second runs after the first has committed, as a waiting worker would
            with db.transaction() as s:
                triggers._advance(s, incident["id"], frozen_clock.now())
        with db.transaction() as s:
            automatic = s.scalars(select(IncidentUpdate).where(IncidentUpdate.automatic.is_(True))).all()
            assert len(automatic) == 1
            assert s.get(Incident, incident["id"]).next_update_due_at == minutes(30)
