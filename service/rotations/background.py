"""Calendar work beside the ticker: fetching subscriptions and re-resolving calendars.

Both can take seconds (a slow calendar server, a calendar with thousands of events), and the ticker
also sends pages and updates, so under `herald serve`/`herald worker` the work runs on a small thread
pool; elsewhere (tests, the CLI) it runs inline. Work is claimed first: its due time moves a lease
ahead (`mechanics.claim`), so several workers never take the same rotation, and work that
dies is retried when the lease runs out.
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Callable

from .. import db
from ..mechanics.claim import claim
from .models import Rotation

log = logging.getLogger("herald.rotations")

_pool: tuple[object, ThreadPoolExecutor] | None = None


def claim_due(due_column, now: datetime, lease: timedelta, *conditions) -> list[int]:
    """Ids of the rotations whose `due_column` has come, each claimed until `now + lease`."""
    with db.transaction() as s:
        return claim(s, Rotation, *conditions, due_column <= now, lease={due_column.key: now + lease},
                     order_by=(due_column,))


def run(job: Callable[..., object], *args) -> None:
    if _pool is None:
        job(*args)
        return
    app, executor = _pool
    executor.submit(_in_app, app, job, *args)


def _in_app(app, job, *args) -> None:
    with app.app_context():
        try:
            job(*args)
        except Exception:  # logged; the claim's lease runs out and a later tick retries
            log.exception("calendar job %s%r failed", job.__name__, args)
        finally:
            db.session.remove()


def start(app):
    global _pool
    _pool = (app, ThreadPoolExecutor(max_workers=2, thread_name_prefix="calendars"))
    return _pool


def stop(handle) -> None:
    global _pool
    _pool = None
    handle[1].shutdown(wait=True, cancel_futures=True)

