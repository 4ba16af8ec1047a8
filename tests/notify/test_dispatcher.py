"""The background dispatcher: woken by commits (and, across processes, by PostgreSQL NOTIFY), bounded pool."""
import threading
import time

import pytest

from service import db
from service.notify import dispatcher
from service.notify.dispatcher import Dispatcher
from tests.conftest import ADMIN
from tests.notify.polling import wait_until



@pytest.fixture
def running(app):
    started = []

    def start(*, install=True, **options):
        settings = {"threads": 4, "lease_seconds": 60, "idle_seconds": 3600, **options}
        d = Dispatcher(**settings)
        d.start()
        if install:
            dispatcher._active = d
        started.append(d)
        return d

    yield start
    for d in started:
        if dispatcher._active is d:
            dispatcher._active = None
        d.stop()


def test_a_commit_wakes_the_dispatcher_without_any_tick(client, config, teams, responders, running, outbox):
    config.teams_webhook_url = teams.url
    responders(bob_webhook=teams.url)
    running()  # idle for an hour: only the commit can wake it
    client.post("/api/incidents", json={"title": "Down", "severity": "P1"}, headers=ADMIN)
    assert wait_until(lambda: {n.status for n in outbox()} == {"sent"})
    assert len(teams.messages) == 2


def test_notify_from_another_process_wakes_the_dispatcher_over_postgres(app, client, config, teams, running,
                                                                       outbox):
    with app.app_context():
        if not db.is_postgres():
            pytest.skip("LISTEN/NOTIFY is PostgreSQL's; SQLite runs one process")
    config.teams_webhook_url = teams.url
    remote = running(install=False)  # not this process's dispatcher: a commit here cannot poke it directly
    assert remote.listening.wait(15)
    client.post("/api/incidents", json={"title": "Down", "severity": "P1"}, headers=ADMIN)
    assert wait_until(lambda: {n.status for n in outbox(channel="teams")} == {"sent"})


def test_the_pool_never_runs_more_sends_than_threads(client, config, teams, running, outbox):
    config.teams_webhook_url = teams.url
    busy, peak, lock = [0], [0], threading.Lock()
    original = teams.handle

    def slow(request):
        with lock:
            busy[0] += 1
            peak[0] = max(peak[0], busy[0])
        time.sleep(0.05)
        with lock:
            busy[0] -= 1
        return original(request)

    teams.handle = slow
    running(threads=3)
    for n in range(12):
        client.post("/api/incidents", json={"title": f"Down {n}", "severity": "P1"}, headers=ADMIN)
    assert wait_until(lambda: len(outbox(channel="teams", status="sent")) == 12)
    assert 1 <= peak[0] <= 3


def test_a_stopped_workers_claims_are_taken_over_before_their_lease_ends(app, client, frozen_clock):
    """A worker killed mid-send leaves its claims behind; once its ticker has been silent for
    STOPPED_AFTER the others take them over (not a minute later, when the leases run out). A live
    worker's claims stay its own."""
    from datetime import timedelta

    from sqlalchemy import select, update

    from service.incidents.models import Incident
    from service.notify.models import Notification
    from service.notify.outbox import Recipient, notify
    from service.worker import STOPPED_AFTER, WorkerHeartbeat

    now = frozen_clock.now()
    incident_id = client.post("/api/incidents", json={"title": "Kill", "severity": "P4"}, headers=ADMIN).get_json()["id"]
    with app.app_context():
        with db.transaction() as s:
            s.execute(update(Notification).values(status="sent"))  # the incident's own messages are not the point
            notify(s, incident=s.get(Incident, incident_id), kind="escalation", slot="kill",
                   recipients=[Recipient("email", f"p{i}@example.com", f"P{i}") for i in range(2)],
                   context={"escalation": {"name": "Kill", "reason": "test"}})
            s.add(WorkerHeartbeat(name="dead:1", started_at=now, last_tick_at=now))
            s.add(WorkerHeartbeat(name="alive:2", started_at=now, last_tick_at=now))
        lease = timedelta(seconds=60)
        assert len(dispatcher.claim(1, worker_id="dead:1", now=now, lease=lease)) == 1
        assert len(dispatcher.claim(1, worker_id="alive:2", now=now, lease=lease)) == 1
        later = now + STOPPED_AFTER + timedelta(seconds=1)
        with db.transaction() as s:
            s.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == "alive:2")).last_tick_at = later
        assert dispatcher.claim(10, worker_id="other:3", now=now + timedelta(seconds=5), lease=lease) == []
        taken = dispatcher.claim(10, worker_id="other:3", now=later, lease=lease)
        assert [c.job.recipient for c in taken] == ["p0@example.com"]
