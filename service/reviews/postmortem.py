"""The post-mortem as its author sees it: the stored edit if there is one, else the draft from the timeline."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from ..incidents.models import Incident
from .draft import render_postmortem
from .models import Postmortem


class EmptyPostmortem(ValueError):
    """An empty post-mortem is not stored (the caller answers 422)."""


@dataclass(frozen=True)
class CurrentPostmortem:
    markdown: str
    source: str  # "edited" | "draft"
    updated_at: datetime | None
    updated_by: str | None


def stored(s: Session, incident: Incident) -> Postmortem | None:
    return s.scalar(select(Postmortem).where(Postmortem.incident_id == incident.id))


def current(s: Session, incident: Incident, templates_dir: str | None) -> CurrentPostmortem:
    row = stored(s, incident)
    if row is not None:
        return CurrentPostmortem(row.markdown, "edited", row.updated_at, row.updated_by)
    return CurrentPostmortem(render_postmortem(s, incident, templates_dir), "draft", None, None)


def save(s: Session, incident: Incident, markdown: str, *, actor: str) -> Postmortem:
    if not markdown.strip():
        raise EmptyPostmortem("must not be empty")
    row = stored(s, incident)
    if row is None:
        row = Postmortem(incident_id=incident.id)
        s.add(row)
    row.markdown = markdown
    row.updated_at = clock.now()
    row.updated_by = actor
    s.flush()
    return row


def discard(s: Session, incident: Incident) -> bool:
    """Drop the edited version (the draft is served again); False when there was none."""
    row = stored(s, incident)
    if row is None:
        return False
    s.delete(row)
    s.flush()
    return True
