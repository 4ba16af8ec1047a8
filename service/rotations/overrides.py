"""Overrides: a person on call for a while, whatever the calendar says (the newest override wins).

Either change makes the rotation's on-call notices due at once (the people concerned hear of it at
the next tick, which the commit wakes)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from .. import clock
from ..mechanics.wake import wake_after_commit
from ..people.models import Person
from .models import Override, Rotation


def add_override(s: Session, rotation: Rotation, person: Person, start: datetime, end: datetime, *,
                 actor: str) -> Override:
    now = clock.now()
    override = Override(rotation_id=rotation.id, person_id=person.id, start=start, end=end, created_at=now,
                        created_by=actor[:100])
    s.add(override)
    rotation.updated_at = rotation.oncall_due_at = now
    wake_after_commit(s)
    s.flush()
    return override


def find_override(s: Session, rotation: Rotation, override_id: int) -> Override | None:
    override = s.get(Override, override_id)
    return override if override is not None and override.rotation_id == rotation.id else None


def remove_override(s: Session, rotation: Rotation, override: Override) -> None:
    s.delete(override)
    rotation.updated_at = rotation.oncall_due_at = clock.now()
    wake_after_commit(s)
    s.flush()
