"""The inbox of monitoring events: stored by the request, processed by the worker, each exactly once.

The handler only hands the event to this process's inbox writer and answers once it is committed, so
a storm never waits on paging. The writer commits whatever requests arrived meanwhile together (group
commit): one transaction and one disk flush for many events, and on SQLite one writer instead of
every request thread queueing for the single write lock. The worker claims due
rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the work; SQLite's single
writer serialises it) and applies each one in the same transaction that marks it done: a crash
rolls both back and the event is simply processed again later. Events of one group are applied in
the order they arrived; a group whose oldest event is still pending elsewhere (another worker, or a
retry back-off) waits for it.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, and_, select
from sqlalchemy.orm import Session, aliased

from .. import clock, db, worker
from ..mechanics.claim import skip_locked
from ..mechanics.retry import backoff
from ..mechanics.wake import wake_after_commit
from . import processing
from .models import AlertEvent, group_hash

log = logging.getLogger("herald.alerts")

BATCH_SIZE = 10
# Commit at least this often (and on SQLite as soon as the inbox writer waits): one writer at a time.
TRANSACTION_SECONDS = 0.02
# Then the other tick jobs (escalations, cadence…) get their turn; a busy inbox asks for another tick at once.
TICK_SECONDS = 2.0
# While webhooks keep arriving, accepting them comes first: after each batch the worker pauses as long
# as the batch took, so it never takes more than half of this process's time (and never stops).
STORM_QUIET_SECONDS = 0.1
MAX_ATTEMPTS = 10
MAX_BAD_EVENT_ATTEMPTS = 3
KEEP_DONE = timedelta(days=7)
KEEP_DEAD = timedelta(days=30)
PRUNE_EVERY_SECONDS = 600
PRUNE_BATCH = 1000
WRITE_TIMEOUT_SECONDS = 10.0
MAX_WRITE_BATCH = 500

_wake_requested = threading.Event()
_next_prune = 0.0


def store(s: Session, *, source: str, group_key: str, payload: dict, token_name: str) -> AlertEvent:
    """Keep an event for the worker and have the worker woken once the caller commits."""
    now = clock.now()
    event = AlertEvent(source=source, group_key=group_key, group_hash=group_hash(source, group_key),
                       payload=payload, token_name=token_name[:100], received_at=now, next_attempt_at=now,
                       status="pending", attempts=0)
    s.add(event)
    if not _wake_requested.is_set():  # one wake per tick is enough, however many events arrive
        _wake_requested.set()
        wake_after_commit(s)
    return event


class FairTurns:
    """First come, first served between this process's inbox writer and alert worker on SQLite.

    SQLite has one writer at a time and makes the others poll with growing sleeps; taking turns here
    instead means a request waits for at most one short worker transaction, and the worker for at
    most one write, however long a storm lasts.
    """

    def __init__(self):
        self._changed = threading.Condition()
        self._next_ticket = 0
        self._serving = 0

    def someone_waits(self) -> bool:
        """Another thread waits for the turn now held (the worker then commits early)."""
        with self._changed:
            return self._next_ticket - self._serving > 1

    @contextmanager
    def turn(self):
        with self._changed:
            ticket = self._next_ticket
            self._next_ticket += 1
            while ticket != self._serving:
                self._changed.wait()
        try:
            yield
        finally:
            with self._changed:
                self._serving += 1
                self._changed.notify_all()


_turns = FairTurns()


def _sqlite_turn():
    return nullcontext() if db.is_postgres() else _turns.turn()


class InboxUnavailable(Exception):
    """The event could not be stored (database down or too slow): the sender should retry."""


@dataclass
class _Submission:
    fields: dict
    done: threading.Event = field(default_factory=threading.Event)
    event_id: int | None = None
    error: Exception | None = None


class GroupCommitWriter:
    """Stores events for every request thread of this process, many per transaction.

    A request is answered only after the transaction holding its event has committed, so an accepted
    event is never lost; if the process dies first, the sender sees no answer and sends it again.
    """

    def __init__(self):
        self._queue: queue.SimpleQueue[_Submission] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.last_write = 0.0  # time.monotonic() of the last write

    def busy(self) -> bool:
        """Webhooks arrived within the last moment (a storm may be going on)."""
        return time.monotonic() - self.last_write < STORM_QUIET_SECONDS

    def submit(self, *, source: str, group_key: str, payload: dict, token_name: str) -> int:
        """Store one event; return its id once committed."""
        item = _Submission({"source": source, "group_key": group_key, "payload": payload,
                            "token_name": token_name})
        self._ensure_running()
        self._queue.put(item)
        if not item.done.wait(WRITE_TIMEOUT_SECONDS):
            raise InboxUnavailable("the database did not store the event in time; send it again")
        if item.error is not None:
            raise InboxUnavailable("the event could not be stored; send it again") from item.error
        return item.event_id

    def _ensure_running(self) -> None:
        with self._lock:  # started on first use, so a forking server starts one per worker process
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="herald-inbox-writer", daemon=True)
                self._thread.start()

    def _run(self) -> None:
        while True:
            batch = [self._queue.get()]
            while len(batch) < MAX_WRITE_BATCH:
                try:
                    batch.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            self._write(batch)

    def _write(self, batch: list[_Submission]) -> None:
        try:
            with _sqlite_turn(), db.transaction() as s:
                events = [store(s, **item.fields) for item in batch]
                s.flush()
            for item, event in zip(batch, events):
                item.event_id = event.id
            self.last_write = time.monotonic()
        except Exception as exc:  # every waiting request answers 503; the senders retry
            log.exception("could not store %d alert event(s)", len(batch))
            for item in batch:
                item.error = exc
        finally:
            for item in batch:
                item.done.set()


writer = GroupCommitWriter()


def claim(s: Session, now: datetime, limit: int = BATCH_SIZE) -> list[AlertEvent]:
    """Due events, oldest first, locked for this transaction; skips groups held up by a retry back-off."""
    earlier = aliased(AlertEvent)
    held_up = exists().where(earlier.group_hash == AlertEvent.group_hash, earlier.status == "pending",
                             earlier.id < AlertEvent.id, earlier.next_attempt_at > now)
    query = (select(AlertEvent)
             .where(AlertEvent.status == "pending", AlertEvent.next_attempt_at <= now, ~held_up)
             .order_by(AlertEvent.id).limit(limit))
    return list(s.scalars(skip_locked(query, s)))


def _oldest_pending_elsewhere(s: Session, events: list[AlertEvent]) -> dict[str, int]:
    """Per group, the oldest pending event this batch does not hold (another worker may hold it)."""
    query = (select(AlertEvent.group_hash, func.min(AlertEvent.id))
             .where(AlertEvent.status == "pending", AlertEvent.group_hash.in_({e.group_hash for e in events}),
                    AlertEvent.id.not_in([e.id for e in events]))
             .group_by(AlertEvent.group_hash))
    return dict(s.execute(query).all())


def process_batch() -> int:
    """Claim and apply one batch in one transaction; return how many events were settled.

    The batch is applied in one go; should anything in it fail, it is applied again one group (and
    then one event) at a time, so that only the bad event waits for a retry.
    """
    with _sqlite_turn(), db.transaction() as s:
        now = clock.now()
        events = claim(s, now)
        if not events:
            return 0
        waits_for = _oldest_pending_elsewhere(s, events)
        runs: dict[str, list[AlertEvent]] = {}
        for event in events:
            if waits_for.get(event.group_hash, event.id) >= event.id:  # else an older event comes first
                runs.setdefault(event.group_hash, []).append(event)
        if not runs:
            return 0
        until = time.monotonic() + TRANSACTION_SECONDS
        try:
            with s.begin_nested():
                applied = processing.apply_runs(
                    s, list(runs.values()), enough=lambda: time.monotonic() >= until or _turns.someone_waits())
        except Exception:
            log.warning("a batch of alert events failed; applying it one group at a time", exc_info=True)
            return sum(_settle(s, run, now) for run in runs.values())
        done = [event for run in list(runs.values())[:applied] for event in run]
        for event in done:
            _done(event)
        return len(done)


def _settle(s: Session, run: list[AlertEvent], now: datetime) -> int:
    """Apply one group's events; if that fails, one at a time, so only the bad one waits for a retry
    (and the group's later events wait behind it)."""
    try:
        with s.begin_nested():
            processing.apply_runs(s, [run])
    except Exception:
        for position, event in enumerate(run):
            try:
                with s.begin_nested():
                    processing.apply_runs(s, [[event]])
            except Exception as exc:  # one bad event must not hold up other groups
                log.exception("alert event %s failed", event.id)
                _failed(event, exc, now)
                return position + 1
            _done(event)
        return len(run)
    for event in run:
        _done(event)
    return len(run)


def _done(event: AlertEvent) -> None:
    event.status = "done"
    event.processed_at = clock.now()
    event.last_error = None


def _failed(event: AlertEvent, exc: Exception, now: datetime) -> None:
    """An event that failed is tried again after a back-off, while the group's later events wait behind it.

    When the database was unavailable that is right (MAX_ATTEMPTS, ~17 minutes); when the event itself
    fails (its content trips a bug), trying again cannot help and the group's clean events would wait
    for nothing, so it is given up after MAX_BAD_EVENT_ATTEMPTS (6 s) and stays visible as `dead`.
    """
    event.attempts += 1
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    limit = MAX_ATTEMPTS if db.Outage.is_outage(exc) else MAX_BAD_EVENT_ATTEMPTS
    if event.attempts >= limit:
        event.status = "dead"
        event.processed_at = now
        event.outcome = f"gave up after {event.attempts} attempts"
        log.error("alert event %s dead after %s attempts: %s", event.id, event.attempts, event.last_error)
    else:
        event.next_attempt_at = now + backoff(event.attempts, first=timedelta(seconds=2))  # 2 s … 5 min


def process_due_events(now: datetime) -> None:
    _wake_requested.clear()
    deadline = time.monotonic() + TICK_SECONDS
    while True:
        started = time.monotonic()
        if not process_batch():
            break
        if time.monotonic() >= deadline:
            worker.wake()  # more to do: come back right after the other jobs
            break
        if writer.busy():
            time.sleep(max(0.0, min(time.monotonic() - started, deadline - time.monotonic())))
    global _next_prune
    if time.monotonic() >= _next_prune:  # housekeeping: skipping a round loses nothing
        _next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        prune(now)


def prune(now: datetime) -> None:
    """Processed events are kept a week (dead ones a month) to answer "what did Herald do with it?"."""
    with db.transaction() as s:
        old = (select(AlertEvent.id)
               .where(or_(and_(AlertEvent.status == "done", AlertEvent.processed_at < now - KEEP_DONE),
                          and_(AlertEvent.status == "dead", AlertEvent.processed_at < now - KEEP_DEAD)))
               .order_by(AlertEvent.id).limit(PRUNE_BATCH))
        ids = list(s.scalars(old))
        if ids:
            s.execute(delete(AlertEvent).where(AlertEvent.id.in_(ids)))
