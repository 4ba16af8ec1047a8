"""The inbox asks for another tick when a tick's time budget runs out; that wake must not be lost."""
from __future__ import annotations

import threading

from service import worker


def test_a_wake_during_a_running_tick_runs_another_tick_right_after(app):
    runs: list = []
    second = threading.Event()

    def job(now):
        runs.append(now)
        if len(runs) == 1:
            ticker.wake()  # as inbox.process_due_events does when work is left
        else:
            second.set()

    ticker = worker.Ticker(app, tick_seconds=3600, jobs=[("test-wake-while-running", job)])  # the interval
    try:  # alone would not tick again for an hour
        ticker.start()
        assert second.wait(timeout=30), "the wake asked for during the tick was lost"
    finally:
        ticker.shutdown()
    assert len(runs) == 2
