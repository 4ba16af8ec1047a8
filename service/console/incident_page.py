"""What the incident page shows, and the exact stakeholder message an update would send."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from ..escalation.steps import StepView, shown_as_steps, step_views
from ..incidents.models import IncidentUpdate, TimelineEntry
from ..notify.context import standard_context, update_data
from ..notify.models import Notification
from ..notify.outbox import Recipient, render_payload
from ..notify.templates import TemplateProblem, renderer
from ..notify.triggers import stakeholder_recipients
from ..people.models import Person
from ..runtime import config, policy
from ..notify import receipts
from ..web.board import ESCALATION_KINDS, SeenUpdate, page_delivery
from ..web.login import Viewer
from . import rules

RETRYABLE = ("dead", "failed")


@dataclass(frozen=True)
class RoleRow:
    key: str
    title: str
    person: Person | None
    assigned_at: datetime | None
    acknowledged_at: datetime | None
    acknowledged_via: str | None
    paged: bool
    mine: bool
    can_acknowledge: bool
    can_hand_over: bool
    delivery: object | None


def role_rows(s: Session, incident, viewer: Viewer, now: datetime) -> list[RoleRow]:
    pol = policy()
    severity = pol.severities.get(incident.severity)
    paged = set(severity.page) if severity else set()
    slots = {slot.role: slot for slot in incident.roles}
    pages: dict[int, list[Notification]] = {}
    for page in s.scalars(select(Notification).where(Notification.incident_id == incident.id,
                                                     Notification.kind == "page")):
        pages.setdefault(page.person_id, []).append(page)
    rows = []
    for key, role in pol.roles.items():
        slot = slots.get(key)
        person = slot.person if slot else None
        mine = bool(person and viewer.person and person.id == viewer.person.id)
        ack_allowed = bool(person and slot.acknowledged_at is None
                           and rules.may_acknowledge(viewer, incident, key if viewer.person else None))
        sent = [n for n in pages.get(person.id, []) if slot.assigned_at is None or n.created_at >= slot.assigned_at] \
            if person else []
        rows.append(RoleRow(key, role.title, person, slot.assigned_at if slot else None,
                            slot.acknowledged_at if slot else None, slot.acknowledged_via if slot else None,
                            key in paged, mine, ack_allowed, bool(rules.may_hand_over(viewer, incident, key)),
                            page_delivery(sent, now)))
    return rows


def timeline(s: Session, incident) -> list[TimelineEntry]:
    """Newest first: at 3 a.m. the latest change matters most."""
    return list(s.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
                          .order_by(TimelineEntry.at.desc(), TimelineEntry.id.desc())))


def escalation_steps(s: Session, incident) -> list[StepView]:
    """Each escalation step sent, with who acknowledged it (or that nobody has)."""
    return step_views(s, [incident.id])[incident.id]


def escalations(entries: list[TimelineEntry], steps: list[StepView] = ()) -> list[TimelineEntry]:
    """The escalation engine's timeline entries that no step in `steps` already shows."""
    return sorted((e for e in entries if e.kind in ESCALATION_KINDS and not shown_as_steps(e.kind, e.data, steps)),
                  key=lambda e: (e.at, e.id))


NOTIFICATIONS_SHOWN = 200  # a phone need not load every message of a week-long incident


def notifications(s: Session, incident) -> tuple[list[Notification], int]:
    """The newest messages (dead and failed ones first, so a retry is never below the fold) and the total."""
    query = select(Notification).where(Notification.incident_id == incident.id)
    total = s.scalar(select(func.count()).select_from(query.subquery()))
    rows = s.scalars(query.order_by((Notification.status.in_(RETRYABLE)).desc(), Notification.id.desc())
                     .limit(NOTIFICATIONS_SHOWN))
    return list(rows), total


def recipient_label(row: Notification) -> str:
    """Who a message went to, without webhook URLs (their `sig=` is a credential)."""
    if row.recipient_name:
        return row.recipient_name
    return row.recipient if row.channel in ("email", "log", "teams_bot") else f"{row.channel} webhook"


def updates(s: Session, incident) -> list[SeenUpdate]:
    """Newest first, each with who has said Got it ("seen by N of M")."""
    rows = s.scalars(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id)
                     .order_by(IncidentUpdate.posted_at.desc(), IncidentUpdate.id.desc()))
    seen = receipts.receipts_of(s, incident.id)
    return [SeenUpdate(u, seen.get(u.id, receipts.NO_RECEIPTS)) for u in rows]


def questions(entries: list[TimelineEntry]) -> list[TimelineEntry]:
    """Stakeholders' replies to updates that were not "ack", oldest first: for the Communications Lead."""
    return sorted((e for e in entries if e.kind == "stakeholder_question"), key=lambda e: (e.at, e.id))


def links(incident) -> list[tuple[str, str]]:
    """The incident's own links (war room, bridge, runbook, dashboards …), http(s) only."""
    return [(name.replace("_", " ").capitalize(), url) for name, url in (incident.links or {}).items()
            if isinstance(url, str) and url.startswith(("https://", "http://"))]


PREVIEW_TOKEN = "…"  # in the preview, where each recipient's own token goes


@dataclass(frozen=True)
class Preview:
    subject: str
    text: str
    audience: str  # who gets it, in words
    problem: str = ""


def preview_update(s: Session, incident, now: datetime, *, kind: str = "progress", status: str,
                   impact: str | None = None, learned: str = "", doing: str = "", root_cause: str = "",
                   resolution: str = "") -> Preview:
    """The stakeholder email this update would send, rendered by the real template; nothing is stored."""
    update = IncidentUpdate(id=0, incident_id=incident.id, kind=kind, status=status,
                            impact=incident.impact if impact is None else impact, learned=learned, doing=doing,
                            root_cause=root_cause, resolution=resolution, automatic=False, posted_at=now)
    cfg = config()
    audience = stakeholder_recipients(s, incident, now)
    recipient = next((r for r in audience if r.channel != "teams"), None) or Recipient("log", "stakeholders",
                                                                                      "Stakeholders")
    # Each email carries its recipient's own "Got it" link; the preview shows where it goes.
    context = standard_context(incident, policy=policy(), base_url=cfg.base_url, now=now, recipient=recipient,
                               ack_url=f"{cfg.base_url}/ack/{PREVIEW_TOKEN}",
                               ack_by_reply=bool(cfg.reply_address))
    context["update"] = update_data(update)
    try:
        payload = render_payload(renderer(cfg.templates_dir), kind, "email", context, incident)
    except TemplateProblem as exc:
        return Preview("", "", "", f"The message template cannot be rendered: {exc}")
    names = sorted({r.name for r in audience}) or ["nobody: no stakeholder contacts for this severity"]
    return Preview(payload["subject"], payload["text"], ", ".join(names))
