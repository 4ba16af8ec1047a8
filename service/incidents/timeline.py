"""The Scribe's record: every change to an incident, with time and actor.

Entries are written in bulk: `record` and `record_many` queue them on the session (`db.write_later`), and
they are written in one statement before anything could read them, in the order they were recorded. Opening
a P1 records entries from a dozen places, and each used to be a statement of its own (SQLite's INSERT …
RETURNING is one row per statement).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from .. import clock, db
from .models import Incident, TimelineEntry


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
    for e in entries:
        db.write_later(s, _INSERT, {**e, "incident_id": incident.id})


_INSERT = insert(TimelineEntry.__table__)
