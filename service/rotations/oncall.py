"""Who is on call at a moment: one indexed query over materialised shifts, overrides first."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..people.models import Person
from .models import Override, Rotation, Shift


@dataclass(frozen=True)
class OnCall:
    person: Person | None
    label: str
    start: datetime
    end: datetime
    override: bool = False

    def as_json(self) -> dict:
        return {
            "person": self.person.handle if self.person else None,
            "label": self.label,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "override": self.override,
        }


def on_call(session: Session, rotation: str | Rotation, at: datetime) -> OnCall | None:
    """The owner of `rotation` at `at`, or None when nobody is scheduled (or the rotation is unknown)."""
    if isinstance(rotation, str):
        rotation = session.scalar(select(Rotation).where(Rotation.name == rotation))
        if rotation is None:
            return None
    override = session.scalar(
        select(Override)
        .where(Override.rotation_id == rotation.id, Override.start <= at, Override.end > at)
        .order_by(Override.created_at.desc(), Override.id.desc())
        .limit(1)
    )
    if override is not None:
        return OnCall(override.person, override.person.name, override.start, override.end, override=True)
    shift = session.scalar(
        select(Shift)
        .where(Shift.rotation_id == rotation.id, Shift.start <= at, Shift.end > at)
        .order_by(Shift.start.desc())
        .limit(1)
    )
    if shift is None:
        return None
    return OnCall(shift.person, shift.label, shift.start, shift.end)
