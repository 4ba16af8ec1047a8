"""Rotation handoffs across many open incidents: spread over ticks, each role moved once, the claims hold.

The handoff job moves roles for a bounded time per tick (`handoffs.HANDOFF_SECONDS`, GROUP incidents at a
time); the tests set the bound to nothing, so each tick moves exactly one GROUP, whatever the machine's speed.
"""
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service import db
from service.notify import handoffs
from service.notify.handoffs import Move, Owner, Slot, moves
from service.rotations.models import RoleOwnerSeen
from tests.conftest import ADMIN, START

from .helpers import t
from .test_handoffs import HANDOFF, holder, open_incident, tick_at, timeline


@pytest.fixture
def one_group_per_tick(monkeypatch):
    monkeypatch.setattr(handoffs, "GROUP", 1)
    monkeypatch.setattr(handoffs, "HANDOFF_SECONDS", 0.0)


def handoff_messages(client, number):
    notes = client.get(f"/api/incidents/{number}/notifications", headers=ADMIN).get_json()
    return [n for n in notes if n["kind"] == "handoff"]


def rotation_moves(client, number):
    return [e for e in timeline(client, number)
            if e["kind"] == "role_assigned" and e["data"].get("reason") == "rotation"]


def test_a_handoff_on_many_incidents_moves_a_bounded_batch_per_tick_oldest_first(
        client, team, put_calendar, frozen_clock, one_group_per_tick):
    put_calendar("incident-commander", "google_berlin.ics")
    numbers = [open_incident(client)["number"] for _ in range(3)]
    tick_at(frozen_clock, START + timedelta(seconds=1))  # first looks: nothing moves, all in one tick
    assert [holder(client, n) for n in numbers] == ["alice", "alice", "alice"]

    tick_at(frozen_clock, HANDOFF)
    assert [holder(client, n) for n in numbers] == ["bob", "alice", "alice"]
    tick_at(frozen_clock, HANDOFF + timedelta(seconds=1))
    assert [holder(client, n) for n in numbers] == ["bob", "bob", "alice"]
    tick_at(frozen_clock, HANDOFF + timedelta(seconds=2))
    assert [holder(client, n) for n in numbers] == ["bob", "bob", "bob"]
    tick_at(frozen_clock, HANDOFF + timedelta(seconds=3))
    for number in numbers:  # each moved and told once, however many ticks looked
        assert len(rotation_moves(client, number)) == 1
        assert [m["recipient"] for m in handoff_messages(client, number)] == ["bob@example.com"]


def test_first_looks_that_move_nothing_are_written_in_the_same_tick_as_a_move(
        client, team, put_calendar, frozen_clock, one_group_per_tick, app):
    put_calendar("incident-commander", "google_berlin.ics")
    tick_at(frozen_clock, HANDOFF - timedelta(hours=1))
    stale = open_incident(client)["number"]  # Alice's, opened before Bob's week: moves at its first look
    frozen_clock.set(HANDOFF + timedelta(minutes=1))
    fresh = [open_incident(client)["number"] for _ in range(2)]  # Bob's already: nothing to move
    tick_at(frozen_clock, HANDOFF + timedelta(minutes=1))
    assert holder(client, stale) == "bob"
    assert [holder(client, n) for n in fresh] == ["bob", "bob"]
    with app.app_context(), db.read_transaction() as s:
        incidents_seen = s.scalar(select(func.count(func.distinct(RoleOwnerSeen.incident_id))))
    assert incidents_seen == 3


def test_a_look_whose_claim_another_worker_took_moves_nothing(client, team, put_calendar, frozen_clock,
                                                              monkeypatch):
    """A second worker that read the old owners last seen (before the first committed) writes nothing and
    hands nothing over: its first-look INSERT finds the row there, its UPDATE finds the owner changed."""
    put_calendar("incident-commander", "google_berlin.ics")
    number = open_incident(client)["number"]
    snapshots = []

    def snapshot():
        with client.application.app_context(), db.read_transaction() as s:
            ids = list(range(1, 20))
            snapshots.append((handoffs._seen(s, ids), handoffs._slots(s, ids)))
    snapshot()  # before the first look
    tick_at(frozen_clock, START + timedelta(seconds=1))
    snapshot()  # before the handoff
    tick_at(frozen_clock, HANDOFF)
    assert holder(client, number) == "bob"

    handed = []
    monkeypatch.setattr(handoffs, "_hand_over", lambda *args: handed.append(args))
    for seen, slots in snapshots:  # a worker that read these, then wrote after the first worker committed
        monkeypatch.setattr(handoffs, "_seen", lambda s, ids, seen=seen: dict(seen))
        monkeypatch.setattr(handoffs, "_slots", lambda s, ids, slots=slots: dict(slots))
        with client.application.app_context():
            handoffs.hand_over_on_rotation(HANDOFF + timedelta(seconds=1))
    assert handed == []
    assert len(rotation_moves(client, number)) == 1
    assert len(handoff_messages(client, number)) == 1


# ---- the pure decision --------------------------------------------------------------------------

def test_moves_on_first_look_fill_an_empty_role_and_replace_a_holder_from_before_the_shift():
    shift = t("2026-03-09T08:00")
    owners = {"incident_commander": Owner(2, shift), "scribe": Owner(3, shift), "technical_lead": Owner(None)}
    slots = {(7, "incident_commander"): Slot(1, shift - timedelta(hours=1)),
             (7, "scribe"): Slot(None, None)}
    assert moves(7, owners, {}, slots) == [
        Move(7, "incident_commander", True, None, 2, True),
        Move(7, "scribe", True, None, 3, True),
        Move(7, "technical_lead", True, None, None, False),  # nobody on call: only the look is noted
    ]
    given_after = {(7, "incident_commander"): Slot(1, shift + timedelta(minutes=5))}  # a handover stands
    assert moves(7, {"incident_commander": Owner(2, shift)}, {}, given_after) == [
        Move(7, "incident_commander", True, None, 2, False)]


def test_moves_later_follow_only_a_change_and_a_gap_keeps_the_holder():
    owners = {"incident_commander": Owner(2), "scribe": Owner(None), "technical_lead": Owner(4)}
    seen = {(7, "incident_commander"): 1, (7, "scribe"): 3, (7, "technical_lead"): 4}
    slots = {(7, "incident_commander"): Slot(1, None), (7, "scribe"): Slot(3, None)}
    assert moves(7, owners, seen, slots) == [
        Move(7, "incident_commander", False, 1, 2, True),
        Move(7, "scribe", False, 3, None, False),
    ]
    already = {(7, "incident_commander"): Slot(2, None)}  # handed to the new owner by hand before the handoff
    assert moves(7, {"incident_commander": Owner(2)}, seen, already) == [
        Move(7, "incident_commander", False, 1, 2, False)]
