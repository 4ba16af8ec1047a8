"""When stakeholders hear next, and when pages may go: pure functions of the incident, the policy and now.

A severity with `update_every` gets a progress update that long after the last update (any kind:
the initial one, a posted one, an automatic one), so posting restarts the clock. A tick that comes
late finds the update overdue and sends exactly one: the next due time is counted from that
update, never from the missed slots. The Communications Lead is reminded a third of the interval
before an update is due. Severities marked `business_hours_only` page during business hours only.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from ..policy import Policy, Severity
from ..policy.business_hours import next_business_slot, within_business_hours

REMINDER_FRACTION = 3  # remind the Communications Lead a third of the interval before an update is due


def next_update_due(severity: Severity, *, is_open: bool, last_update_at: datetime | None) -> datetime | None:
    """When the next progress update is due; None when the incident is not open or the severity has no cadence."""
    if not is_open or severity.update_every is None or last_update_at is None:
        return None
    return last_update_at + severity.update_every


def reminder_at(severity: Severity, due: datetime | None) -> datetime | None:
    if due is None or severity.update_every is None:
        return None
    return due - severity.update_every / REMINDER_FRACTION


@dataclass(frozen=True)
class CadenceStep:
    action: str       # "update" (post the automatic update now) | "reminder" (tell the Communications Lead)
    due: datetime     # when the update is (or was) due


def due_step(severity: Severity, *, is_open: bool, next_update_due_at: datetime | None,
             now: datetime) -> CadenceStep | None:
    """What the cadence asks for at `now`, if anything."""
    if not is_open or severity.update_every is None or next_update_due_at is None:
        return None
    if now >= next_update_due_at:
        return CadenceStep("update", next_update_due_at)
    if now >= reminder_at(severity, next_update_due_at):
        return CadenceStep("reminder", next_update_due_at)
    return None


def lookahead(policy: Policy) -> timedelta:
    """How far ahead of `now` an incident's next update may be due and still need something this tick."""
    intervals = [s.update_every for s in policy.severities.values() if s.update_every]
    return max(intervals) / REMINDER_FRACTION if intervals else timedelta(0)


def page_not_before(severity: Severity, now: datetime, policy: Policy,
                    holidays: frozenset[date] = frozenset()) -> datetime | None:
    """None to page at once; otherwise the start of the next business hours (for business-hours-only severities)."""
    if not severity.business_hours_only or within_business_hours(now, policy, holidays):
        return None
    return next_business_slot(now, timedelta(0), policy, holidays)


def raised(policy: Policy, old: str, new: str) -> bool:
    """True when the severity went up (P2 -> P1): the new severity's roles must be paged."""
    return policy.severities[new].rank < policy.severities[old].rank
