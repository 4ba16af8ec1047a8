"""The inbox of monitoring events: stored by the request, processed by the worker, each exactly once.

The handler only inserts a row and answers, so a storm never waits on paging. The worker claims due
rows (`FOR UPDATE SKIP LOCKED` on PostgreSQL, so several workers share the work; SQLite's single
writer serialises it) and applies each one in the same transaction that marks it done: a crash
rolls both back and the event is simply processed again later. Events of one group are applied in
the order they arrived; a group whose oldest event is still pending elsewhere (another worker, or a
retry back-off) waits for it.
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import datetime, timedelta

from sqlalchemy import delete, exists, func, or_, and_, select
from sqlalchemy.orm import Session, aliased

from .. import clock, db, worker
from . import processing
from .models import AlertEvent, group_hash

log = logging.getLogger("herald.alerts")

BATCH_SIZE = 100
# Commit at least this often: SQLite has one writer, and ingest requests wait for it.
TRANSACTION_SECONDS = 0.02
# Give the other tick jobs (dispatch!) their turn; a busy inbox asks for another tick at once.
TICK_SECONDS = 0.5
MAX_ATTEMPTS = 10
KEEP_DONE = timedelta(days=7)
KEEP_DEAD = timedelta(days=30)
PRUNE_EVERY_SECONDS = 600
PRUNE_BATCH = 1000

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
        worker.wake_after_commit(s)
    return event


def claim(s: Session, now: datetime, limit: int = BATCH_SIZE) -> list[AlertEvent]:
    """Due events, oldest first, locked for this transaction; skips groups held up by a retry back-off."""
    earlier = aliased(AlertEvent)
    held_up = exists().where(earlier.group_hash == AlertEvent.group_hash, earlier.status == "pending",
                             earlier.id < AlertEvent.id, earlier.next_attempt_at > now)
    query = (select(AlertEvent)
             .where(AlertEvent.status == "pending", AlertEvent.next_attempt_at <= now, ~held_up)
             .order_by(AlertEvent.id).limit(limit).with_for_update(skip_locked=True))
    return list(s.scalars(query))


def _oldest_pending_elsewhere(s: Session, events: list[AlertEvent]) -> dict[str, int]:
    """Per group, the oldest pending event this batch does not hold (another worker may hold it)."""
    query = (select(AlertEvent.group_hash, func.min(AlertEvent.id))
             .where(AlertEvent.status == "pending", AlertEvent.group_hash.in_({e.group_hash for e in events}),
                    AlertEvent.id.not_in([e.id for e in events]))
             .group_by(AlertEvent.group_hash))
    return dict(s.execute(query).all())


def process_batch() -> int:
    """Claim and apply one batch in one transaction; return how many events were settled."""
    with db.transaction() as s:
        now = clock.now()
        events = claim(s, now)
        if not events:
            return 0
        waits_for = _oldest_pending_elsewhere(s, events)
        runs: dict[str, list[AlertEvent]] = {}
        for event in events:
            if waits_for.get(event.group_hash, event.id) >= event.id:  # else an older event comes first
                runs.setdefault(event.group_hash, []).append(event)
        settled = 0
        started = time.monotonic()
        for run in runs.values():
            settled += _settle(s, run, now)
            if time.monotonic() - started >= TRANSACTION_SECONDS:
                break
        return settled


def _settle(s: Session, run: list[AlertEvent], now: datetime) -> int:
    """Apply one group's events together; if that fails, one at a time, so only the bad one waits for a
    retry (and the group's later events wait behind it)."""
    try:
        with s.begin_nested():
            processing.apply_events(s, run)
    except Exception:
        for position, event in enumerate(run):
            try:
                with s.begin_nested():
                    processing.apply_events(s, [event])
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
    event.outcome = (event.outcome or "")[:300]
    event.processed_at = clock.now()
    event.last_error = None


def _failed(event: AlertEvent, exc: Exception, now: datetime) -> None:
    event.attempts += 1
    event.last_error = f"{type(exc).__name__}: {exc}"[:2000]
    if event.attempts >= MAX_ATTEMPTS:
        event.status = "dead"
        event.processed_at = now
        event.outcome = f"gave up after {event.attempts} attempts"
        log.error("alert event %s dead after %s attempts: %s", event.id, event.attempts, event.last_error)
    else:
        event.next_attempt_at = now + timedelta(seconds=min(2 ** event.attempts, 300))


@worker.register_tick("alerts")
def process_due_events(now: datetime) -> None:
    _wake_requested.clear()
    deadline = time.monotonic() + TICK_SECONDS
    while process_batch():
        if time.monotonic() >= deadline:
            worker.wake()  # more to do: come back right after the other jobs
            break
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
