from __future__ import annotations

from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from .. import clock
from .models import Incident, TimelineEntry


def record(
    s: Session, incident: Incident, kind: str, text: str, *, actor: str = "herald",
    at: datetime | None = None, **data
) -> TimelineEntry:
    """Append an entry to the incident's timeline (the Scribe's record)."""
    entry = TimelineEntry(
        incident_id=incident.id, at=at or clock.now(), actor=actor, kind=kind, text=text, data=data
    )
    s.add(entry)
    return entry


def entry(kind: str, text: str, *, actor: str = "herald", at: datetime | None = None, **data) -> dict:
    """One timeline entry as values, for `record_many` (the incident is filled in there)."""
    return {"at": at or clock.now(), "actor": actor, "kind": kind, "text": text, "data": data}


def record_many(s: Session, incident: Incident, entries: list[dict]) -> None:
    """Append several entries in one statement, in order (the incident must have its id)."""
    if entries:
        s.execute(_INSERT, [{**e, "incident_id": incident.id} for e in entries])


_INSERT = insert(TimelineEntry.__table__)
