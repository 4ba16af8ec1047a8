"""The standard context every template sees: plain data, never live database objects.

Templates get dictionaries (and datetimes/timedeltas for the `when` and `in_words` filters), so the
sandbox cannot wander into the session, and `herald templates check` renders with the same code
path as a real message.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from ..policy import Policy

STATUS_LABELS = {
    "investigating": "Investigating",
    "identified": "Identified",
    "mitigating": "Mitigating",
    "monitoring": "Monitoring",
    "resolved": "Resolved",
    "closed": "Closed",
}


def console_links(base_url: str, number: str) -> dict:
    """Where people open an incident from a message: console pages (they ask to sign in first)."""
    page = f"{base_url}/console/incidents/{number}"
    return {"incident": page, "post_update": f"{page}#post-update", "postmortem": f"{page}/postmortem",
            "actions": f"{page}/postmortem#actions", "review": f"{page}/postmortem#review"}


def links(incident, base_url: str) -> dict:
    """Where a message points: the incident's console pages, the on-call board, the public status page,
    and the incident's own links (runbook, dashboards …)."""
    out = {"board": f"{base_url}/board", "status": f"{base_url}/status"}
    if incident is not None:
        out.update(console_links(base_url, incident.number))
        for name, url in (incident.links or {}).items():
            if isinstance(url, str) and url.startswith(("https://", "http://")):
                out.setdefault(name, url)
    return out


def severity_data(policy: Policy, key: str) -> dict:
    sev = policy.severities[key]
    return {
        "key": sev.key,
        "name": sev.name,
        "label": f"{sev.key} - {sev.name}",
        "description": sev.description,
        "update_every": sev.update_every,
        "respond_within": sev.respond_within,
        "respond_next_business_day": sev.respond_next_business_day,
        "acknowledge_within": sev.acknowledge_within,
        "business_hours_only": sev.business_hours_only,
        "postmortem_within": sev.postmortem_within,
    }


def incident_data(incident, now: datetime) -> dict:
    end = incident.resolved_at or now
    return {
        "id": incident.id,
        "number": incident.number,
        "title": incident.title,
        "severity": incident.severity,
        "status": incident.status,
        "status_label": STATUS_LABELS.get(incident.status, incident.status.title()),
        "impact": incident.impact or "",
        "description": incident.description or "",
        "started_at": incident.started_at,
        "respond_by": incident.respond_by,
        "acknowledged_at": incident.acknowledged_at,
        "mitigated_at": incident.mitigated_at,
        "resolved_at": incident.resolved_at,
        "next_update_due_at": incident.next_update_due_at,
        "duration": max(end - incident.started_at, timedelta(0)),
        "root_cause": incident.root_cause or "",
        "resolution": incident.resolution or "",
        "data_breach_suspected": bool(incident.data_breach_suspected),
        "financial_impact": incident.financial_impact,
    }


def roles_data(incident, policy: Policy) -> list[dict]:
    """The incident's roles in policy order: title, holder (or None) and acknowledgement."""
    held = {r.role: r for r in incident.roles}
    out = []
    for key, role in policy.roles.items():
        slot = held.get(key)
        person = slot.person if slot is not None else None
        out.append({
            "key": key,
            "title": role.title,
            "name": person.name if person else None,
            "handle": person.handle if person else None,
            "acknowledged": bool(slot is not None and slot.acknowledged_at),
        })
    return out


def role_data(policy: Policy, key: str) -> dict:
    role = policy.roles.get(key)
    return {
        "key": key,
        "title": policy.role_title(key),
        "responsibilities": role.responsibilities if role else "",
    }


def update_data(update) -> dict:
    return {
        "id": update.id,
        "kind": update.kind,
        "status": update.status,
        "status_label": STATUS_LABELS.get(update.status, update.status.title()),
        "impact": update.impact or "",
        "learned": update.learned or "",
        "doing": update.doing or "",
        "root_cause": update.root_cause or "",
        "resolution": update.resolution or "",
        "automatic": bool(update.automatic),
        "posted_at": update.posted_at,
    }


def standard_context(incident, *, policy: Policy, base_url: str, now: datetime, recipient,
                     ack_url: str | None = None, ack_by_reply: bool = False) -> dict:
    """What every template may use; callers add their kind's own keys (update, role, escalation…)."""
    return {
        "incident": incident_data(incident, now) if incident is not None else None,
        "severity": severity_data(policy, incident.severity) if incident is not None else None,
        "roles": roles_data(incident, policy) if incident is not None else [],
        "links": links(incident, base_url),
        "base_url": base_url,
        "now": now,
        "timezone": policy.timezone,
        "recipient": {"name": recipient.name, "address": recipient.address, "channel": recipient.channel},
        "ack_url": ack_url,          # the signed acknowledgement link (pages), else None
        "ack_by_reply": ack_by_reply,  # an email reply "ack" acknowledges (a reply address is configured)
    }
