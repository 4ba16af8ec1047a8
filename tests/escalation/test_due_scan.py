"""The escalation tick's scan: `maybe_due` (SQL) lets through every incident `due_work` finds something due for,
and keeps out a series whose repeat just went out; a tick does the most severe incidents first and stops
starting new ones once its time is up, leaving the rest due for the next tick."""
from datetime import timedelta

import pytest
from sqlalchemy import select, true

from service import db
from service.escalation import ticks
from service.escalation.ticks import due_incidents, maybe_due
from service.incidents.models import Incident
from service.wiring import run_tick
from tests.conftest import ADMIN, START
from tests.escalation.test_escalation_ticks import notifications, pages_by_person, tick_at


def due_both_ways(app, minutes):
    """(due among what the scan lets through, due among every incident) at START + minutes."""
    now = START + timedelta(minutes=minutes)
    with app.app_context(), db.read_transaction() as s:
        return due_incidents(s, now), due_incidents(s, now, candidates=true())


def scanned(app, minutes):
    with app.app_context(), db.read_transaction() as s:
        return set(s.scalars(select(Incident.id).where(maybe_due(START + timedelta(minutes=minutes)))))


def test_the_scan_lets_through_every_incident_with_something_due(app, client, frozen_clock, open_incident,
                                                                  make_person):
    make_person("carol", "Carol Clark", "carol@example.com")
    p1 = open_incident("P1")
    p2 = open_incident("P2")
    raised = open_incident("P2")
    handed = open_incident("P1")
    acknowledged = open_incident("P2")
    client.post(f"/api/incidents/{acknowledged['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    down = set(range(12, 19)) | set(range(40, 47))  # the worker was down: late ticks send the latest repeat
    for minute in range(0, 95):
        assert due_both_ways(app, minute)[0] == due_both_ways(app, minute)[1], f"minute {minute}"
        if minute == 9:
            client.put(f"/api/incidents/{handed['id']}/roles/technical_lead", json={"person": "carol"},
                       headers=ADMIN)
        if minute == 21:
            client.patch(f"/api/incidents/{raised['id']}", json={"severity": "P1"}, headers=ADMIN)
        if minute not in down:
            tick_at(frozen_clock, minute)
    # The walk paged again and again (up to the limit of five repeats), so the scan had series to judge.
    assert pages_by_person(app, p1) == {"alice@example.com": 6, "bob@example.com": 6}
    assert pages_by_person(app, p2)["alice@example.com"] == 6
    assert [n.slot for n in notifications(app, handed, "page") if n.recipient == "carol@example.com"] == [
        "P1", "repeat-2", "repeat-3", "repeat-4", "repeat-5"]  # paged at 8; repeat 1 fell due while down
    assert pages_by_person(app, acknowledged) == {"alice@example.com": 1, "bob@example.com": 6}


def test_a_series_whose_repeat_went_out_stays_out_of_the_scan_until_the_next_is_due(app, frozen_clock,
                                                                                    open_incident):
    incident = open_incident("P2")  # a repeat every 15 minutes; no escalation rule or assemble check for P2
    tick_at(frozen_clock, 0)
    assert scanned(app, 14) == set()
    assert scanned(app, 15) == {incident["id"]}
    tick_at(frozen_clock, 15)
    assert [n.slot for n in notifications(app, incident, "page")].count("repeat-1") == 2  # alice and bob
    assert scanned(app, 16) == set()
    assert scanned(app, 29) == set()
    assert scanned(app, 30) == {incident["id"]}
    tick_at(frozen_clock, 30)
    for minute in (45, 60, 75):
        tick_at(frozen_clock, minute)
    assert pages_by_person(app, incident) == {"alice@example.com": 6, "bob@example.com": 6}
    assert scanned(app, 200) == set()  # five repeats: the series is done


def test_a_tick_does_the_most_severe_first_and_leaves_the_rest_for_the_next(app, frozen_clock, open_incident,
                                                                            monkeypatch):
    monkeypatch.setattr(ticks, "ESCALATION_SECONDS", 0.0)  # one incident per tick, whatever the machine
    p2 = open_incident("P2")
    p1 = open_incident("P1")
    tick_at(frozen_clock, 0)
    frozen_clock.set(START + timedelta(minutes=15))  # both have a repeat due
    assert due_both_ways(app, 15)[0] == [p1["id"], p2["id"]]
    run_tick(frozen_clock.now())
    assert pages_by_person(app, p1)["alice@example.com"] == 2
    assert pages_by_person(app, p2)["alice@example.com"] == 1  # not lost: still due
    frozen_clock.set(START + timedelta(minutes=15, seconds=1))
    run_tick(frozen_clock.now())
    assert pages_by_person(app, p2) == {"alice@example.com": 2, "bob@example.com": 2}
    assert "repeat-1" in [n.slot for n in notifications(app, p2, "page")]


@pytest.fixture(autouse=True)
def _no_handoffs(monkeypatch):
    """The rotation job is not what these tests look at (and its messages would count as pages)."""
    from service.notify import handoffs
    monkeypatch.setattr(handoffs, "hand_over_on_rotation", lambda now: None)
