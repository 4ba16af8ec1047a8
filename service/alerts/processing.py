"""Apply stored events: update each group's alert list and open, or write on, the group's incident.

A person resolves the incident, never the alert: when every alert of a group has resolved, the timeline
says so and the Incident Commander is told. A group that fires again after its incident was resolved
opens a new incident that links the old one.
"""
from __future__ import annotations

from typing import Callable

from sqlalchemy import select
from sqlalchemy.orm import Session, lazyload

from .. import clock
from ..incidents import lifecycle
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..notify import cadence
from ..notify.context import role_data
from ..notify.outbox import notify, recipients_for_person
from ..runtime import holidays, policy
from . import grouping, triage
from .models import AlertEvent, AlertGroup
from .normalize import Alert, Notification, from_pagerduty, from_webhook

MAX_LISTED = 10  # alerts named in a message; the rest are counted
SENDER_NAMES = {"alertmanager": "Alertmanager", "grafana": "Grafana", "pagerduty": "PagerDuty Events API"}


def notification_for(event: AlertEvent) -> Notification:
    if event.source == "pagerduty":
        return from_pagerduty(event.group_key, event.payload)
    return from_webhook(event.source, event.payload)


def locked_groups(s: Session, runs: list[list[AlertEvent]]) -> dict[str, AlertGroup]:
    """The runs' existing groups, locked for this transaction, in one query."""
    hashes = [run[0].group_hash for run in runs]
    return {g.key_hash: g for g in s.scalars(select(AlertGroup).where(AlertGroup.key_hash.in_(hashes))
                                                 .with_for_update())}


def new_group(s: Session, first: AlertEvent) -> AlertGroup:
    group = AlertGroup(source=first.source, key=first.group_key, key_hash=first.group_hash, status="resolved",
                       labels={}, alerts={}, truncated_alerts=0, first_seen=first.received_at,
                       last_seen=first.received_at)
    s.add(group)
    return group


def apply_runs(s: Session, runs: list[list[AlertEvent]], *, enough: Callable[[], bool] | None = None) -> int:
    """Apply runs of events (each run: one group's events in arrival order), noting on each event what
    it did; stop after any run once `enough()` says so. Return the number of runs applied.

    Groups and incidents are read in one query each, so a storm of repeats costs little more than the
    writes of the groups' alert lists and the events' outcomes.
    """
    groups = locked_groups(s, runs)
    incident_ids = {g.incident_id for g in groups.values() if g.incident_id}
    incidents = {i.id: i for i in s.scalars(select(Incident).where(Incident.id.in_(incident_ids))
                                            .options(lazyload(Incident.roles)))} if incident_ids else {}
    for applied, run in enumerate(runs, start=1):
        group = groups.get(run[0].group_hash) or new_group(s, run[0])
        incident = incidents.get(group.incident_id)
        for event in run:
            incident, outcome = _apply(s, group, incident, event)
            event.outcome = outcome[:300]
            event.incident_id = incident.id if incident else None
        if enough is not None and enough():
            return applied
    return len(runs)


def _apply(s: Session, group: AlertGroup, incident: Incident | None,
           event: AlertEvent) -> tuple[Incident | None, str]:
    notification = notification_for(event)
    group.last_seen = max(group.last_seen, event.received_at)
    group.last_event_id = event.id
    actor = event.source

    if notification.action == "acknowledge":
        # In PagerDuty an acknowledge stops the escalation; tools that send it expect the same here.
        if incident is None or not incident.is_open:
            return incident, "ignored: no open incident for this dedup_key"
        sources = [a.get("labels", {}).get("source") for a in (group.alerts or {}).values() if isinstance(a, dict)]
        who = notification.acknowledged_by or next((x for x in sources if x), None) or SENDER_NAMES[event.source]
        roles = lifecycle.acknowledge_paged_roles(s, incident, via=f"PagerDuty Events API ({who})", actor=actor,
                                                  channel="pagerduty")
        if not roles:
            record(s, incident, "alert_acknowledged",
                   f"{SENDER_NAMES[event.source]} reports the alert acknowledged ({who}); it was acknowledged already",
                   actor=actor, group=group.key)
            return incident, "acknowledged already"
        return incident, f"acknowledged: {', '.join(roles)}"

    change = grouping.apply(group.alerts, notification)
    if notification.group_labels:
        group.labels = notification.group_labels
    group.truncated_alerts = notification.truncated

    if change.fires and (incident is None or not incident.is_open):
        group.alerts = grouping.keep_firing(change.alerts)
        group.status = "firing"
        opened = _open_incident(s, group, notification, previous=incident, actor=actor)
        return opened, f"opened {opened.number}"

    if change.changed:
        group.alerts = change.alerts
    group.status = "firing" if grouping.firing_fingerprints(change.alerts) else "resolved"
    if incident is None:
        return None, "recorded: nothing firing, no incident"
    if incident.status == "closed":
        return incident, f"recorded: {incident.number} is closed"
    return incident, _annotate(s, incident, group, notification, change, actor) or "repeat: last_seen updated"


def _open_incident(s: Session, group: AlertGroup, notification: Notification, *, previous: Incident | None,
                   actor: str) -> Incident:
    firing = notification.firing
    incident = lifecycle.open_incident(
        s,
        title=triage.title_for(notification),
        severity=triage.group_severity(firing, policy()),
        actor=actor,
        impact=triage.impact_for(notification),
        description=_description(group, notification),
        source=group.source,
        links=triage.links_for(notification),
        previous_incident_id=previous.id if previous else None,
    )
    group.incident_id = incident.id
    record(s, incident, "alert_firing", _count(firing, "firing") + ": " +
           triage.list_alerts(firing, notification.common_labels), actor=actor, group=group.key,
           fingerprints=[a.fingerprint for a in firing])
    return incident


def _annotate(s: Session, incident: Incident, group: AlertGroup, notification: Notification,
              change: grouping.Change, actor: str) -> str:
    """Newly firing and newly resolved alerts go on the timeline; repeats add nothing."""
    said = []
    by_fingerprint = {a.fingerprint: a for a in notification.alerts}
    if change.newly_firing:
        alerts = [by_fingerprint[fp] for fp in change.newly_firing]
        record(s, incident, "alert_firing", _count(alerts, "firing") + ": " +
               triage.list_alerts(alerts, notification.common_labels), actor=actor, group=group.key,
               fingerprints=list(change.newly_firing))
        said.append(_count(alerts, "firing"))
        _raise_severity(s, incident, alerts, actor)
    if change.newly_resolved:
        alerts = [change.alerts[fp] for fp in change.newly_resolved]
        record(s, incident, "alert_resolved", _count(alerts, "resolved") + ": " +
               triage.list_alerts(alerts, notification.common_labels), actor=actor, group=group.key,
               fingerprints=list(change.newly_resolved))
        said.append(_count(alerts, "resolved"))
    if change.all_resolved:
        told = _tell_incident_commander(s, incident, group, change, slot=f"alerts-resolved-{group.last_event_id}")
        record(s, incident, "alerts_resolved",
               f"All alerts of the group have resolved in {SENDER_NAMES[group.source]}. "
               f"The incident stays open until a person resolves it; {told}.", actor=actor, group=group.key)
        said.append("all alerts resolved")
    elif change.unconfirmed_resolution:
        record(s, incident, "alerts_resolved_unconfirmed",
               f"{SENDER_NAMES[group.source]} reports the group resolved, but left "
               f"{notification.truncated} alert(s) out of its notification (max_alerts); Herald cannot confirm "
               "that every alert has resolved.", actor=actor, group=group.key)
        said.append("resolution unconfirmed (truncated)")
    return ", ".join(said)


def _tell_incident_commander(s: Session, incident: Incident, group: AlertGroup, change: grouping.Change, *,
                             slot: str) -> str:
    """A notice to the Incident Commander (held until business hours for business-hours severities)."""
    commander = policy().commander_role
    holder = incident.role(commander)
    title = policy().role_title(commander)
    if holder is None or holder.person is None:
        return f"nobody holds the {title} role to tell"
    severity = policy().severities[incident.severity]
    resolved = [triage.describe(alert) for alert in change.alerts.values()]
    context = {"role": role_data(policy(), commander),
               "monitoring": {"source": SENDER_NAMES[group.source], "alerts": resolved[:MAX_LISTED],
                              "more": max(len(resolved) - MAX_LISTED, 0)}}
    notify(s, incident=incident, kind="notice", slot=slot,
           recipients=recipients_for_person(holder.person, severity.channels), context=context,
           not_before=cadence.page_not_before(severity, clock.now(), policy(), holidays()))
    return f"the {title}, {holder.person.name}, has been told"


def _raise_severity(s: Session, incident: Incident, alerts: list[Alert], actor: str) -> None:
    """A more severe alert joining an open incident raises its severity; monitoring never lowers it."""
    candidate = triage.most_severe((triage.alert_severity(a.labels, policy()) for a in alerts), policy())
    if incident.is_open and candidate and triage.is_more_severe(candidate, incident.severity, policy()):
        lifecycle.change_incident(s, incident, actor=actor, severity=candidate)


def _count(alerts, state: str) -> str:
    n = len(alerts)
    return f"{n} alert{'s' if n != 1 else ''} {state}"


def _description(group: AlertGroup, notification: Notification) -> str:
    sender = SENDER_NAMES[group.source]
    lines = [f"Opened by {sender}" + (f" (receiver {notification.receiver!r})" if notification.receiver else "")
             + "."]
    if notification.group_labels:
        lines.append("Alert group: " + ", ".join(f'{k}="{v}"' for k, v in sorted(notification.group_labels.items())))
    if notification.truncated:
        lines.append(f"{notification.truncated} more alert(s) were left out of the notification (max_alerts).")
    return "\n".join(lines)
