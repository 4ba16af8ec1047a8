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
