"""The dispatcher: claims due outbox rows, sends them on a bounded thread pool, records the outcome.

Claiming is one short transaction: due rows (pending or failed, next attempt reached, no live lease)
are taken `FOR UPDATE SKIP LOCKED` on PostgreSQL (SQLite's single writer serialises instead) and
leased to this worker for `HERALD_DISPATCH_LEASE_SECONDS`. A worker killed mid-send simply lets
its lease run out and another worker sends the message; only messages in flight at the kill can
go out twice (and an email keeps its Message-ID, so clients fold the copy).

`herald serve` and `herald worker` run a `Dispatcher` thread that is poked when a transaction with
new rows commits (in this process directly; across processes by PostgreSQL NOTIFY) and by every
tick; without one (tests, one-off commands) the tick job drains the outbox inline.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta

from sqlalchemy import event, or_, select, text
from sqlalchemy.orm import Session, scoped_session

from .. import clock, db, worker
from ..processes import register_background
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..runtime import config
from .channels import DeliveryError, Outgoing, Receipt, RetryableError, channel_for, close_all
from .models import DUE_STATUSES, Notification
from .retry import after_failure

log = logging.getLogger("herald.notify.dispatcher")

NOTIFY_CHANNEL = "herald_outbox"
INLINE_BATCH = 50


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- waking ---------------------------------------------------------------------------------

def wake_after_commit(session: Session) -> None:
    """Make the new rows leave as soon as this transaction commits, in this process or another."""
    if isinstance(session, scoped_session):
        session = session()  # listen on this thread's session, not on every session of the factory
    transaction = session.get_transaction()
    if session.info.get("herald_wake") is transaction:
        return
    session.info["herald_wake"] = transaction
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_notify(:channel, '')"), {"channel": NOTIFY_CHANNEL})
    event.listen(session, "after_commit", lambda _s: poke(), once=True)


_active: "Dispatcher | None" = None


def poke() -> None:
    """Wake this process's dispatcher, else its ticker (whose dispatch job drains inline)."""
    if _active is not None and _active.running:
        _active.poke()
    else:
        worker.wake()


# ---- claim, send, record --------------------------------------------------------------------

def claim(limit: int, *, worker_id: str, now: datetime, lease: timedelta) -> list[Outgoing]:
    """Lease up to `limit` due rows to `worker_id`; pages no longer wanted are cancelled instead."""
    with db.transaction() as s:
        due = (
            select(Notification.id)
            .where(
                Notification.status.in_(DUE_STATUSES),
                Notification.next_attempt_at <= now,
                or_(Notification.claimed_until.is_(None), Notification.claimed_until < now),
            )
            .order_by(Notification.priority, Notification.next_attempt_at, Notification.id)
            .limit(limit)
        )
        if s.get_bind().dialect.name == "postgresql":
            due = due.with_for_update(skip_locked=True)
        ids = s.scalars(due).all()
        if not ids:
            return []
        rows = s.scalars(select(Notification).where(Notification.id.in_(ids))
                         .order_by(Notification.priority, Notification.next_attempt_at, Notification.id)).all()
        claimed = []
        for row in rows:
            reason = _no_longer_wanted(s, row)
            if reason:
                row.status = "cancelled"
                row.last_error = reason
                continue
            row.claimed_until = now + lease
            row.claimed_by = worker_id
            claimed.append(Outgoing(id=row.id, kind=row.kind, channel=row.channel, recipient=row.recipient,
                                    recipient_name=row.recipient_name, payload=row.payload,
                                    message_id=row.message_id))
        return claimed


def _no_longer_wanted(s: Session, row: Notification) -> str | None:
    """A page that came due after its point passed: the incident ended, the role moved on or was acknowledged."""
    if row.kind != "page" or row.incident_id is None:
        return None
    incident = s.get(Incident, row.incident_id)
    if incident is None or not incident.is_open:
        return f"not sent: the incident is {incident.status if incident else 'gone'}"
    if row.person_id is None:
        return None
    held = [r for r in incident.roles if r.person_id == row.person_id]
    if not held:
        return "not sent: the person no longer holds a role on the incident"
    if all(r.acknowledged_at is not None and r.acknowledged_at > row.created_at for r in held):
        return "not sent: already acknowledged"
    return None


def deliver(job: Outgoing) -> tuple[Receipt | None, DeliveryError | None]:
    """Send one message; never raises."""
    try:
        return channel_for(job.channel, config()).send(job), None
    except DeliveryError as exc:
        return None, exc
    except Exception as exc:  # an adapter bug must not lose the message: retry it and show why
        log.exception("sending notification %s failed unexpectedly", job.id)
        return None, RetryableError(f"{type(exc).__name__}: {exc}")


def record_outcome(job: Outgoing, receipt: Receipt | None, error: DeliveryError | None, *, worker_id: str) -> None:
    now = clock.now()
    with db.transaction() as s:
        row = s.get(Notification, job.id, with_for_update=s.get_bind().dialect.name == "postgresql")
        if row is None or row.status == "sent":
            return  # someone finished it first (after our lease ran out): nothing to add
        row.attempts += 1
        row.claimed_until = None
        row.claimed_by = None
        if receipt is not None:
            row.status = "sent"
            row.sent_at = now
            row.provider_id = receipt.provider_id
            row.latency_ms = max(int((now - row.due_at).total_seconds() * 1000), 0)
            return
        status, next_attempt = after_failure(attempts=row.attempts, due_at=row.due_at, now=now,
                                             retry_after=error.retry_after, permanent=error.permanent)
        row.status = status
        row.last_error = str(error)[:2000]
        if next_attempt is not None:
            row.next_attempt_at = next_attempt
        log.warning("notification %s (%s to %s by %s) attempt %s failed: %s; %s", row.id, row.kind, row.recipient_name,
                    row.channel, row.attempts, error, "giving up" if status == "dead" else f"next at {next_attempt}")
        if status == "dead" and row.incident_id is not None:
            incident = s.get(Incident, row.incident_id)
            if incident is not None:
                record(s, incident, "notification_dead",
                       f"Gave up sending the {row.kind} to {row.recipient_name or row.recipient} by {row.channel} "
                       f"after {row.attempts} attempt(s): {row.last_error}",
                       notification=row.id, channel=row.channel)


def drain(now: datetime | None = None, *, worker_id: str | None = None) -> int:
    """Send everything due now, one message at a time, in this thread; return how many were attempted."""
    now = now or clock.now()
    worker_id = worker_id or worker_name()
    lease = timedelta(seconds=config().dispatch_lease_seconds)
    attempted = 0
    while True:
        jobs = claim(INLINE_BATCH, worker_id=worker_id, now=now, lease=lease)
        if not jobs:
            return attempted
        for job in jobs:
            receipt, error = deliver(job)
            record_outcome(job, receipt, error, worker_id=worker_id)
            attempted += 1


@worker.register_tick("dispatch", last=True)
def dispatch_tick(now: datetime) -> None:
    if _active is not None and _active.running:
        _active.poke()
    else:
        drain(now)


# ---- the background dispatcher --------------------------------------------------------------

class Dispatcher:
    """Feeds a bounded thread pool from the outbox; woken by commits, NOTIFY and ticks."""

    def __init__(self, *, threads: int, lease_seconds: float, idle_seconds: float):
        self.threads = max(int(threads), 1)
        self.capacity = self.threads * 4  # claimed ahead, so a free thread never waits for a claim
        self.lease = timedelta(seconds=lease_seconds)
        self.idle_seconds = max(idle_seconds, 0.05)
        self.worker_id = worker_name()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="herald-send")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._slots = threading.Semaphore(self.capacity)
        self._threads: list[threading.Thread] = []

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopping.is_set()

    def start(self) -> None:
        self._threads.append(threading.Thread(target=self._loop, name="herald-dispatcher", daemon=True))
        if db.is_postgres():
            self._threads.append(threading.Thread(target=self._listen, name="herald-outbox-listen", daemon=True))
        for thread in self._threads:
            thread.start()
        log.info("dispatcher %s started: %s threads, lease %ss", self.worker_id, self.threads,
                 self.lease.total_seconds())

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=10)
        self._pool.shutdown(wait=True)
        close_all()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.idle_seconds)
            self._wake.clear()
            try:
                self._feed()
            except Exception:
                log.exception("dispatcher: claiming failed; trying again shortly")
                self._stopping.wait(1)

    def _feed(self) -> None:
        while not self._stopping.is_set():
            self._slots.acquire()  # wait for one free place, then take every other free one
            free = 1
            while free < self.capacity and self._slots.acquire(blocking=False):
                free += 1
            try:
                jobs = claim(free, worker_id=self.worker_id, now=clock.now(), lease=self.lease)
            except Exception:
                self._release(free)
                raise
            self._release(free - len(jobs))
            if not jobs:
                return
            for job in jobs:
                self._pool.submit(self._send, job)

    def _release(self, n: int) -> None:
        for _ in range(n):
            self._slots.release()

    def _send(self, job: Outgoing) -> None:
        try:
            receipt, error = deliver(job)
            record_outcome(job, receipt, error, worker_id=self.worker_id)
        except Exception:
            log.exception("dispatcher: recording notification %s failed; its lease will expire", job.id)
        finally:
            self._slots.release()
            self._wake.set()

    def _listen(self) -> None:
        """PostgreSQL LISTEN: a commit with new rows in any process wakes this dispatcher at once."""
        import psycopg

        conninfo = db.engine().url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=1.0):
                            self._wake.set()
            except Exception as exc:
                log.warning("dispatcher: LISTEN connection lost (%s); reconnecting", exc)
                self._stopping.wait(2)


def start(app) -> Dispatcher:
    global _active
    cfg = app.config["HERALD"]
    dispatcher = Dispatcher(threads=cfg.dispatch_threads, lease_seconds=cfg.dispatch_lease_seconds,
                            idle_seconds=cfg.tick_seconds)
    dispatcher.start()
    _active = dispatcher
    return dispatcher


def stop(dispatcher: Dispatcher) -> None:
    global _active
    if _active is dispatcher:
        _active = None
    dispatcher.stop()


register_background("dispatcher", start, stop)
