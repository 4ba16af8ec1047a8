"""Robustness: three `herald worker` processes on PostgreSQL, one killed with SIGKILL in the middle of a burst.

Everything is delivered: the others take the dead worker's messages over as soon as its heartbeat
stops (worker.STOPPED_AFTER, 15 s), not when its one-minute leases run out. Duplicates can only be
messages the dead worker had in flight; they, and how long the takeover took, are printed.
"""
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select

from service import create_app, db
from service.notify.models import Notification
from service.notify.outbox import Recipient, notify
from service.worker import WorkerHeartbeat
from tests.conftest import ADMIN
from tests.notify.polling import wait_until

MESSAGES = 150
WORKERS = 3



def test_kill_minus_nine_loses_nothing(database_url, config, smtp_sink, tmp_path):
    if not database_url.startswith("postgresql"):
        pytest.skip("several workers share one PostgreSQL database; SQLite serves one process")
    sink = smtp_sink(delay=0.05)  # slow enough that a worker is always mid-send
    config.smtp_url = f"smtp://127.0.0.1:{sink.port}"
    app = create_app(config)
    env = {**os.environ, "HERALD_DATABASE_URL": database_url, "HERALD_SMTP_URL": config.smtp_url,
           "HERALD_POLICY": config.policy_path, "HERALD_SECRET_KEY": config.secret_key,
           "HERALD_TICK_SECONDS": "0.2", "HERALD_DISPATCH_LEASE_SECONDS": "60", "HERALD_DISPATCH_THREADS": "4",
           "HERALD_VAR_DIR": str(tmp_path)}
    herald = Path(sys.executable).with_name("herald")
    workers = [subprocess.Popen([str(herald), "worker"], env=env, stdout=subprocess.DEVNULL,
                                stderr=open(tmp_path / f"worker{i}.log", "w")) for i in range(WORKERS)]
    try:
        with app.app_context():
            def beating():
                with db.transaction() as s:
                    return s.scalar(select(func.count(WorkerHeartbeat.id))) >= WORKERS
            assert wait_until(beating, 60), "the workers did not start"

            client = app.test_client()
            incident_id = client.post("/api/incidents", json={"title": "Burst", "severity": "P3"},
                                      headers=ADMIN).get_json()["id"]
            with db.transaction() as s:
                from service.incidents.models import Incident

                incident = s.get(Incident, incident_id)
                notify(s, incident=incident, kind="escalation", slot="burst",
                       recipients=[Recipient("email", f"person{i}@example.com", f"Person {i}") for i in range(MESSAGES)],
                       context={"escalation": {"name": "Burst", "reason": "Robustness test"}})

            assert wait_until(lambda: len(sink.raw) >= MESSAGES // 3, 60)
            victim = workers[0]
            victim.send_signal(signal.SIGKILL)
            killed_at = time.monotonic()
            victim.wait(10)
            with db.transaction() as s:
                in_flight = set(s.scalars(select(Notification.message_id).where(
                    Notification.claimed_by.like(f"%:{victim.pid}"), Notification.status != "sent")).all())

            def all_sent():
                with db.transaction() as s:
                    return s.scalar(select(func.count()).where(Notification.status != "sent")) == 0
            # The leases are a minute: finishing well within it means the dead worker's messages were taken over.
            assert wait_until(all_sent, 40), "the surviving workers did not take the dead worker's messages over"
            took = time.monotonic() - killed_at

            with db.transaction() as s:
                expected = set(s.scalars(select(Notification.message_id)).all())
        received = Counter(m["Message-ID"] for m in sink.messages)
        duplicates = {mid: n - 1 for mid, n in received.items() if n > 1}
        print(f"\nkill -9 during a burst of {len(expected)} messages: {sum(duplicates.values())} duplicate(s), "
              f"{len(in_flight)} in flight at the kill; all sent {took:.1f} s after the kill")
        assert set(received) == expected  # every notification arrived
        assert set(duplicates) <= in_flight  # only messages in flight at the kill went twice
        assert all(n == 1 for n in duplicates.values())
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)
        for worker in workers:
            try:
                worker.wait(15)
            except subprocess.TimeoutExpired:
                worker.kill()
        db.session.remove()
