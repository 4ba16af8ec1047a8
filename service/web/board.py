"""What the on-call board shows: who owns each role now and next, and which open incidents wait for whom."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from ..escalation.steps import StepView, shown_as_steps, step_views
from ..incidents.models import OPEN_STATUSES, Incident, IncidentRole, IncidentUpdate, TimelineEntry
from ..netguard import redact_url
from ..notify import receipts
from ..notify.models import Notification
from ..policy import Policy, duration_in_words
from ..rotations.gaps import Gap, rotation_gaps
from ..rotations.oncall import OnCall, RoleOwners, next_owner, role_owners  # noqa: F401  (the board's who-is-next)

# Timeline kinds the escalation engine writes: a rule of the escalation matrix fired ("escalated"),
# the team was not assembled in time and the Incident Commander was told ("not_assembled");
# "escalation" is the name the team's plan first gave them.
ESCALATION_KINDS = ("escalated", "not_assembled", "escalation")

@dataclass(frozen=True)
class PageDelivery:
    """How the pages to a role's holder fared: did they reach them at all?"""

    first_at: datetime
    delivered: tuple[str, ...]  # channels that accepted a page
    state: str  # delivered | scheduled | sending | failing | undeliverable
    next_attempt_at: datetime | None = None
    error: str = ""


@dataclass(frozen=True)
class Responder:
    role: str
    title: str
    name: str | None
    paged: bool
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    page: PageDelivery | None = None
    notice: PageDelivery | None = None  # the `notice` of a role this severity informs but does not page


@dataclass(frozen=True)
class SeenUpdate:
    """A stakeholder update and who has said Got it: "seen by N of M"."""

    update: IncidentUpdate
    receipts: receipts.Receipts

    @property
    def label(self) -> str:
        return receipts.KIND_LABELS.get(self.update.kind, self.update.kind)


@dataclass(frozen=True)
class BoardIncident:
    incident: Incident
    severity_name: str
    responders: tuple[Responder, ...]
    escalations: tuple[TimelineEntry, ...]       # the engine's entries that no step below says already
    steps: tuple[StepView, ...] = ()             # each escalation step sent, with its acknowledgement
    updates: tuple[SeenUpdate, ...] = ()              # each stakeholder update, seen by N of M

    @property
    def waiting(self) -> tuple[Responder, ...]:
        """Paged responders who have not acknowledged yet."""
        return tuple(r for r in self.responders if r.paged and r.name and r.acknowledged_at is None)

    @property
    def unstaffed(self) -> tuple[Responder, ...]:
        """Roles this severity pages that nobody holds: nobody was paged for them."""
        return tuple(r for r in self.responders if r.paged and not r.name)


@dataclass(frozen=True)
class RotationGap:
    rotation: str
    titles: tuple[str, ...]
    gap: Gap


def coverage_gaps(s: Session, policy: Policy, now: datetime) -> list[RotationGap]:
    """Stretches of the next `gap_horizon` with nobody known on call, for every rotation a role uses."""
    until = now + policy.oncall.gap_horizon
    found = [RotationGap(name, tuple(policy.role_title(k) for k in keys), gap)
             for name, keys in policy.rotations_in_use().items() for gap in rotation_gaps(s, name, now, until)]
    return sorted(found, key=lambda g: (g.gap.start, g.rotation))


def page_delivery(pages: list[Notification], now: datetime) -> PageDelivery | None:
    """One holder's pages summed up (cancelled ones do not count): the question is whether they got one."""
    pages = [n for n in pages if n.status != "cancelled"]
    if not pages:
        return None
    first = min(n.created_at for n in pages)
    delivered = tuple(sorted({n.channel for n in pages if n.status == "sent"}))
    if delivered:
        return PageDelivery(first, delivered, "delivered")
    latest = max(pages, key=lambda n: (n.created_at, n.id))
    errors = [n for n in pages if n.last_error]
    error = redact_url((max(errors, key=lambda n: n.id).last_error or "")[:160]) if errors else ""
    if all(n.status == "dead" for n in pages):
        return PageDelivery(first, (), "undeliverable", error=error)
    if any(n.status == "failed" for n in pages):
        return PageDelivery(first, (), "failing", latest.next_attempt_at, error)
    if latest.next_attempt_at > now:
        return PageDelivery(first, (), "scheduled", latest.next_attempt_at)
    return PageDelivery(first, (), "sending")


def open_incidents(s: Session, policy: Policy, now: datetime) -> list[BoardIncident]:
    """Open incidents, most severe first, with each role's acknowledgement, how its pages fared, and the
    escalations fired."""
    incidents = s.scalars(select(Incident).where(Incident.status.in_(OPEN_STATUSES))).all()
    rank = {key: sev.rank for key, sev in policy.severities.items()}
    incidents = sorted(incidents, key=lambda i: (rank.get(i.severity, 99), i.started_at, i.id))
    escalations: dict[int, list[TimelineEntry]] = {i.id: [] for i in incidents}
    if incidents:
        for entry in s.scalars(
            select(TimelineEntry)
            .where(TimelineEntry.incident_id.in_(escalations), TimelineEntry.kind.in_(ESCALATION_KINDS))
            .order_by(TimelineEntry.at, TimelineEntry.id)
        ):
            escalations[entry.incident_id].append(entry)
    steps = step_views(s, list(escalations))
    pages: dict[tuple[str, int, int], list[Notification]] = {}
    if incidents:
        for sent in s.scalars(select(Notification).where(
                Notification.incident_id.in_(escalations), Notification.kind.in_(("page", "notice")),
                Notification.person_id.is_not(None))):
            pages.setdefault((sent.kind, sent.incident_id, sent.person_id), []).append(sent)
    updates: dict[int, list[IncidentUpdate]] = {i.id: [] for i in incidents}
    if incidents:
        for update in s.scalars(select(IncidentUpdate).where(IncidentUpdate.incident_id.in_(updates))
                                .order_by(IncidentUpdate.posted_at, IncidentUpdate.id)):
            updates[update.incident_id].append(update)
    seen = receipts.receipts_for(s, updates)
    out = []
    for incident in incidents:
        severity = policy.severities.get(incident.severity)
        paged = set(severity.page) if severity else set()
        involved = paged | set(severity.notify if severity else ())
        # Roles this severity neither pages nor notifies matter only when someone holds them.
        slots = [slot for slot in _in_policy_order(incident.roles, policy) if slot.person or slot.role in involved]
        out.append(BoardIncident(
            incident=incident,
            severity_name=severity.name if severity else "",
            responders=tuple(_responder(slot, policy, paged, pages, now) for slot in slots),
            escalations=tuple(e for e in escalations[incident.id]
                              if not shown_as_steps(e.kind, e.data, steps[incident.id])),
            steps=tuple(steps[incident.id]),
            updates=tuple(SeenUpdate(u, seen.get(u.id, receipts.NO_RECEIPTS)) for u in updates[incident.id]),
        ))
    return out


def _in_policy_order(slots: list[IncidentRole], policy: Policy) -> list[IncidentRole]:
    order = {key: n for n, key in enumerate(policy.roles)}
    return sorted(slots, key=lambda slot: (order.get(slot.role, len(order)), slot.role))


def _responder(slot: IncidentRole, policy: Policy, paged: set[str],
               pages: dict[tuple[str, int, int], list[Notification]], now: datetime) -> Responder:
    def mine(kind: str) -> list[Notification]:
        # Only messages to the current holder since they took the role describe this role.
        if not slot.person_id:
            return []
        return [n for n in pages.get((kind, slot.incident_id, slot.person_id), [])
                if slot.assigned_at is None or n.created_at >= slot.assigned_at]

    return Responder(
        role=slot.role,
        title=policy.role_title(slot.role),
        name=slot.person.name if slot.person else None,
        paged=slot.role in paged,
        acknowledged_at=slot.acknowledged_at,
        acknowledged_via=slot.acknowledged_via,
        page=page_delivery(mine("page"), now),
        notice=page_delivery(mine("notice"), now),
    )


def relative(moment: datetime, now: datetime) -> str:
    """"in 12 minutes" / "3 minutes ago" / "in 2 days 23 hours" / "just now": the two largest units."""
    seconds = (moment - now).total_seconds()
    if abs(seconds) < 60:
        return "just now"
    words = " ".join(duration_in_words(abs(moment - now)).split()[:4])
    return f"in {words}" if seconds > 0 else f"{words} ago"
