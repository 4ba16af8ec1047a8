"""Coverage gaps: stretches with nobody known on call. `find_gaps` is pure: the effective schedule in, the gaps
out; `rotation_gaps` reads the schedule first."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Sequence

from sqlalchemy import select
from sqlalchemy.orm import Session

from .models import Rotation
from .oncall import OnCall, effective_schedule, iso


@dataclass(frozen=True)
class Gap:
    start: datetime
    end: datetime
    label: str | None  # the event's title when an event names nobody Herald knows; None when no event covers it

    def as_json(self) -> dict:
        return {"start": iso(self.start), "end": iso(self.end), "label": self.label}


def find_gaps(schedule: Sequence[OnCall], start: datetime, end: datetime) -> list[Gap]:
    """The stretches of [start, end) that `schedule` (sorted, non-overlapping) leaves without a known person.

    A piece naming nobody keeps its own start and end (it may reach outside the window), so the same
    gap is told apart by where it really begins whenever it is looked at.
    """
    gaps: list[Gap] = []
    cursor = start
    for piece in schedule:
        if piece.end <= start or piece.start >= end:
            continue
        if piece.start > cursor:
            _add(gaps, Gap(cursor, piece.start, None))
        if piece.person is None:
            _add(gaps, Gap(piece.start, piece.end, piece.label))
        cursor = max(cursor, piece.end)
    if cursor < end:
        _add(gaps, Gap(cursor, end, None))
    return gaps


def _add(gaps: list[Gap], gap: Gap) -> None:
    """Adjacent stretches of the same kind are one gap (a label split by an override's edge, say)."""
    if gaps and gaps[-1].end == gap.start and gaps[-1].label == gap.label:
        gaps[-1] = Gap(gaps[-1].start, gap.end, gap.label)
    else:
        gaps.append(gap)


def uncovered_seconds(gaps: Sequence[Gap], start: datetime, end: datetime) -> float:
    """How much of [start, end) the gaps cover."""
    return sum(max((min(g.end, end) - max(g.start, start)).total_seconds(), 0.0) for g in gaps)


def rotation_gaps(session: Session, rotation: Rotation | str | None, start: datetime, end: datetime) -> list[Gap]:
    """The gaps of a rotation (or of a name no rotation has: then all of [start, end) is a gap)."""
    if isinstance(rotation, str):
        rotation = session.scalar(select(Rotation).where(Rotation.name == rotation))
    if rotation is None:
        return [Gap(start, end, None)]
    return find_gaps(effective_schedule(session, rotation, start, end), start, end)
