"""The ticker: APScheduler calls `run_tick` every HERALD_TICK_SECONDS with the jobs of `service/wiring.py`.

The database holds every future action (a row with a due time), so a tick only asks "what is due
now?". A late tick catches up instead of skipping; a restart loses nothing. `wake()` runs a tick at
once (new incident, new message) so nothing waits for the next interval.
"""
from __future__ import annotations

import logging
import os
import socket
import threading
import time
from datetime import datetime, timedelta, timezone
from dataclasses import dataclass, field
from typing import Callable

from apscheduler.schedulers.background import BackgroundScheduler
from sqlalchemy import JSON, Integer, String, select
from sqlalchemy.orm import Mapped, mapped_column

from . import clock, db
from .db import Base, UTCDateTime

log = logging.getLogger("herald.worker")

TickJob = Callable[[datetime], None]
TickJobs = list[tuple[str, TickJob]]  # in the order they run (service/wiring.py: TICK_JOBS)
STOPPED_AFTER = timedelta(seconds=15)


class WorkerHeartbeat(Base):
    """One row per running ticker; /api/health reads them to tell whether anything is ticking."""

    __tablename__ = "worker_heartbeats"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_tick_at: Mapped[datetime] = mapped_column(UTCDateTime())
    # How the ticker keeps up (GET /metrics): interval runs that found a tick still running (folded into one
    # more round, never queued), and how long the last and the longest tick took, the last per job.
    skipped_runs: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    last_tick_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    longest_tick_ms: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    job_ms: Mapped[dict | None] = mapped_column(JSON, default=dict)


def run_tick(jobs: TickJobs, now: datetime | None = None, durations: dict[str, float] | None = None) -> dict[str, str]:
    """Run every job once, in order; return {job: "ok" | error text}. Used by the ticker and by tests.

    `durations`, when given, receives how long each job took (seconds, measured, not the app's clock)."""
    now = now or clock.now()
    results = {}
    for name, fn in jobs:
        began = time.perf_counter()
        try:
            fn(now)
            results[name] = "ok"
        except Exception as exc:  # one failing job must not stop the others
            if not db.outage.noted(exc, f"tick job {name}"):  # an outage is logged once, not every tick
                log.exception("tick job %s failed", name)
            results[name] = f"{type(exc).__name__}: {exc}"
        finally:
            db.session.remove()
            if durations is not None:
                durations[name] = time.perf_counter() - began
    return results


@dataclass
class TickStats:
    """How one ticker keeps up; written with its heartbeat, read by GET /metrics."""

    skipped_runs: int = 0  # interval runs that came while a tick was still running
    last_tick_seconds: float = 0.0
    longest_tick_seconds: float = 0.0
    job_seconds: dict[str, float] = field(default_factory=dict)  # the last run of each job


class Ticker:
    def __init__(self, app, tick_seconds: float, jobs: TickJobs, name: str | None = None):
        self.app = app
        self.jobs = jobs
        self.tick_seconds = max(float(tick_seconds), 0.05)
        self.name = name or f"{socket.gethostname()}:{os.getpid()}"
        self.scheduler = BackgroundScheduler(timezone=timezone.utc)
        self.last_tick_at: datetime | None = None
        self._lock = threading.Lock()
        self._again = threading.Event()  # woken while a tick was running: tick again right after it
        self._ticking: int | None = None  # the thread running a tick
        self._stopping = False
        self.stats = TickStats()
        self._stats_lock = threading.Lock()

    def start(self) -> None:
        # A second instance may start while a tick runs (the interval under load): it only asks the running
        # tick to go round once more, counts a skipped run (a metric, GET /metrics) and returns, so
        # APScheduler never has to refuse a run and log "maximum number of running instances reached" every
        # interval, and however many intervals a slow tick spans, one more round follows it, not a queue.
        self.scheduler.add_job(
            self._tick, "interval", seconds=self.tick_seconds, id="tick", max_instances=3, coalesce=True,
            next_run_time=datetime.now(timezone.utc), misfire_grace_time=None,
        )
        self.scheduler.start()
        log.info("ticker %s started, every %ss", self.name, self.tick_seconds)

    def wake(self) -> None:
        """Run a tick now (if one is running, the next starts right after it)."""
        self._again.set()  # seen by a running tick, which then goes round once more
        if self._stopping or self._lock.locked():
            # A running tick sees the flag before it lets go of the lock and goes round again by itself (so a
            # wake is neither a skipped run nor a job for the scheduler); and asking the scheduler while it
            # shuts down would wait for its lock, which shutdown holds while it waits for this tick.
            return
        try:
            self.scheduler.modify_job("tick", next_run_time=datetime.now(timezone.utc))
        except Exception:  # scheduler shutting down
            pass

    def shutdown(self) -> None:
        self._stopping = True
        if self.scheduler.running:
            self.scheduler.shutdown(wait=True)
        with self.app.app_context():
            _forget_heartbeat(self.name)

    @property
    def running(self) -> bool:
        return self.scheduler.running

    def _tick(self) -> None:
        while True:
            if not self._lock.acquire(blocking=False):
                self._again.set()  # a tick is running: it goes round once more instead of this one
                with self._stats_lock:
                    self.stats.skipped_runs += 1
                return
            try:
                with self.app.app_context():
                    self._ticking = threading.get_ident()
                    try:
                        self._loop()
                    finally:
                        self._ticking = None
            finally:
                self._lock.release()
            if not self._again.is_set() or self._stopping:  # asked for between the last round and the release
                return

    def _loop(self) -> None:
        while True:
            self._again.clear()
            now = clock.now()
            durations: dict[str, float] = {}
            began = time.perf_counter()
            run_tick(self.jobs, now, durations)
            took = time.perf_counter() - began
            with self._stats_lock:
                stats = self.stats
                stats.last_tick_seconds = took
                stats.longest_tick_seconds = max(stats.longest_tick_seconds, took)
                stats.job_seconds.update(durations)
            self.last_tick_at = now
            _beat(self.name, now, self.stats)
            if not self._again.is_set() or self._stopping:
                break


def _beat(name: str, now: datetime, stats: TickStats | None = None) -> None:
    figures = {}
    if stats is not None:
        figures = {"skipped_runs": stats.skipped_runs, "last_tick_ms": round(stats.last_tick_seconds * 1000),
                   "longest_tick_ms": round(stats.longest_tick_seconds * 1000),
                   "job_ms": {job: round(seconds * 1000, 1) for job, seconds in stats.job_seconds.items()}}
    try:
        with db.transaction() as s:
            row = s.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == name))
            if row is None:
                s.add(WorkerHeartbeat(name=name, started_at=now, last_tick_at=now, **figures))
            else:
                row.last_tick_at = now
                for key, value in figures.items():
                    setattr(row, key, value)
    except Exception as exc:
        if not db.outage.noted(exc, "heartbeat"):
            log.exception("heartbeat failed")


def _forget_heartbeat(name: str) -> None:
    try:
        with db.transaction() as s:
            row = s.scalar(select(WorkerHeartbeat).where(WorkerHeartbeat.name == name))
            if row is not None:
                s.delete(row)
    except Exception:
        log.exception("could not remove heartbeat")


def stopped_tickers(now: datetime, tick_seconds: float):
    """A select of the names of the tickers that stopped beating (killed: a clean stop removes its row).

    Their processes' dispatchers (named the same, `worker_name()`) are gone too, so what they had
    claimed may be taken over at once instead of when each lease runs out (up to a minute later).
    Silent for ten ticks and at least STOPPED_AFTER counts as stopped; a tick job never takes that
    long (each yields within a few seconds).
    """
    quiet = max(timedelta(seconds=10 * tick_seconds), STOPPED_AFTER)
    return select(WorkerHeartbeat.name).where(WorkerHeartbeat.last_tick_at < now - quiet)


def scheduler_state(tick_seconds: float) -> dict:
    """What /api/health reports: the tickers that beat recently."""
    now = clock.now()
    rows = db.session.scalars(select(WorkerHeartbeat).order_by(WorkerHeartbeat.last_tick_at.desc())).all()
    fresh = [r for r in rows if now - r.last_tick_at <= timedelta(seconds=max(10 * tick_seconds, 30))]
    return {
        "status": "ok" if fresh else "not_running",
        "tickers": len(fresh),
        "last_tick_at": rows[0].last_tick_at.isoformat() if rows else None,
    }


_active: Ticker | None = None


def install(ticker: Ticker | None) -> None:
    global _active
    _active = ticker


def wake() -> None:
    """Ask this process's ticker to run now; harmless when none runs here (the worker's tick catches up)."""
    if _active is not None:
        _active.wake()
