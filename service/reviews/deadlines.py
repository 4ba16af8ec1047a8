"""When things are due: the post-mortem, the reminder to the Incident Commander, action item reminders."""
from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from ..policy import Severity

REMIND_BEFORE = timedelta(hours=12)


def postmortem_due(severity: Severity, resolved_at: datetime) -> datetime | None:
    """Resolution + the severity's `postmortem_within`; None where the review is optional (P3/P4)."""
    return resolved_at + severity.postmortem_within if severity.postmortem_within else None


def postmortem_reminder_at(resolved_at: datetime, due_at: datetime) -> datetime:
    """12 hours before the deadline, or halfway through a window shorter than a day."""
    return due_at - min(REMIND_BEFORE, (due_at - resolved_at) / 2)


def action_reminder_times(due_date: date, zone: ZoneInfo, day_starts: time) -> list[tuple[str, datetime]]:
    """The owner's reminders: the day before and on the due date, when their working day starts."""
    def at(day: date) -> datetime:
        return datetime.combine(day, day_starts, tzinfo=zone).astimezone(timezone.utc)

    return [("action_due_tomorrow", at(due_date - timedelta(days=1))), ("action_due_today", at(due_date))]
