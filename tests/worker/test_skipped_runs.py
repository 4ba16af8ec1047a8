"""A tick that outlasts many intervals (a storm, 1,000 open incidents on 2 cores): each interval that finds it
running is counted as a skipped run, a Prometheus counter, and folded into one more round after it; nothing is
logged per interval and runs never pile up. The clock is frozen: the test holds the tick with an event, and calls
the ticker the way APScheduler's interval does."""
from __future__ import annotations

import logging
import threading

from service import worker
from tests.notify.test_metrics import scrape

INTERVALS = 50  # fifty seconds' worth of intervals at the default tick, while one tick is held


def held_ticker(app, name: str):
    entered, release, rounds = threading.Event(), threading.Event(), []

    def slow(now):
        rounds.append(now)
        if len(rounds) == 1:
            entered.set()
            assert release.wait(timeout=60), "test never released the tick"

    ticker = worker.Ticker(app, tick_seconds=1, jobs=[("slow", slow)], name=name)
    first = threading.Thread(target=ticker._tick)
    first.start()
    assert entered.wait(timeout=60)
    return ticker, first, release, rounds


def test_intervals_during_a_slow_tick_are_a_metric_and_one_more_round(app, client, caplog):
    caplog.set_level(logging.DEBUG)
    ticker, first, release, rounds = held_ticker(app, "test-ticker")
    for _ in range(INTERVALS):
        ticker._tick()  # returns at once: the running tick goes round once more instead
    assert ticker.stats.skipped_runs == INTERVALS
    release.set()
    first.join(timeout=60)
    assert not first.is_alive()

    assert len(rounds) == 2, "the skipped runs piled up instead of folding into one more round"
    ticker._tick()  # the next interval, with nothing running: an ordinary tick, not a skipped one
    assert len(rounds) == 3 and ticker.stats.skipped_runs == INTERVALS

    samples = scrape(client)
    assert samples[("herald_ticker_skipped_runs_total", (("ticker", "test-ticker"),))] == INTERVALS
    assert ("herald_ticker_job_seconds", (("job", "slow"), ("ticker", "test-ticker"))) in samples
    assert ("herald_ticker_longest_tick_seconds", (("ticker", "test-ticker"),)) in samples
    noisy = [r for r in caplog.records if r.name.startswith(("herald.worker", "apscheduler"))]
    assert noisy == [], [r.getMessage() for r in noisy]


def test_a_wake_during_a_tick_is_one_more_round_and_no_skipped_run(app):
    ticker, first, release, rounds = held_ticker(app, "test-waker")
    for _ in range(5):
        ticker.wake()  # new incidents committed while the tick runs
    release.set()
    first.join(timeout=60)
    assert len(rounds) == 2
    assert ticker.stats.skipped_runs == 0
