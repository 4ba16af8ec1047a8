"""The public face of incidents: only titles, severities, statuses and the texts of stakeholder updates.

Everything here is built from an explicit allow-list of fields, so nothing private (people, the
timeline, alert labels, descriptions, actors) can reach the status page by accident.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path

from jinja2 import ChoiceLoader, FileSystemLoader, StrictUndefined
from jinja2.sandbox import SandboxedEnvironment
from sqlalchemy import select
from sqlalchemy.orm import Session

from ..config import PROJECT_ROOT
from ..incidents.models import OPEN_STATUSES, Incident, IncidentUpdate
from ..notify.templates import when
from ..policy import Policy, duration_in_words

log = logging.getLogger("herald.web")

HISTORY = timedelta(days=90)
DEFAULT_TEMPLATES = PROJECT_ROOT / "templates"
PUBLIC_TEMPLATES = "web/public"

# (indicator, words) of the overall banner, from calm to worst.
OPERATIONAL = ("operational", "All systems operational")
DEGRADED = ("degraded", "Some systems degraded")
MAJOR_OUTAGE = ("major_outage", "Major outage")


@dataclass(frozen=True)
class PublicUpdate:
    id: int
    kind: str  # initial | progress | resolution
    status: str
    posted_at: datetime
    text: str

    @property
    def headline(self) -> str:
        return self.text.split("\n", 1)[0]


@dataclass(frozen=True)
class PublicIncident:
    number: str
    title: str
    severity: str
    severity_name: str
    status: str
    impact: str
    started_at: datetime
    resolved_at: datetime | None
    updates: tuple[PublicUpdate, ...]  # newest first

    @property
    def status_label(self) -> str:
        return status_label(self.status)


@dataclass(frozen=True)
class StatusSnapshot:
    generated_at: datetime
    indicator: str
    description: str
    open: tuple[PublicIncident, ...]
    resolved: tuple[PublicIncident, ...]

    def updates(self) -> list[tuple[PublicIncident, PublicUpdate]]:
        """Every published update of every listed incident, newest first (the feed's entries)."""
        pairs = [(i, u) for i in self.open + self.resolved for u in i.updates]
        return sorted(pairs, key=lambda pair: (pair[1].posted_at, pair[1].id), reverse=True)


def status_label(status: str) -> str:
    """A closed incident is simply resolved to the public: closing is the internal review."""
    return "Resolved" if status == "closed" else status.title()


def overall_state(open_incidents: list[Incident] | tuple, policy: Policy) -> tuple[str, str]:
    """All operational, degraded, or a major outage while an incident of the most severe level is
    open and its impact not yet mitigated (an incident in `monitoring` counts as degraded)."""
    if not open_incidents:
        return OPERATIONAL
    worst_rank = min(sev.rank for sev in policy.severities.values())
    for incident in open_incidents:
        sev = policy.severities.get(incident.severity)
        if sev is not None and sev.rank == worst_rank and incident.status != "monitoring":
            return MAJOR_OUTAGE
    return DEGRADED


def iso_utc(moment: datetime | None) -> str | None:
    """ISO 8601 with a `Z`, to the second (as the API writes times, without the microseconds)."""
    return moment.isoformat(timespec="seconds").replace("+00:00", "Z") if moment else None


@lru_cache(maxsize=4)
def _environment(override_dir: str | None) -> SandboxedEnvironment:
    folders = [Path(override_dir)] if override_dir else []
    loader = ChoiceLoader([FileSystemLoader(str(f / PUBLIC_TEMPLATES)) for f in folders + [DEFAULT_TEMPLATES]])
    return SandboxedEnvironment(loader=loader, undefined=StrictUndefined, autoescape=False,
                                trim_blocks=True, lstrip_blocks=True)


def update_text(incident: Incident, update: IncidentUpdate, policy: Policy, *, templates_dir: str | None = None) -> str:
    """The stakeholder text of one update, in the wording of the guide's three templates."""
    return _render(templates_dir, update.kind, **_context(incident, update, policy))


def _context(incident: Incident, update: IncidentUpdate, policy: Policy) -> dict:
    """Everything a public text may say: no people, no timeline, no alert labels, no description."""
    severity = policy.severities.get(incident.severity)
    cadence = severity.update_every if severity else None
    return dict(
        title=incident.title,
        status=status_label(update.status),
        impact=update.impact,
        started=when(incident.started_at, policy.timezone),  # as the stakeholder message writes it
        duration=duration_in_words(update.posted_at - incident.started_at),
        learned=update.learned,
        doing=update.doing,
        root_cause=update.root_cause,
        resolution=update.resolution,
        cadence=duration_in_words(cadence) if cadence else None,
        postmortem=bool(severity and severity.postmortem_within),
    )


@lru_cache(maxsize=8192)
def _render(templates_dir: str | None, kind: str, **context) -> str:
    """Memoised: a busy status page re-renders the same few hundred texts on every request.

    A broken override falls back to the default wording: a template typo must not take the public
    status page down in the middle of an incident (`herald templates check` reports it).
    """
    name = f"{kind}.txt.j2"
    if templates_dir:
        try:
            return _tidy(_environment(templates_dir).get_template(name).render(**context))
        except Exception:
            if (templates_dir, kind) not in _broken:
                _broken.add((templates_dir, kind))
                log.exception("public template %s/%s/%s failed; using the default", templates_dir, PUBLIC_TEMPLATES, name)
    return _tidy(_environment(None).get_template(name).render(**context))


_broken: set[tuple[str, str]] = set()


def check_public_templates(templates_dir: str | None, policy: Policy, now: datetime) -> list[tuple[str, str | None]]:
    """For `herald templates check`: [(file, None or the problem)] for each public update text."""
    from ..notify.samples import sample_incident

    incident = sample_incident(policy, now)
    results = []
    for kind, status in (("initial", "investigating"), ("progress", "identified"), ("resolution", "resolved")):
        context = _context(incident, IncidentUpdate(
            id=1, kind=kind, status=status, impact=incident.impact, learned="The new release breaks the matcher",
            doing="Rolling back", root_cause="A bad deploy", resolution="Rolled back", posted_at=now), policy)
        name = f"{PUBLIC_TEMPLATES}/{kind}.txt.j2"
        try:
            _environment(templates_dir).get_template(f"{kind}.txt.j2").render(**context)
        except Exception as exc:
            results.append((name, f"{type(exc).__name__}: {exc}"))
        else:
            results.append((name, None))
    return results


def _tidy(text: str) -> str:
    """No trailing spaces, at most one blank line in a row (optional template lines leave gaps)."""
    lines = [line.rstrip() for line in text.strip().splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines))


def public_incident(incident: Incident, updates: list[IncidentUpdate], policy: Policy,
                    *, templates_dir: str | None = None) -> PublicIncident:
    severity = policy.severities.get(incident.severity)
    ordered = sorted(updates, key=lambda u: (u.posted_at, u.id), reverse=True)
    return PublicIncident(
        number=incident.number,
        title=incident.title,
        severity=incident.severity,
        severity_name=severity.name if severity else "",
        status=incident.status,
        impact=incident.impact or "",
        started_at=incident.started_at,
        resolved_at=incident.resolved_at,
        updates=tuple(
            PublicUpdate(u.id, u.kind, u.status, u.posted_at,
                         update_text(incident, u, policy, templates_dir=templates_dir))
            for u in ordered
        ),
    )


# The columns the public may see, and no others: read as rows, nothing can reach the people behind an
# incident (no relationship to load), and a snapshot of 90 days holds tuples, not ORM objects (1,200
# incidents and 3,700 updates as objects were ~10 MB per request in bench/memory.py).
_PUBLIC_INCIDENT = (Incident.id, Incident.number, Incident.title, Incident.severity, Incident.status, Incident.impact,
                    Incident.started_at, Incident.resolved_at)
_PUBLIC_UPDATE = (IncidentUpdate.id, IncidentUpdate.incident_id, IncidentUpdate.kind, IncidentUpdate.status,
                  IncidentUpdate.impact, IncidentUpdate.learned, IncidentUpdate.doing, IncidentUpdate.root_cause,
                  IncidentUpdate.resolution, IncidentUpdate.posted_at)


def status_snapshot(s: Session, now: datetime, policy: Policy, *, templates_dir: str | None = None) -> StatusSnapshot:
    """Open incidents (most severe first) and those resolved in the last 90 days (newest first)."""
    open_rows = s.execute(select(*_PUBLIC_INCIDENT).where(Incident.status.in_(OPEN_STATUSES))).all()
    rank = {key: sev.rank for key, sev in policy.severities.items()}
    open_rows = sorted(open_rows, key=lambda i: (rank.get(i.severity, 99), i.started_at, i.id))
    resolved_rows = s.execute(
        select(*_PUBLIC_INCIDENT)
        .where(Incident.status.not_in(OPEN_STATUSES), Incident.resolved_at >= now - HISTORY)
        .order_by(Incident.resolved_at.desc(), Incident.id.desc())
    ).all()
    ids = [i.id for i in open_rows] + [i.id for i in resolved_rows]
    by_incident: dict[int, list] = {i: [] for i in ids}
    if ids:
        for update in s.execute(select(*_PUBLIC_UPDATE).where(IncidentUpdate.incident_id.in_(ids))):
            by_incident[update.incident_id].append(update)
    indicator, description = overall_state(open_rows, policy)

    def build(rows):
        return tuple(public_incident(i, by_incident.pop(i.id), policy, templates_dir=templates_dir) for i in rows)

    return StatusSnapshot(now, indicator, description, build(open_rows), build(resolved_rows))


def as_json(snapshot: StatusSnapshot, *, lazy: bool = False) -> dict:
    """`/status.json`; `lazy`: the two lists of incidents as generators, each incident's dict made as it
    is written (`streaming.json_streamed`)."""
    listed = (lambda items: map(incident, items)) if lazy else (lambda items: [incident(i) for i in items])

    def incident(i: PublicIncident) -> dict:
        return {
            "number": i.number,
            "title": i.title,
            "severity": i.severity,
            "severity_name": i.severity_name,
            "status": i.status_label.lower(),
            "impact": i.impact,
            "started_at": iso_utc(i.started_at),
            "resolved_at": iso_utc(i.resolved_at),
            "updates": [{"kind": u.kind, "status": status_label(u.status).lower(), "posted_at": iso_utc(u.posted_at),
                         "text": u.text} for u in i.updates],
        }

    return {
        "generated_at": iso_utc(snapshot.generated_at),
        "status": {"indicator": snapshot.indicator, "description": snapshot.description},
        "incidents": listed(snapshot.open),
        "resolved": listed(snapshot.resolved),
    }
