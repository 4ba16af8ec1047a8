"""The inbox's promises: nothing lost on a crash, each event applied once and in order, failures retried."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from service import clock, db
from service.alerts import inbox
from service.alerts.models import AlertEvent, AlertGroup
from service.incidents.models import Incident, TimelineEntry
from tests.alerts.senders import payload, resolved

AM = "/api/alerts/alertmanager"


def store_raw(app, body: dict, group_key: str) -> int:
    """Put an event straight into the inbox, as a past version of Herald (or a bug) might have left it."""
    with app.app_context(), db.transaction() as s:
        event = inbox.store(s, source="alertmanager", group_key=group_key, payload=body, token_name="test")
        s.flush()
        return event.id


def event_row(app, event_id: int) -> AlertEvent:
    with app.app_context(), db.transaction() as s:
        event = s.get(AlertEvent, event_id)
        s.expunge(event)
        return event


def count(app, model) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def test_a_crash_before_commit_leaves_every_event_pending(app, client, ingest):
    for _ in range(3):
        client.post(AM, json=payload("alertmanager_firing"), headers=ingest)
    with app.app_context(), pytest.raises(RuntimeError):
        with db.transaction() as s:
            claimed = inbox.claim(s, clock.now())
            assert len(claimed) == 3
            raise RuntimeError("worker killed mid-batch")
    with app.app_context():
        statuses = db.session.scalars(select(AlertEvent.status)).all()
    assert statuses == ["pending"] * 3
    assert count(app, Incident) == 0


def test_a_failing_event_is_retried_then_given_up_while_its_group_waits(app, client, ingest, process, frozen_clock,
                                                                          incidents):
    broken = payload("alertmanager_firing")
    key = broken.pop("groupKey")  # cannot be processed: the group key is missing
    bad = store_raw(app, broken, key)
    good_same_group = client.post(AM, json=payload("alertmanager_firing"), headers=ingest).get_json()["id"]
    other = payload("alertmanager_unicode")
    other_group = client.post(AM, json=other, headers=ingest).get_json()["id"]

    process()
    failed = event_row(app, bad)
    assert failed.status == "pending" and failed.attempts == 1 and "KeyError" in failed.last_error
    assert failed.next_attempt_at == frozen_clock.now() + timedelta(seconds=2)
    assert event_row(app, good_same_group).status == "pending"  # waits behind the older event of its group
    assert event_row(app, other_group).status == "done"  # other groups are not held up
    assert [i["title"] for i in incidents()] == ["Zahlungen schlagen fehl — 支付失败 🔥"]

    # Its own content fails it (not the database): a few tries, then the group is not held any longer.
    for attempt in range(2, inbox.MAX_BAD_EVENT_ATTEMPTS + 1):
        frozen_clock.advance(seconds=301)
        process()
        assert event_row(app, bad).attempts == attempt
    dead = event_row(app, bad)
    assert dead.status == "dead" and dead.outcome == f"gave up after {inbox.MAX_BAD_EVENT_ATTEMPTS} attempts"
    process()
    assert event_row(app, good_same_group).status == "done"  # the group moves on after giving up
    assert len(incidents()) == 2


def test_events_of_a_group_apply_in_arrival_order(app, client, ingest, process, incidents, timeline):
    body = payload("alertmanager_firing")
    client.post(AM, json=body, headers=ingest)
    client.post(AM, json=resolved(body), headers=ingest)
    client.post(AM, json=body, headers=ingest)
    client.post(AM, json=resolved(body, only={"7a1b3c9d2e4f5a60"}), headers=ingest)
    process()
    (incident,) = incidents()
    kinds = [e["kind"] for e in timeline(incident["id"]) if e["kind"].startswith("alert")]
    assert kinds == ["alert_firing", "alert_resolved", "alerts_resolved", "alert_firing", "alert_resolved"]


def test_a_busy_inbox_is_worked_off(app, client, ingest, process):
    body = payload("alertmanager_firing")
    for n in range(40):
        body["groupKey"] = f'{{}}:{{alertname="Load", n="{n}"}}'
        client.post(AM, json=body, headers=ingest)
    process()
    assert count(app, Incident) == 40
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AlertEvent.status != "done")) == 0


def test_processed_events_are_pruned_after_a_week(app, client, ingest, process, frozen_clock):
    client.post(AM, json=payload("alertmanager_firing"), headers=ingest)
    process()
    frozen_clock.advance(days=6)
    inbox.prune(clock.now())
    assert count(app, AlertEvent) == 1
    frozen_clock.advance(days=2)
    inbox.prune(clock.now())
    assert count(app, AlertEvent) == 0
    assert count(app, AlertGroup) == 1  # the group (and its incident link) stays


def test_several_workers_apply_each_event_exactly_once(app, client, ingest, timeline):
    """Four workers race over one inbox (PostgreSQL: FOR UPDATE SKIP LOCKED; SQLite: one writer)."""
    groups, repeats = 12, 6
    body = payload("alertmanager_firing")
    for round_ in range(repeats):
        for n in range(groups):
            body["groupKey"] = f'{{}}:{{alertname="Race", n="{n}"}}'
            notification = resolved(body) if round_ == repeats - 1 else body
            assert client.post(AM, json=notification, headers=ingest).status_code == 202
    errors: list[BaseException] = []

    def work():
        try:
            with app.app_context():
                idle = 0
                while idle < 3:  # stop once several looks in a row found nothing this worker may take
                    idle = idle + 1 if inbox.process_batch() == 0 else 0
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(4)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join()
    assert errors == []
    while True:  # whatever a worker deferred to another is picked up by the next tick
        with app.app_context():
            if inbox.process_batch() == 0:
                break
    with app.app_context():
        assert db.session.scalar(select(func.count()).where(AlertEvent.status != "done")) == 0
        assert db.session.scalar(select(func.count(Incident.id))) == groups
        per_incident = db.session.execute(
            select(TimelineEntry.incident_id, TimelineEntry.kind, func.count())
            .where(TimelineEntry.kind.in_(("alert_firing", "alerts_resolved")))
            .group_by(TimelineEntry.incident_id, TimelineEntry.kind)).all()
    assert sorted(n for _, kind, n in per_incident if kind == "alert_firing") == [1] * groups
    assert sorted(n for _, kind, n in per_incident if kind == "alerts_resolved") == [1] * groups
