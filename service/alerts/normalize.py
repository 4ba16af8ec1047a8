"""Turn what a sender posted (already validated) into one shape: a group key and its alerts.

Pure functions of the stored payload, so the worker can re-read an event at any time.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timezone

# Go's zero time: Alertmanager and Grafana send it as endsAt while an alert fires.
GO_ZERO_TIME_YEAR = 1

ALERT_LINKS = {  # per-alert field -> link name on the incident
    "generatorURL": "source",
    "dashboardURL": "dashboard",
    "panelURL": "panel",
    "silenceURL": "silence",
}


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    status: str  # firing | resolved
    labels: dict = field(default_factory=dict)
    annotations: dict = field(default_factory=dict)
    starts_at: str | None = None  # ISO 8601 UTC, or None when unknown / Go's zero time
    ends_at: str | None = None
    links: dict = field(default_factory=dict)

    @property
    def firing(self) -> bool:
        return self.status == "firing"

    def as_json(self) -> dict:
        return {
            "status": self.status, "labels": self.labels, "annotations": self.annotations,
            "starts_at": self.starts_at, "ends_at": self.ends_at, "links": self.links,
        }


@dataclass(frozen=True)
class Notification:
    """One delivery from monitoring about one group."""

    source: str
    group_key: str
    alerts: tuple[Alert, ...] = ()
    action: str = "notify"  # notify | acknowledge (PagerDuty's acknowledge event)
    acknowledged_by: str | None = None  # an acknowledge event's `client`, else its payload's `source`
    truncated: int = 0  # alerts the sender left out (Alertmanager's max_alerts)
    group_labels: dict = field(default_factory=dict)
    common_labels: dict = field(default_factory=dict)
    common_annotations: dict = field(default_factory=dict)
    title: str = ""  # Grafana's notification title
    links: dict = field(default_factory=dict)  # group-wide links (externalURL, PagerDuty links)
    receiver: str = ""

    @property
    def firing(self) -> tuple[Alert, ...]:
        return tuple(a for a in self.alerts if a.firing)


_RFC3339 = re.compile(r"(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-](\d{2}):?(\d{2}))")


def is_rfc3339(text: str) -> bool:
    """RFC 3339's `date-time` (section 5.6), by its grammar and field ranges: also what no `datetime`
    holds (year 0, a leap second), which `parse_time` then reads as no time. The offset may omit its
    colon ("+0000"), as PagerDuty's own examples write it."""
    match = _RFC3339.fullmatch(text)
    if match is None:
        return False
    year, month, day, hour, minute, second = (int(part) for part in match.groups()[:6])
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    days = [31, 29 if leap else 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
    offset_ok = match.group(9) is None or (int(match.group(9)) <= 23 and int(match.group(10)) <= 59)
    return (1 <= month <= 12 and 1 <= day <= days[month - 1] and hour <= 23 and minute <= 59
            and second <= 60 and offset_ok)


def parse_time(value) -> str | None:
    """RFC 3339 (nanoseconds allowed) to ISO 8601 UTC; Go's zero time and blanks are None."""
    if not value or not isinstance(value, str):
        return None
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
        if moment.year <= GO_ZERO_TIME_YEAR:
            return None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=timezone.utc)
        return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")
    except (ValueError, OverflowError):  # not a timestamp, or one UTC cannot hold (year 9999 at -05:00)
        return None


def label_fingerprint(labels: dict) -> str:
    """A stable identity for an alert that came without a fingerprint: its sorted label set."""
    canonical = json.dumps(labels, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]


def web_link(value) -> str | None:
    """Only http(s) URLs become links: they end up in emails and Teams cards."""
    if isinstance(value, str) and value.strip().lower().startswith(("http://", "https://")):
        return value.strip()
    return None


def _links(pairs) -> dict:
    return {name: url for name, url in ((n, web_link(v)) for n, v in pairs) if url}


def webhook_group_key(source: str, payload: dict) -> str:
    """Alertmanager's groupKey; Grafana's within its organisation (one rule in two orgs is two groups)."""
    if source == "grafana" and payload.get("orgId") is not None:
        return f"org {payload['orgId']}:{payload['groupKey']}"
    return payload["groupKey"]


def from_webhook(source: str, payload: dict) -> Notification:
    """Alertmanager webhook version 4, or Grafana's webhook (the same shape plus a few fields)."""
    alerts = []
    for raw in payload.get("alerts") or []:
        labels = dict(raw.get("labels") or {})
        annotations = dict(raw.get("annotations") or {})
        links = _links((name, raw.get(key)) for key, name in ALERT_LINKS.items())
        links.update(_links([("runbook", annotations.get("runbook_url"))]))
        alerts.append(Alert(
            fingerprint=raw.get("fingerprint") or label_fingerprint(labels),
            status=raw.get("status", "firing"),
            labels=labels,
            annotations=annotations,
            starts_at=parse_time(raw.get("startsAt")),
            ends_at=parse_time(raw.get("endsAt")),
            links=links,
        ))
    return Notification(
        source=source,
        group_key=webhook_group_key(source, payload),
        alerts=tuple(alerts),
        truncated=int(payload.get("truncatedAlerts") or 0),
        group_labels=dict(payload.get("groupLabels") or {}),
        common_labels=dict(payload.get("commonLabels") or {}),
        common_annotations=dict(payload.get("commonAnnotations") or {}),
        title=(payload.get("title") or "") if source == "grafana" else "",
        links=_links([(source, payload.get("externalURL"))]),
        receiver=payload.get("receiver") or "",
    )


PAGERDUTY_LABELS = ("severity", "source", "component", "group", "class")


def pagerduty_group_key(token_scope: str, dedup_key: str) -> str:
    """PagerDuty scopes a dedup_key to its routing key; Herald scopes it to the ingest token."""
    return f"{token_scope}:{dedup_key}"


def from_pagerduty(group_key: str, event: dict) -> Notification:
    """PagerDuty Events API v2: trigger / acknowledge / resolve of one alert named by its dedup_key."""
    action = event["event_action"]
    if action == "acknowledge":
        payload = event.get("payload") if isinstance(event.get("payload"), dict) else {}
        by = next((str(v)[:200] for v in (event.get("client"), payload.get("source")) if v not in (None, "")), None)
        return Notification(source="pagerduty", group_key=group_key, action="acknowledge", acknowledged_by=by)
    if action == "resolve":
        return Notification(source="pagerduty", group_key=group_key,
                            alerts=(Alert(fingerprint=event["dedup_key"], status="resolved"),))
    payload = event.get("payload") or {}
    details = payload.get("custom_details")
    labels = {key: str(payload[key]) for key in PAGERDUTY_LABELS if payload.get(key) not in (None, "")}
    if isinstance(details, dict) and isinstance(details.get("herald_severity"), str):
        labels["herald_severity"] = details["herald_severity"]
    annotations = {"summary": payload.get("summary", "")}
    if isinstance(details, dict) and isinstance(details.get("description"), str):
        annotations["description"] = details["description"]
    elif isinstance(details, str):
        annotations["description"] = details
    links = {}
    for i, link in enumerate(event.get("links") or []):
        url = web_link(link.get("href"))
        if url:
            links[link.get("text") or f"link {i + 1}"] = url
    links.update(_links([(event.get("client") or "client", event.get("client_url"))]))
    alert = Alert(
        fingerprint=event["dedup_key"],
        status="firing",
        labels=labels,
        annotations=annotations,
        starts_at=parse_time(payload.get("timestamp")),
        links=links,
    )
    return Notification(source="pagerduty", group_key=group_key, alerts=(alert,))
