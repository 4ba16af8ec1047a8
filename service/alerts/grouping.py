"""What one notification changes in a group's alert list (pure: no database, no clock)."""
from __future__ import annotations

from dataclasses import dataclass

from .normalize import Alert, Notification


@dataclass(frozen=True)
class Change:
    alerts: dict  # fingerprint -> alert JSON, the group's list after this notification
    newly_firing: tuple[str, ...] = ()  # new alerts, and known ones that fire again
    newly_resolved: tuple[str, ...] = ()
    fires: bool = False  # the notification reports at least one firing alert
    all_resolved: bool = False  # something was firing before and, with certainty, nothing is now
    unconfirmed_resolution: bool = False  # reads as resolved, but the sender left alerts out
    changed: bool = False  # the alert list differs from before (not merely a repeat)


def _merge(previous: dict | None, alert: Alert) -> dict:
    """The alert as now reported; a bare resolve (PagerDuty) keeps what the trigger said."""
    merged = alert.as_json()
    if previous:
        for key in ("labels", "annotations", "links", "starts_at"):
            if not merged[key]:
                merged[key] = previous.get(key) or merged[key]
    return merged


def firing_fingerprints(alerts: dict) -> list[str]:
    return [fp for fp, alert in alerts.items() if alert.get("status") == "firing"]


def apply(previous: dict, notification: Notification) -> Change:
    """Fold a notification into the group's alerts.

    Only an explicit `resolved` resolves an alert: one missing from a notification may merely have
    been cut by `max_alerts`. "All resolved" therefore also needs a complete (untruncated) list.
    """
    alerts = dict(previous)
    newly_firing, newly_resolved = [], []
    for alert in notification.alerts:
        before = previous.get(alert.fingerprint)
        was_firing = bool(before) and before.get("status") == "firing"
        alerts[alert.fingerprint] = _merge(before, alert)
        if alert.firing and not was_firing:
            newly_firing.append(alert.fingerprint)
        elif not alert.firing and was_firing:
            newly_resolved.append(alert.fingerprint)
    firing_before = bool(firing_fingerprints(previous))
    firing_after = bool(firing_fingerprints(alerts))
    resolved_now = firing_before and not firing_after
    return Change(
        alerts=alerts,
        newly_firing=tuple(newly_firing),
        newly_resolved=tuple(newly_resolved),
        fires=bool(notification.firing),
        all_resolved=resolved_now and notification.truncated == 0,
        unconfirmed_resolution=resolved_now and notification.truncated > 0,
        changed=alerts != previous,
    )


def keep_firing(alerts: dict) -> dict:
    """The alerts a new incident inherits: resolved ones belonged to the previous incident."""
    return {fp: alert for fp, alert in alerts.items() if alert.get("status") == "firing"}
