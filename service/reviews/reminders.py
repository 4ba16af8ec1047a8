"""The reminder tick: what is due goes to the dispatch outbox (the IC before the post-mortem deadline,
action item owners the day before and on the due date).

A reminder row is claimed (FOR UPDATE SKIP LOCKED on PostgreSQL), then queued with an idempotency
key of its own, so two workers never send it twice. A tick that comes late catches up once: of
several reminders due for the same thing, only the latest goes out, the others are marked skipped.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import db
from ..incidents.models import Incident
from ..mechanics.claim import skip_locked
from ..notify.context import console_links
from ..notify.outbox import notify, recipients_for_person
from ..policy import duration_in_words
from ..runtime import config, policy
from .models import ActionItem, ReviewReminder
from .review import POSTMORTEM_REMINDER, meeting_of

log = logging.getLogger("herald.reviews")

BATCH = 200


def send_due_reminders(now: datetime) -> None:
    with db.transaction() as s:
        query = (select(ReviewReminder).where(ReviewReminder.status == "pending", ReviewReminder.due_at <= now)
                 .order_by(ReviewReminder.due_at, ReviewReminder.id).limit(BATCH))
        latest: dict[tuple, ReviewReminder] = {}
        for reminder in s.scalars(skip_locked(query, s)):
            subject = (reminder.incident_id, reminder.action_item_id)
            if subject in latest:
                _close(latest[subject], now, "skipped", "superseded by a later reminder (late tick)")
            latest[subject] = reminder
        for reminder in latest.values():
            _deliver(s, reminder, now)


def _deliver(s: Session, reminder: ReviewReminder, now: datetime) -> None:
    incident = s.get(Incident, reminder.incident_id)
    if reminder.purpose == POSTMORTEM_REMINDER:
        if incident.status != "resolved":
            return _close(reminder, now, "cancelled", f"the incident is {incident.status}")
        holder = incident.role(policy().commander_role)
        person = holder.person if holder is not None else None
        context = _postmortem_context(s, incident, now)
        if person is None:
            return _close(reminder, now, "skipped", "the incident has no Incident Commander")
    else:
        item = s.get(ActionItem, reminder.action_item_id)
        if item is None or item.done:
            return _close(reminder, now, "cancelled", "the action item is done")
        person = item.owner
        context = _action_context(incident, item, reminder.purpose)
        if person is None:
            return _close(reminder, now, "skipped", "the action item has no owner")
    channels = policy().severities[incident.severity].channels
    notify(s, incident=incident, kind="reminder", slot=f"review-reminder-{reminder.id}",
           recipients=recipients_for_person(person, channels), context={"reminder": context})
    _close(reminder, now, "sent", f"to {person.handle}")


def _close(reminder: ReviewReminder, now: datetime, status: str, note: str) -> None:
    reminder.status = status
    reminder.handled_at = now
    reminder.note = note


def _links(incident: Incident) -> dict:
    pages = console_links(config().base_url, incident.number)
    return {"postmortem": pages["postmortem"], "actions": pages["actions"]}


def _postmortem_context(s: Session, incident: Incident, now: datetime) -> dict:
    meeting = meeting_of(s, incident)
    scheduled = meeting is not None and meeting.status == "scheduled"
    due_in = duration_in_words(max(incident.postmortem_due_at - now, timedelta(0)))
    return {
        "about": "postmortem",
        "headline": f"Post-mortem due in {due_in}",
        "subject": incident.title,
        "due_at": incident.postmortem_due_at,
        "review_start": meeting.start if scheduled else None,
        "review_end": meeting.end if scheduled else None,
        **_links(incident),
    }


def _action_context(incident: Incident, item: ActionItem, purpose: str) -> dict:
    when = "tomorrow" if purpose == "action_due_tomorrow" else "today"
    return {
        "about": "action",
        "headline": f"Action item {item.number} is due {when}",
        "subject": item.action,
        "action": item.action,
        "number": item.number,
        "due_date": item.due_date,
        "due": when,
        **_links(incident),
    }


def sample_postmortem_reminder(incident: Incident, _policy) -> dict:
    """The review's post-mortem reminder, for `herald templates check`."""
    due = incident.started_at + timedelta(days=2)
    base = "https://herald.example.com/api/incidents/" + incident.number
    return {"reminder": {"about": "postmortem", "headline": "Post-mortem due in 12 hours", "subject": incident.title,
                         "due_at": due, "review_start": due - timedelta(hours=20),
                         "review_end": due - timedelta(hours=19), "postmortem": base + "/postmortem",
                         "actions": base + "/actions"}}


def sample_action_reminder(incident: Incident, _policy) -> dict:
    """The review's action-item reminder, for `herald templates check`."""
    base = "https://herald.example.com/api/incidents/" + incident.number
    return {"reminder": {"about": "action", "headline": "Action item 1 is due tomorrow",
                         "subject": "Alert on replication lag", "action": "Alert on replication lag", "number": 1,
                         "due_date": (incident.started_at + timedelta(days=3)).date(), "due": "tomorrow",
                         "postmortem": base + "/postmortem", "actions": base + "/actions"}}
