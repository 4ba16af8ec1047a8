"""What `herald serve` and `herald worker` run beside the web server, and the first-start set-up
(the services and steps are those of the app's wiring, `service/wiring.py`)."""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Callable

from sqlalchemy import func, select

from . import db, worker

log = logging.getLogger("herald.processes")

WIRING = "herald.wiring"  # app.extensions key of the app's wiring (service/wiring.py)


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
