"""Waking the worker once a transaction commits, so the new rows are handled at once."""
from __future__ import annotations

from typing import Callable

from sqlalchemy import event, text
from sqlalchemy.orm import Session, scoped_session

from .. import db, worker


_NOTIFY = text("SELECT pg_notify(:channel, '')").execution_options(**db.READS_NOTHING)


def wake_after_commit(s: Session | scoped_session, wake: Callable[[], None] | None = None, *,
                      channel: str | None = None) -> None:
    """Call `wake` (default: this process's ticker) once this session's transaction commits.

    With `channel`, other processes listening on it are woken too (PostgreSQL NOTIFY, delivered at
    commit). Several calls in one transaction wake once.
    """
    if isinstance(s, scoped_session):
        s = s()  # listen on this thread's session, not on every session of the factory
    wake = wake or worker.wake
    pending = s.info.setdefault("herald_wakes", {})
    if wake in pending:  # already set to run at this session's next commit
        return
    token = pending[wake] = object()
    if channel is not None and db.is_postgres(s):
        s.execute(_NOTIFY, {"channel": channel})

    def after_commit(_session) -> None:
        if pending.get(wake) is token:
            del pending[wake]
            wake()

    def after_rollback(_session) -> None:  # nothing new to see (and the NOTIFY was rolled back too)
        if pending.get(wake) is token:
            del pending[wake]

    event.listen(s, "after_commit", after_commit, once=True)
    event.listen(s, "after_rollback", after_rollback, once=True)
