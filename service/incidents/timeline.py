from __future__ import annotations

from datetime import datetime

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
