"""The Scribe's record: every change to an incident, with time and actor.

Entries are written in bulk. `record` and `record_many` queue their entries on the session, and the queue
is written, in order, in one statement before the session next reads or deletes anything (a read sees every
entry recorded before it) and before it commits; a rollback drops it. Only an INSERT or
UPDATE (or a statement marked `db.READS_NOTHING`) goes ahead of the queue: none of Herald's reads a timeline. Opening a P1 records entries from a
dozen places, and each used to be a statement of its own (SQLite's INSERT … RETURNING is one row per
statement), the largest share of the open's statements after the messages themselves.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import event, insert
from sqlalchemy.orm import Session

from .. import clock, db
from .models import Incident, TimelineEntry

_QUEUE = "herald.timeline"  # the session's queued entries, in session.info


def record(
    s: Session, incident: Incident, kind: str, text: str, *, actor: str = "herald",
    at: datetime | None = None, **data
) -> None:
    """Append an entry to the incident's timeline (the Scribe's record)."""
    record_many(s, incident, [entry(kind, text, actor=actor, at=at, **data)])


def entry(kind: str, text: str, *, actor: str = "herald", at: datetime | None = None, **data) -> dict:
    """One timeline entry as values, for `record_many` (the incident is filled in there)."""
    return {"at": at or clock.now(), "actor": actor, "kind": kind, "text": text, "data": data}


def record_many(s: Session, incident: Incident, entries: list[dict]) -> None:
    """Append several entries, in order (the incident must have its id)."""
    if incident.id is None:
        raise ValueError("the incident must be flushed (have its id) before its timeline is written")
    if entries:
        s.info.setdefault(_QUEUE, []).extend({**e, "incident_id": incident.id} for e in entries)


def write_queued(s: Session) -> None:
    """Write the session's queued entries now, in one statement."""
    queued = s.info.pop(_QUEUE, None)
    if queued:
        s.execute(_INSERT, queued)


_INSERT = insert(TimelineEntry.__table__)


def _writes_only(statement, options) -> bool:
    """An INSERT or UPDATE (a construct, or text saying so), or a statement that reads no table: it cannot
    see the queue, so the queue may wait."""
    if db.reads_nothing(options):
        return True
    if getattr(statement, "is_insert", False) or getattr(statement, "is_update", False):
        return True
    sql = getattr(getattr(statement, "element", statement), "text", None)  # text(…).columns(…) wraps its text
    return isinstance(sql, str) and sql.lstrip()[:6].upper() in ("INSERT", "UPDATE")


@event.listens_for(Session, "do_orm_execute")
def _before_a_statement(state) -> None:
    if _QUEUE in state.session.info and not _writes_only(state.statement, state.execution_options):
        write_queued(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session, _context, _instances) -> None:
    if session.deleted:  # the flush may delete the incident an entry is for
        write_queued(session)


@event.listens_for(Session, "before_commit")
def _before_commit(session) -> None:
    write_queued(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, _previous) -> None:
    session.info.pop(_QUEUE, None)
