"""Looking after the people on each rotation a role uses: heads-up before shifts, changes, coverage gaps.

A rotation is looked at when its `oncall_due_at` comes: at once after an import, refresh, override or
accepted swap, when the next heads-up falls due, and at least every RECHECK_EVERY. Each look:

- sends a `shift_reminder` for every run starting within the policy's `notify_before` (once per
  person and start: the outbox's idempotency key is the guard);
- compares the next CHANGE_WINDOW with the schedule as last announced and collects, per person, the
  runs that went and came (the caller sends one `schedule_change` per person for all rotations);
- sends a `coverage_gap` to the gap contacts once per gap in the next `gap_horizon` (keyed by where
  the gap really begins, so a gap already under way is not announced again at every look).
"""
from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..people.models import Person
from ..rotations.gaps import Gap, find_gaps
from ..rotations.models import Override, Rotation, Shift
from ..rotations.oncall import effective_schedule
from ..runtime import policy
from .messages import role_titles, stretch, tell_gap_contacts, tell_person
from .schedule import Change, Run, changes, next_reminder_at, reminders_due, runs_of, snapshot

CHANGE_WINDOW = timedelta(days=14)
RECHECK_EVERY = timedelta(hours=1)


def stamp(moment: datetime) -> str:
    return f"{moment:%Y%m%dT%H%M%SZ}"


def look_at(s: Session, rotation: Rotation, now: datetime) -> list[Change]:
    """Remind, announce gaps and return what changed for whom; sets when to look again."""
    settings = policy().oncall
    ahead = max(settings.gap_horizon, CHANGE_WINDOW, settings.notify_before)
    schedule = effective_schedule(s, rotation, now, now + ahead)
    runs = runs_of(schedule)
    for run, before in reminders_due(runs, now, settings.notify_before):
        _remind(s, rotation, run, before)
    fresh = snapshot(runs, now, now + CHANGE_WINDOW)
    found: list[Change] = []
    if rotation.announced is not None and rotation.announced_at is not None:
        found = changes(rotation.announced, fresh, now, min(rotation.announced_at, now) + CHANGE_WINDOW)
    rotation.announced, rotation.announced_at = fresh, now
    for gap in find_gaps(schedule, now, now + settings.gap_horizon):
        announce_gap(s, rotation.name, _really_begins(s, rotation, gap, now), now)
    upcoming = next_reminder_at(runs, now, settings.notify_before)
    rotation.oncall_due_at = min(upcoming or now + RECHECK_EVERY, now + RECHECK_EVERY)
    return found


def _remind(s: Session, rotation: Rotation, run: Run, before: Run | None) -> None:
    previous = None
    if before is not None:
        previous = before.person.name if before.person is not None else (before.label or None)
    tell_person(s, run.person, "shift_reminder", f"shift:{rotation.name}:{stamp(run.start)}", {
        "shift": {**stretch(run.start, run.end), "rotation": rotation.name, "roles": role_titles(rotation.name),
                  "label": run.label, "previous": previous},
    })


def announce_gap(s: Session, rotation_name: str, gap: Gap, now: datetime, key: str | None = None) -> None:
    """Tell the gap contacts, once per gap: `key` (default: where the gap begins) tells gaps apart."""
    tell_gap_contacts(s, "coverage_gap", f"gap:{rotation_name}:{key or stamp(gap.start)}", {
        "gap": {**stretch(gap.start, gap.end), "kind": "uncovered", "rotation": rotation_name,
                "roles": role_titles(rotation_name), "label": gap.label, "who": None, "absence": None},
    }, now)


def _really_begins(s: Session, rotation: Rotation, gap: Gap, now: datetime) -> Gap:
    """A gap without an event that is already under way began when the last shift or override before it ended."""
    if gap.label is not None or gap.start > now:
        return gap
    ends = [s.scalar(select(func.max(model.end)).where(model.rotation_id == rotation.id, model.end <= now))
            for model in (Shift, Override)]
    began = max([e for e in ends if e is not None], default=rotation.created_at)
    return Gap(min(began, gap.start), gap.end, None)


def tell_changes(s: Session, person_id: int, found: list[tuple[Rotation, Change]], now: datetime) -> None:
    """One `schedule_change` per person, whatever number of rotations and runs changed."""
    person = s.get(Person, person_id)
    if person is None:
        return
    items = [{"rotation": rotation.name, "roles": role_titles(rotation.name),
              "removed": [stretch(lo, hi) for lo, hi in change.removed],
              "added": [stretch(lo, hi) for lo, hi in change.added]}
             for rotation, change in found]
    tell_person(s, person, "schedule_change", f"changes:{stamp(now)}", {"changes": items, "window": CHANGE_WINDOW})
