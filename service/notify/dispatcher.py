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
from operator import attrgetter
import queue
import socket
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, or_, select
from sqlalchemy.orm import Session

from .. import clock, db, worker
from ..db import UTCDateTime
from ..incidents.models import OPEN_STATUSES, Incident, IncidentRole
from ..incidents.timeline import record as record_timeline
from ..mechanics.claim import claim_rows
from ..mechanics.wake import wake_after_commit
from ..runtime import config
from .channels import DeliveryError, Outgoing, Receipt, RetryableError, channel_for, close_all
from .models import DUE_STATUSES, Notification
from .retry import after_failure

log = logging.getLogger("herald.notify.dispatcher")

NOTIFY_CHANNEL = "herald_outbox"
INLINE_BATCH = 10
RECORD_BATCH = 200


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


# ---- waking ---------------------------------------------------------------------------------

def send_after_commit(session: Session) -> None:
    """Make the new rows leave as soon as this transaction commits, in this process or another."""
    wake_after_commit(session, poke, channel=NOTIFY_CHANNEL)


_active: "Dispatcher | None" = None


def poke() -> None:
    """Wake this process's dispatcher, else its ticker (whose dispatch job drains inline)."""
    if _active is not None and _active.running:
        _active.poke()
    else:
        worker.wake()


# ---- claim, send, record --------------------------------------------------------------------

@dataclass(frozen=True)
class Claim:
    """A row leased to this worker: the message, when it fell due, and the lease."""

    job: Outgoing
    due_at: datetime
    claimed_at: datetime
    lease_until: datetime

    def fresh(self, now: datetime) -> bool:
        """Still safe to start sending: at least half the lease is left for the send to finish in."""
        return now < self.claimed_at + (self.lease_until - self.claimed_at) / 2


@dataclass(frozen=True)
class Outcome:
    claim: Claim
    receipt: Receipt | None
    error: DeliveryError | None
    at: datetime


def claim(limit: int, *, worker_id: str, now: datetime, lease: timedelta) -> list[Claim]:
    """Lease up to `limit` due rows to `worker_id`, most urgent first; pages no longer wanted are cancelled."""
    with db.transaction() as s:
        lease_free = or_(Notification.claimed_until.is_(None), Notification.claimed_until < now,
                         Notification.claimed_by.in_(worker.stopped_tickers(now, config().tick_seconds)))
        rows = claim_rows(s, Notification, Notification.status.in_(DUE_STATUSES), Notification.next_attempt_at <= now,
                          lease_free, lease={"claimed_until": now + lease, "claimed_by": worker_id},
                          columns=_CLAIMED, order_by=_URGENT_FIRST, limit=limit)
        rows.sort(key=attrgetter(*(column.key for column in _URGENT_FIRST)))  # RETURNING keeps no order
        unwanted = _pages_no_longer_wanted(s, [r for r in rows if r.kind == "page" and r.incident_id is not None])
        if unwanted:  # never sent, so never leased
            s.execute(_CANCEL, [{"b_id": row_id, "b_why": why} for row_id, why in unwanted.items()])
        return [Claim(Outgoing(id=r.id, kind=r.kind, channel=r.channel, recipient=r.recipient,
                               recipient_name=r.recipient_name, payload=r.payload, message_id=r.message_id),
                      r.due_at, now, now + lease)
                for r in rows if r.id not in unwanted]


_URGENT_FIRST = (Notification.priority, Notification.next_attempt_at, Notification.id)
_CLAIMED = (Notification.id, Notification.kind, Notification.channel, Notification.recipient,
            Notification.recipient_name, Notification.payload, Notification.message_id, Notification.due_at,
            Notification.priority, Notification.next_attempt_at, Notification.incident_id, Notification.person_id,
            Notification.created_at)
_CANCEL = (Notification.__table__.update().where(Notification.__table__.c.id == bindparam("b_id"))
           .values(status="cancelled", last_error=bindparam("b_why"), claimed_until=None, claimed_by=None))


def _pages_no_longer_wanted(s: Session, pages) -> dict[int, str]:
    """{row id: why} for pages whose point passed before they came due: the incident ended, the
    person no longer holds a role on it, or acknowledged after the page was queued (one query)."""
    if not pages:
        return {}
    statuses: dict[int, str] = {}
    held: dict[tuple[int, int], list] = {}
    for incident_id, status, person_id, acknowledged_at in s.execute(
            select(Incident.id, Incident.status, IncidentRole.person_id, IncidentRole.acknowledged_at)
            .outerjoin(IncidentRole, (IncidentRole.incident_id == Incident.id) & IncidentRole.person_id.is_not(None))
            .where(Incident.id.in_({p.incident_id for p in pages}))):
        statuses[incident_id] = status
        if person_id is not None:
            held.setdefault((incident_id, person_id), []).append(acknowledged_at)
    unwanted = {}
    for page in pages:
        status = statuses.get(page.incident_id)
        if status not in OPEN_STATUSES:
            unwanted[page.id] = f"not sent: the incident is {status or 'gone'}"
        elif page.person_id is not None:
            acks = held.get((page.incident_id, page.person_id))
            if not acks:
                unwanted[page.id] = "not sent: the person no longer holds a role on the incident"
            elif all(at is not None and at > page.created_at for at in acks):
                unwanted[page.id] = "not sent: already acknowledged"
    return unwanted


def deliver(c: Claim) -> Outcome:
    """Send one claimed message; never raises."""
    try:
        receipt, error = channel_for(c.job.channel, config()).send(c.job), None
    except DeliveryError as exc:
        receipt, error = None, exc
    except Exception as exc:  # an adapter bug must not lose the message: retry it and show why
        log.exception("sending notification %s failed unexpectedly", c.job.id)
        receipt, error = None, RetryableError(f"{type(exc).__name__}: {exc}")
    return Outcome(c, receipt, error, clock.now())


_t = Notification.__table__
_MARK_SENT = (
    _t.update()
    .where(_t.c.id == bindparam("b_id"), _t.c.status != "sent")
    .values(status="sent", attempts=_t.c.attempts + 1, sent_at=bindparam("b_at", type_=UTCDateTime()),
            provider_id=bindparam("b_provider"), latency_ms=bindparam("b_latency"), claimed_until=None,
            claimed_by=None)
)


def record(outcomes: list[Outcome], *, worker_id: str) -> None:
    """Write what happened to a batch of sends in one transaction (one statement for all the successes)."""
    sent = [o for o in outcomes if o.receipt is not None]
    with db.transaction() as s:
        if sent:
            s.execute(_MARK_SENT, [{
                "b_id": o.claim.job.id, "b_at": o.at, "b_provider": o.receipt.provider_id,
                "b_latency": max(int((o.at - o.claim.due_at).total_seconds() * 1000), 0),
            } for o in sent])
        for outcome in outcomes:
            if outcome.receipt is None:
                _record_failure(s, outcome, worker_id)


def _record_failure(s: Session, outcome: Outcome, worker_id: str) -> None:
    row = s.get(Notification, outcome.claim.job.id, with_for_update=db.is_postgres(s))
    if row is None or row.status == "sent" or row.claimed_by != worker_id:
        return  # sent or re-claimed by another worker after our lease ran out: theirs to record
    error, now = outcome.error, outcome.at
    row.attempts += 1
    row.claimed_until = None
    row.claimed_by = None
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
            record_timeline(s, incident, "notification_dead",
                            f"Gave up sending the {row.kind} to {row.recipient_name or row.recipient} by "
                            f"{row.channel} after {row.attempts} attempt(s): {row.last_error}",
                            notification=row.id, channel=row.channel)


def drain(now: datetime | None = None, *, worker_id: str | None = None) -> int:
    """Send everything due now, one message at a time, in this thread; return how many were attempted."""
    now = now or clock.now()
    worker_id = worker_id or worker_name()
    lease = timedelta(seconds=config().dispatch_lease_seconds)
    attempted = 0
    while True:
        claims = claim(INLINE_BATCH, worker_id=worker_id, now=now, lease=lease)
        if not claims:
            return attempted
        for c in claims:
            if not c.fresh(clock.now()):
                break  # the rest of the batch waited too long: claim again rather than risk a twin
            record([deliver(c)], worker_id=worker_id)
            attempted += 1


def dispatch_tick(now: datetime) -> None:
    if _active is not None and _active.running:
        _active.poke()
    else:
        drain(now)


# ---- the background dispatcher --------------------------------------------------------------

class Dispatcher:
    """Feeds a bounded thread pool from the outbox; woken by commits, NOTIFY and ticks.

    Up to twice as many rows as threads are claimed, in batches of about one per thread, so the
    threads never wait for a claim; a row that waited past half its lease is left to the next
    claim. Outcomes are written by one recorder thread in batches.
    """

    def __init__(self, *, threads: int, lease_seconds: float, idle_seconds: float):
        self.threads = max(int(threads), 1)
        self.capacity = 2 * self.threads
        self.lease = timedelta(seconds=lease_seconds)
        self.idle_seconds = max(idle_seconds, 0.05)
        self.worker_id = worker_name()
        self._pool = ThreadPoolExecutor(max_workers=self.threads, thread_name_prefix="herald-send")
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._changed = threading.Condition()
        self._in_flight = 0  # claimed and not yet sent
        self._outcomes: queue.Queue[Outcome] = queue.Queue()
        self._threads: list[threading.Thread] = []
        self._recorder: threading.Thread | None = None
        self.listening = threading.Event()  # set once PostgreSQL LISTEN is in place

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stopping.is_set()

    def start(self) -> None:
        self._threads.append(threading.Thread(target=self._loop, name="herald-dispatcher", daemon=True))
        if db.is_postgres():
            self._threads.append(threading.Thread(target=self._listen, name="herald-outbox-listen", daemon=True))
        self._recorder = threading.Thread(target=self._record_loop, name="herald-outbox-record", daemon=True)
        for thread in (*self._threads, self._recorder):
            thread.start()
        log.info("dispatcher %s started: %s threads, lease %ss", self.worker_id, self.threads,
                 self.lease.total_seconds())

    def poke(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        with self._changed:
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout=10)
        self._pool.shutdown(wait=True)
        if self._recorder is not None:
            self._recorder.join(timeout=30)  # it writes what is left, then ends
        close_all()

    def _loop(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self.idle_seconds)
            self._wake.clear()
            try:
                self._feed()
            except Exception as exc:
                if not db.outage.noted(exc, "dispatcher"):  # an outage is logged once, not every second
                    log.exception("dispatcher: claiming failed; trying again shortly")
                self._stopping.wait(1)

    def _feed(self) -> None:
        while not self._stopping.is_set():
            with self._changed:
                # While every thread is busy and a batch waits, let it shrink before claiming more.
                while self._in_flight > self.threads and not self._stopping.is_set():
                    self._changed.wait(0.5)
                free = self.capacity - self._in_flight
            now = clock.now()
            claims = claim(free, worker_id=self.worker_id, now=now, lease=self.lease)
            if not claims:
                return
            with self._changed:
                self._in_flight += len(claims)
            for c in claims:
                self._pool.submit(self._send, c)

    def _send(self, c: Claim) -> None:
        try:
            if c.fresh(clock.now()):
                self._outcomes.put(deliver(c))
            else:
                log.warning("dispatcher: notification %s waited past half its lease; leaving it to the next claim",
                            c.job.id)
        finally:
            with self._changed:
                self._in_flight -= 1
                self._changed.notify_all()
            self._wake.set()

    def _record_loop(self) -> None:
        while True:
            try:
                batch = [self._outcomes.get(timeout=0.2)]
            except queue.Empty:
                if self._stopping.is_set() and not any(t.is_alive() for t in self._threads) \
                        and self._pool_idle():
                    return
                continue
            while len(batch) < RECORD_BATCH:
                try:
                    batch.append(self._outcomes.get_nowait())
                except queue.Empty:
                    break
            try:
                record(batch, worker_id=self.worker_id)
            except Exception as exc:  # the leases run out and the messages go again: logged, never lost
                if not db.outage.noted(exc, "dispatcher"):
                    log.exception("dispatcher: recording %s outcome(s) failed", len(batch))

    def _pool_idle(self) -> bool:
        with self._changed:
            return self._in_flight == 0

    def _listen(self) -> None:
        """PostgreSQL LISTEN: a commit with new rows in any process wakes this dispatcher at once."""
        import psycopg

        conninfo = db.engine().url.set(drivername="postgresql").render_as_string(hide_password=False)
        while not self._stopping.is_set():
            try:
                with psycopg.connect(conninfo, autocommit=True) as conn:
                    conn.execute(f"LISTEN {NOTIFY_CHANNEL}")
                    self.listening.set()
                    self._wake.set()  # anything committed while we were not listening
                    while not self._stopping.is_set():
                        for _ in conn.notifies(timeout=0.5):
                            self._wake.set()
            except Exception as exc:
                self.listening.clear()
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

