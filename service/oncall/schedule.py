"""A person's shifts as people see them, and what changed. Pure: the effective schedule in, runs and diffs out.

The effective schedule is cut into pieces wherever a calendar event or an override begins or ends;
a person cares about a *run*: one stretch on call, whatever it is made of. A heads-up goes before
each run, and a change is told as the runs that went and came.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Sequence

from ..rotations.oncall import OnCall, iso


@dataclass(frozen=True)
class Run:
    start: datetime
    end: datetime
    person: object | None  # the Person, or None for a stretch nobody known covers
    label: str

    @property
    def person_id(self) -> int | None:
        return self.person.id if self.person is not None else None


def runs_of(schedule: Sequence[OnCall]) -> list[Run]:
    """Adjacent pieces of the same person joined into one run; pieces naming nobody stay apart."""
    out: list[Run] = []
    for piece in schedule:
        person_id = piece.person.id if piece.person is not None else None
        last = out[-1] if out else None
        if last is not None and person_id is not None and last.person_id == person_id and last.end == piece.start:
            out[-1] = Run(last.start, piece.end, last.person, last.label)
        else:
            out.append(Run(piece.start, piece.end, piece.person, piece.label))
    return out


def reminders_due(runs: Sequence[Run], now: datetime, notify_before: timedelta) -> list[tuple[Run, Run | None]]:
    """(run, the run just before it) for each person's run that starts after now and within `notify_before`.

    A run nearer than `notify_before` when first seen is due at once; one already under way is not.
    """
    due = []
    for i, run in enumerate(runs):
        if run.person is not None and now < run.start <= now + notify_before:
            before = runs[i - 1] if i > 0 and runs[i - 1].end == run.start else None
            due.append((run, before))
    return due


def next_reminder_at(runs: Sequence[Run], now: datetime, notify_before: timedelta) -> datetime | None:
    """When the next heads-up beyond those due now falls due."""
    later = [run.start - notify_before for run in runs if run.person is not None and run.start > now + notify_before]
    return min(later, default=None)


def snapshot(runs: Sequence[Run], start: datetime, end: datetime) -> list[list]:
    """The people's runs within [start, end) as JSON: [[start, end, person_id], …]."""
    return [[iso(max(r.start, start)), iso(min(r.end, end)), r.person_id]
            for r in runs if r.person is not None and r.end > start and r.start < end]


@dataclass(frozen=True)
class Change:
    person_id: int
    removed: tuple[tuple[datetime, datetime], ...]
    added: tuple[tuple[datetime, datetime], ...]


def changes(old: Sequence[Sequence], new: Sequence[Sequence], start: datetime, end: datetime) -> list[Change]:
    """Per person, the runs of `old` that `new` no longer has and the ones it gained, compared over [start, end).

    Both snapshots are cut to the window first, so a run that merely slid into or out of view is no change.
    """
    def clipped(snap) -> dict[int, set[tuple[datetime, datetime]]]:
        out: dict[int, set] = {}
        for lo, hi, person_id in snap:
            lo, hi = max(_parse(lo), start), min(_parse(hi), end)
            if hi > lo:
                out.setdefault(person_id, set()).add((lo, hi))
        return out

    before, after = clipped(old), clipped(new)
    found = []
    for person_id in sorted(set(before) | set(after)):
        gone = before.get(person_id, set()) - after.get(person_id, set())
        came = after.get(person_id, set()) - before.get(person_id, set())
        if gone or came:
            found.append(Change(person_id, tuple(sorted(gone)), tuple(sorted(came))))
    return found


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
