"""The post-mortem draft: what Herald recorded, put into the guide's template (templates/postmortem.md.j2).

The draft never invents. A field Herald did not record stays the template's [placeholder], which the
author fills in before storing an edited version with PUT.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import PROJECT_ROOT
from ..incidents.models import Incident, IncidentUpdate, TimelineEntry
from ..notify.templates import template_location
from ..policy import duration_in_words
from .models import ActionItem

log = logging.getLogger(__name__)

TEMPLATE = "postmortem.md.j2"
MONITORING_SOURCES = ("alertmanager", "grafana", "pagerduty")
# The review's own bookkeeping is on the incident's timeline too, but it is not part of the incident;
# nor is a role holder acknowledging again (the link, then a reply): the first acknowledgement is the event.
NOT_IN_POSTMORTEM = ("postmortem_due", "review_booked", "review_moved", "review_cancelled", "review_done",
                     "ack_repeat")


def render_postmortem(s: Session, incident: Incident, templates_dir: str | None = None) -> str:
    """The draft Markdown for `incident` (HERALD_TEMPLATES may override the template)."""
    return render(postmortem_context(s, incident), templates_dir)


def render(context: dict, templates_dir: str | None = None) -> str:
    """The draft from the override when there is one; a broken override falls back to the default."""
    if templates_dir:
        try:
            return _environment(templates_dir).get_template(TEMPLATE).render(**context)
        except Exception as exc:  # template errors and anything raised inside the sandbox
            log.error("the post-mortem override in %s failed, using the default: %s: %s",
                      templates_dir, type(exc).__name__, exc)
    return _environment(None).get_template(TEMPLATE).render(**context)


def check(templates_dir: str | None, now: datetime) -> str | None:
    """None when postmortem.md.j2 (the override, else the default) renders the sample incident; else why not."""
    try:
        _environment(templates_dir).get_template(TEMPLATE).render(**sample_context(now))
    except Exception as exc:
        return f"{template_location(exc, TEMPLATE)}: {type(exc).__name__}: {exc}"
    return None


def sample_context(now: datetime) -> dict:
    """A resolved incident with a timeline and an action item, for `herald templates check`."""
    started = now - timedelta(hours=3)
    return {
        "incident": {"number": f"INC-{started:%Y%m%d}-1", "title": 'Orders are failing <for "some" users> & more',
                     "date": f"{started:%Y-%m-%d}", "duration": "2 hours", "severity": "P1", "status": "resolved",
                     "impact": "Nobody can place orders", "root_cause": "A bad deploy", "resolution": "Rolled back",
                     "revenue_impact": "$1,200.00", "data_breach_suspected": True},
        "timeline": [{"time": f"{started:%H:%M}", "event": "Alert fired (alertmanager): Orders are failing"},
                     {"time": f"{started + timedelta(hours=2):%H:%M}", "event": "Resolution update posted"}],
        "actions": [{"number": 1, "action": "Alert on replication lag | db-2", "owner": "alice",
                     "due_date": f"{(now + timedelta(days=7)).date()}", "done": False}],
    }


@lru_cache(maxsize=8)
def _environment(templates_dir: str | None) -> SandboxedEnvironment:
    """One environment per template folder; Jinja re-reads a template file when it changes."""
    folders = [templates_dir] if templates_dir else []
    folders.append(str(PROJECT_ROOT / "templates"))
    env = SandboxedEnvironment(
        loader=ChoiceLoader([FileSystemLoader(Path(f)) for f in folders]),
        undefined=StrictUndefined, autoescape=False, trim_blocks=True, lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["cell"] = table_cell
    return env


def table_cell(text) -> str:
    """Text that stays inside one Markdown table cell: no line breaks, pipes escaped."""
    return " ".join(str(text).split()).replace("|", "\\|")


def postmortem_context(s: Session, incident: Incident) -> dict:
    entries = s.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id,
                                                    TimelineEntry.kind.not_in(NOT_IN_POSTMORTEM))
                        .order_by(TimelineEntry.at, TimelineEntry.id)).all()
    updates = {u.id: u for u in s.scalars(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id))}
    actions = s.scalars(select(ActionItem).where(ActionItem.incident_id == incident.id)
                        .order_by(ActionItem.number)).all()
    return {
        "incident": incident_facts(incident),
        "timeline": [{"time": _time(e.at, incident.started_at), "event": timeline_event(e, updates)} for e in entries],
        "actions": [action_row(a) for a in actions],
    }


def incident_facts(incident: Incident) -> dict:
    duration = incident.resolved_at - incident.started_at if incident.resolved_at else None
    return {
        "number": incident.number,
        "title": incident.title,
        "date": f"{incident.started_at:%Y-%m-%d}",
        "duration": duration_in_words(duration) if duration is not None else None,
        "severity": incident.severity,
        "status": incident.status,
        "impact": incident.impact or None,
        "root_cause": incident.root_cause or None,
        "resolution": incident.resolution or None,
        "revenue_impact": _money(incident.financial_impact),
        "data_breach_suspected": bool(incident.data_breach_suspected),
    }


def action_row(item: ActionItem) -> dict:
    return {
        "number": item.number,
        "action": item.action,
        "owner": item.owner.handle if item.owner else None,
        "due_date": item.due_date.isoformat() if item.due_date else None,
        "done": item.done,
    }


def timeline_event(entry: TimelineEntry, updates: dict[int, IncidentUpdate]) -> str:
    """One readable line for the timeline table; kinds Herald does not know keep their recorded text."""
    data = entry.data or {}
    if entry.kind == "opened" and data.get("source") in MONITORING_SOURCES:
        return f"Alert fired ({data['source']}): {entry.text.removeprefix('Incident opened: ')}"
    if entry.kind == "root_cause":
        return f"Root cause identified: {entry.text.removeprefix('Root cause: ')}"
    if entry.kind == "update":
        update = updates.get(data.get("update_id"))
        if update is not None:
            return _update_event(update)
    return entry.text


def _update_event(update: IncidentUpdate) -> str:
    if update.kind == "initial":
        return f"Initial status update posted (status {update.status})"
    if update.kind == "resolution":
        return "Resolution update posted"
    label = "Automatic progress update" if update.automatic else "Progress update"
    details = [f"learned: {update.learned}" if update.learned else "", f"doing: {update.doing}" if update.doing else ""]
    said = "; ".join(d for d in details if d)
    return f"{label} (status {update.status})" + (f" — {said}" if said else "")


def _time(at: datetime, started_at: datetime) -> str:
    """HH:MM on the incident's first day; later days carry their date so the table stays unambiguous."""
    return f"{at:%H:%M}" if at.date() == started_at.date() else f"{at:%Y-%m-%d %H:%M}"


def _money(amount: float | None) -> str | None:
    if amount is None:
        return None
    return f"${amount:,.0f}" if float(amount).is_integer() else f"${amount:,.2f}"
