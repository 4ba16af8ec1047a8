"""A tick that outlasts the interval (load) or a wake during a tick: no overlapping run is refused and
logged every second ("skipped: maximum number of running instances reached"); the wake is kept."""
from __future__ import annotations

import logging
import threading

from apscheduler.events import EVENT_JOB_EXECUTED, EVENT_JOB_MAX_INSTANCES

from service import worker


def test_a_slow_tick_is_not_logged_as_skipped_runs_and_ticks_again_after(app, caplog):
    release, seen_again = threading.Event(), threading.Event()
    runs: list = []
    events = {"executed": 0, "refused": 0}
    enough = threading.Event()

    def count(event):
        events["refused" if event.code == EVENT_JOB_MAX_INSTANCES else "executed"] += 1
        if events["executed"] + events["refused"] >= 6:
            enough.set()

    def job(now):
        runs.append(now)
        if len(runs) == 1:
            release.wait(timeout=30)  # a tick held up by load
        else:
            seen_again.set()

    # twenty intervals a second while the tick is held
    ticker = worker.Ticker(app, tick_seconds=0.05, jobs=[("test-slow-tick", job)])
    ticker.scheduler.add_listener(count, EVENT_JOB_EXECUTED | EVENT_JOB_MAX_INSTANCES)
    caplog.set_level(logging.INFO, logger="apscheduler")
    try:
        ticker.start()
        assert enough.wait(timeout=30), events  # the interval came round several times during the tick
        ticker.wake()
        release.set()
        assert seen_again.wait(timeout=30), "the tick asked for during the slow one was lost"
    finally:
        ticker.shutdown()
    assert events["refused"] == 0, events
    assert not [r for r in caplog.records if "maximum number of running instances" in r.getMessage()]
