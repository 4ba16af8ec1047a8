"""Overrides: a person on call for a while, whatever the calendar says (the newest override wins)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from .. import clock
from ..people.models import Person
from .models import Override, Rotation


def add_override(s: Session, rotation: Rotation, person: Person, start: datetime, end: datetime, *,
                 actor: str) -> Override:
    now = clock.now()
    override = Override(rotation_id=rotation.id, person_id=person.id, start=start, end=end, created_at=now,
                        created_by=actor[:100])
    s.add(override)
    rotation.updated_at = now
    s.flush()
    return override


def find_override(s: Session, rotation: Rotation, override_id: int) -> Override | None:
    override = s.get(Override, override_id)
    return override if override is not None and override.rotation_id == rotation.id else None


def remove_override(s: Session, rotation: Rotation, override: Override) -> None:
    s.delete(override)
    rotation.updated_at = clock.now()
    s.flush()
