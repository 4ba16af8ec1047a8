"""The guide's escalation matrix, repeat pages and the assemble check as pure functions of incident, policy and now.

Nothing here reads the database or the clock: the tick jobs in `ticks.py` feed it rows and `now`,
and record what fired so each thing happens once.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Callable

from ..incidents.models import OPEN_STATUSES
from ..policy import Escalation, Policy, Severity, duration_in_words

REPEAT_LIMIT = 5  # a paged role owner is paged again at most this many times


def condition_holds(rule: Escalation, incident) -> bool:
    """Whether the rule's condition is true of the incident now (ignoring its delay)."""
    if rule.condition == "not_acknowledged":
        return incident.status in OPEN_STATUSES and incident.acknowledged_at is None
    if rule.condition == "not_mitigated":
        return incident.status in OPEN_STATUSES and incident.mitigated_at is None
    if rule.condition == "data_breach_suspected":
        return bool(incident.data_breach_suspected) and incident.status != "closed"
    if rule.condition == "financial_impact_over":
        return (incident.financial_impact is not None and rule.threshold is not None
                and incident.financial_impact > rule.threshold and incident.status != "closed")
    raise ValueError(f"unknown escalation condition {rule.condition!r}")


def due_at(rule: Escalation, incident) -> datetime:
    """When the rule may first fire: its delay after the start for time-based rules, at once for the flags."""
    if rule.condition in ("not_acknowledged", "not_mitigated"):
        return incident.started_at + rule.after
    return incident.started_at


def fires(rule: Escalation, incident, now: datetime) -> bool:
    return incident.severity in rule.severities and now >= due_at(rule, incident) and condition_holds(rule, incident)


def reason(rule: Escalation, incident) -> str:
    """Why the rule fired, in words for the timeline and the message."""
    if rule.condition == "not_acknowledged":
        return f"{incident.severity} not acknowledged within {duration_in_words(rule.after)}"
    if rule.condition == "not_mitigated":
        return f"{incident.severity} not mitigated within {duration_in_words(rule.after)}"
    if rule.condition == "data_breach_suspected":
        return "data breach suspected"
    return f"financial impact {incident.financial_impact:,.2f} is over {rule.threshold:,.2f}"


def due_escalations(policy: Policy, incident, now: datetime) -> list[Escalation]:
    """Every rule of the matrix that fires for the incident at `now` (the caller fires each once)."""
    return [rule for rule in policy.escalations if fires(rule, incident, now)]


def repeat_number(first_paged_at: datetime, every: timedelta | None, now: datetime,
                  limit: int = REPEAT_LIMIT) -> int:
    """Which repeat of a page is due at `now`: 0 (none yet) up to `limit`.

    A late tick gets only the latest number, so a worker that was down sends one page, not a burst.
    """
    if every is None or every <= timedelta(0) or now < first_paged_at + every:
        return 0
    return min(limit, int((now - first_paged_at) / every))


def unacknowledged_paged_roles(incident, severity: Severity) -> list:
    """The incident's role slots that are paged for its severity, held by someone, and not yet acknowledged."""
    return [slot for slot in incident.roles
            if slot.role in severity.page and slot.person_id is not None and slot.acknowledged_at is None]


def assemble_deadline(incident, severity: Severity) -> datetime | None:
    return incident.started_at + severity.assemble_within if severity.assemble_within else None


def missing_at(incident, severity: Severity, deadline: datetime) -> list[str]:
    """Paged roles that had not acknowledged by `deadline` (or that nobody holds): the team is not assembled."""
    missing = []
    for key in severity.page:
        slot = incident.role(key)
        if slot is None or slot.person_id is None or slot.acknowledged_at is None or slot.acknowledged_at > deadline:
            missing.append(key)
    return missing


def step_key(rule: Escalation, step: int) -> str:
    """The EscalationFiring key of a rule's step: `rule:<name>` for step 0 (as before chains), then `…:step:<n>`."""
    return f"rule:{rule.name}" if step == 0 else f"rule:{rule.name}:step:{step}"


def unanswered_key(rule: Escalation) -> str:
    return f"unanswered:{rule.name}"


@dataclass(frozen=True)
class Chain:
    """Where a rule's chain stands on one incident: when each fired step fired, and whether any was acknowledged."""

    fired: dict[int, datetime]
    acknowledged: bool = False


NO_CHAIN = Chain({})


def next_in_chain(rule: Escalation, chain: Chain, incident, now: datetime) -> tuple[int, str] | None:
    """What the chain does next at `now`: (step, "escalate") for the next step, (last step, "unanswered")
    when the last step's time ran out, or None.

    Only the step after the latest fired one is ever due, counted from when that step actually fired:
    a very late tick fires one step, and the next waits its full time. An acknowledgement at any step,
    or the rule's condition no longer holding (the incident acknowledged, mitigated, closed), stops it.
    """
    if not chain.fired or chain.acknowledged or not fires(rule, incident, now):
        return None
    last = max(chain.fired)
    wait = rule.wait(last) if last <= rule.last_step else None
    if wait is None or now < chain.fired[last] + wait:
        return None
    return (last + 1, "escalate") if last < rule.last_step else (last, "unanswered")


@dataclass(frozen=True)
class Due:
    """One thing to do for an incident now; `key` is what makes it happen once (an EscalationFiring)."""

    key: str
    what: str                      # "escalate" | "unanswered" | "repeat" | "assemble"
    rule: Escalation | None = None
    role: str | None = None
    number: int = 0                # a repeat's number; an escalation's step


def due_work(policy: Policy, incident, now: datetime, fired: set[str],
             first_paged_at: Callable[[object], datetime | None],
             earlier_repeats: Callable[[object], int] = lambda slot: 0,
             chains: dict[str, Chain] | None = None) -> list[Due]:
    """Everything due for the incident at `now` that has not fired yet.

    `fired` holds the keys already done; `first_paged_at(role slot)` says when its holder's current page
    series began (None: not paged yet), `earlier_repeats(role slot)` how many repeats came before that
    series (a raised severity starts a new series; its repeats continue the numbering); `chains` where
    each rule's chain stands ({rule name: Chain}).
    """
    work = [Due(step_key(rule, 0), "escalate", rule=rule) for rule in due_escalations(policy, incident, now)]
    for rule in policy.escalations:
        following = next_in_chain(rule, (chains or {}).get(rule.name, NO_CHAIN), incident, now)
        if following is not None:
            step, what = following
            key = step_key(rule, step) if what == "escalate" else unanswered_key(rule)
            work.append(Due(key, what, rule=rule, number=step))
    severity = policy.severities.get(incident.severity)
    if severity is not None and incident.status in OPEN_STATUSES:
        for slot in unacknowledged_paged_roles(incident, severity):
            first = first_paged_at(slot)
            number = repeat_number(first, severity.acknowledge_within, now) if first else 0
            if number:
                number += earlier_repeats(slot)
                work.append(Due(f"repeat:{slot.role}:{slot.person_id}:{number}", "repeat", role=slot.role,
                                number=number))
        deadline = assemble_deadline(incident, severity)
        if deadline is not None and now >= deadline:
            work.append(Due("assemble", "assemble"))
    return [due for due in work if due.key not in fired]
