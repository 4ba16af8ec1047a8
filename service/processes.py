"""What `herald serve` and `herald worker` run beside the web server, and the first-start set-up
(the services and steps are those of the app's wiring, `service/wiring.py`)."""
from __future__ import annotations

import ctypes
import logging
import os
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import func, select

from . import db, worker

log = logging.getLogger("herald.processes")

WIRING = "herald.wiring"  # app.extensions key of the app's wiring (service/wiring.py)


# glibc's mallopt parameters (malloc.h)
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
MMAP_THRESHOLD = 128 * 1024


def tune_allocator() -> bool:
    """A long-running Herald process gives memory back: at most two malloc arenas, and blocks of 128 KiB and
    more (a page of a thousand incidents as JSON, the status page) mmapped, so they return to the system
    when freed. glibc's defaults — an arena per thread (waitress has 16, the dispatcher 8) and a threshold
    that rises after every large block freed — kept each thread's largest response resident for good:
    `bench/memory.py` measured herald serve at 267 MB against 196 MB with this under the same load.
    Only on glibc, only before threads start, and not when the operator set MALLOC_ARENA_MAX or
    MALLOC_MMAP_THRESHOLD_ themselves. Returns whether it applied."""
    if os.environ.get("MALLOC_ARENA_MAX") or os.environ.get("MALLOC_MMAP_THRESHOLD_"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (musl, macOS): its own defaults
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    return bool(mallopt(M_ARENA_MAX, 2)) and bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD))


@dataclass
class Background:
    ticker: worker.Ticker
    services: list = field(default_factory=list)


def start_background(app) -> Background:
    config, wiring = app.config["HERALD"], app.extensions[WIRING]
    ticker = worker.Ticker(app, config.tick_seconds, wiring.tick_jobs)
    worker.install(ticker)
    ticker.start()
    running = Background(ticker)
    for name, start, stop in wiring.background:
        handle = start(app)
        if handle is not None:
            running.services.append((name, handle, stop))
            log.info("started %s", name)
    return running


def stop_background(running: Background) -> None:
    for name, handle, stop in reversed(running.services):
        try:
            stop(handle)
        except Exception:
            log.exception("stopping %s failed", name)
    running.ticker.shutdown()


def first_start(app, echo: Callable[[str], None]) -> None:
    """On an empty database: create and print an admin token, then run the domains' first-start steps."""
    from .auth import ApiToken, create_token

    with app.app_context():
        with db.transaction() as s:
            has_tokens = s.scalar(select(func.count(ApiToken.id))) > 0
            if not has_tokens and not app.config["HERALD"].admin_token:
                secret = create_token(s, "admin (first start)", ["admin"])
                echo("herald: first start — created an admin token. It is stored hashed and shown only now:")
                echo(f"herald: HERALD admin token: {secret}")
        for step in app.extensions[WIRING].first_start:
            step(app, echo)
