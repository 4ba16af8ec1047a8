"""Waking the worker once a transaction commits, so the new rows are handled at once."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session, scoped_session

from .. import db, worker


def wake_after_commit(s: Session | scoped_session, wake: Callable[[], None] | None = None, *,
                      channel: str | None = None) -> None:
    """Call `wake` (default: this process's ticker) once this session's transaction commits.

    With `channel`, other processes listening on it are woken too (PostgreSQL NOTIFY, delivered at
    commit). Several calls in one transaction wake once.
    """
    if isinstance(s, scoped_session):
        s = s()  # listen on this thread's session, not on every session of the factory
    wake = wake or worker.wake
    transaction = s.get_transaction()
    pending = s.info.setdefault("herald_wakes", {})
    if transaction is not None and pending.get(wake) is transaction:
        return
    pending[wake] = transaction
    if channel is not None and db.is_postgres(s):
        s.execute(text("SELECT pg_notify(:channel, '')"), {"channel": channel})
    event.listen(s, "after_commit", lambda _s: wake(), once=True)
