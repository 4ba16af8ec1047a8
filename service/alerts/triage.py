"""Triage an alert group the way the guide says: severity from the policy, a title, the impact, links."""
from __future__ import annotations

from ..policy import Policy
from .normalize import Alert, Notification, web_link

DEFAULT_SEVERITY = "P3"
TITLE_LIMIT = 500
LINK_ORDER = ("runbook", "dashboard", "panel", "source", "silence")


def alert_severity(labels: dict, policy: Policy) -> str | None:
    """`herald_severity` (P1…P4) wins; else the policy's `alerts.severity_map` of the `severity` label."""
    override = str(labels.get("herald_severity", "")).strip().upper()
    if override in policy.severities:
        return override
    mapped = policy.severity_map.get(str(labels.get("severity", "")).strip().lower())
    return mapped if mapped in policy.severities else None


def default_severity(policy: Policy) -> str:
    if DEFAULT_SEVERITY in policy.severities:
        return DEFAULT_SEVERITY
    return max(policy.severities.values(), key=lambda sev: sev.rank).key  # the mildest the policy has


def most_severe(keys, policy: Policy) -> str | None:
    known = [policy.severities[k] for k in keys if k in policy.severities]
    return min(known, key=lambda sev: sev.rank).key if known else None


def group_severity(alerts: tuple[Alert, ...] | list[Alert], policy: Policy) -> str:
    """The most severe level any of the alerts maps to; unmapped means the default (P3)."""
    return most_severe((alert_severity(a.labels, policy) for a in alerts), policy) or default_severity(policy)


def is_more_severe(candidate: str, current: str, policy: Policy) -> bool:
    if candidate not in policy.severities or current not in policy.severities:
        return False
    return policy.severities[candidate].rank < policy.severities[current].rank


def _first(values) -> str:
    return next((v.strip() for v in values if isinstance(v, str) and v.strip()), "")


def title_for(notification: Notification) -> str:
    """annotations.summary, else Grafana's title, else alertname; never empty."""
    alerts = notification.firing or notification.alerts
    title = _first(
        [notification.common_annotations.get("summary")]
        + [a.annotations.get("summary") for a in alerts]
        + [notification.title]
        + [notification.common_labels.get("alertname"), notification.group_labels.get("alertname")]
        + [a.labels.get("alertname") for a in alerts]
    ) or f"Alert from {notification.source}"
    return title if len(title) <= TITLE_LIMIT else title[: TITLE_LIMIT - 1] + "…"


def impact_for(notification: Notification) -> str:
    alerts = notification.firing or notification.alerts
    return _first([notification.common_annotations.get("description")]
                  + [a.annotations.get("description") for a in alerts])


def links_for(notification: Notification) -> dict:
    """The first of each kind of link among the firing alerts, then the sender's own links."""
    links: dict = {}
    for alert in notification.firing or notification.alerts:
        for name, url in alert.links.items():
            links.setdefault(name, url)
    runbook = web_link(notification.common_annotations.get("runbook_url"))
    if runbook:
        links["runbook"] = runbook
    ordered = {name: links[name] for name in LINK_ORDER if name in links}
    ordered.update({name: url for name, url in links.items() if name not in ordered})
    for name, url in notification.links.items():
        ordered.setdefault(name, url)
    return ordered


def describe(alert: Alert | dict, common_labels: dict | None = None) -> str:
    """`alertname {label="value", …}` with the labels that tell this alert apart from its group."""
    labels = alert.labels if isinstance(alert, Alert) else alert.get("labels", {})
    common = common_labels or {}
    name = labels.get("alertname") or labels.get("source") or "alert"
    distinct = {k: v for k, v in sorted(labels.items())
                if k not in ("alertname", "herald_severity") and common.get(k) != v}
    shown = ", ".join(f'{k}="{v}"' for k, v in list(distinct.items())[:4])
    more = " …" if len(distinct) > 4 else ""
    return f"{name} {{{shown}{more}}}" if shown else name


def list_alerts(alerts, common_labels: dict | None = None, limit: int = 5) -> str:
    names = [describe(a, common_labels) for a in alerts]
    if len(names) <= limit:
        return "; ".join(names)
    return "; ".join(names[:limit]) + f" and {len(names) - limit} more"
