"""Action items: numbered per incident, each owner reminded the day before and on the due date until done."""
from __future__ import annotations

from datetime import date
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from .. import clock
from ..incidents.models import Incident
from ..people.models import Person
from ..runtime import policy
from .deadlines import action_reminder_times
from .models import ActionItem, ReviewReminder

_UNSET = object()


def add_action(s: Session, incident: Incident, *, action: str, actor: str, owner: Person | None = None,
               due_date: date | None = None) -> ActionItem:
    # Lock the incident so two concurrent additions cannot take the same number (PostgreSQL; SQLite
    # serialises writers anyway).
    s.execute(select(Incident.id).where(Incident.id == incident.id).with_for_update())
    last = s.scalar(select(func.max(ActionItem.number)).where(ActionItem.incident_id == incident.id)) or 0
    now = clock.now()
    item = ActionItem(incident_id=incident.id, number=last + 1, action=action, owner=owner, due_date=due_date,
                      done=False, created_at=now, created_by=actor, updated_at=now)
    s.add(item)
    s.flush()
    schedule_reminders(s, item)
    return item


def change_action(s: Session, item: ActionItem, *, action=_UNSET, owner=_UNSET, due_date=_UNSET,
                  done=_UNSET) -> ActionItem:
    """Apply a PATCH; a new due date or owner re-plans the reminders, `done` stops them."""
    now = clock.now()
    if action is not _UNSET:
        item.action = action
    if owner is not _UNSET:
        item.owner = owner
    if due_date is not _UNSET:
        item.due_date = due_date
    if done is not _UNSET and done != item.done:
        item.done = done
        item.done_at = now if done else None
    item.updated_at = now
    s.flush()
    if any(value is not _UNSET for value in (owner, due_date, done)):
        schedule_reminders(s, item)
    return item


def schedule_reminders(s: Session, item: ActionItem) -> None:
    """Replace the item's pending reminders by the ones its owner, due date and state call for now."""
    now = clock.now()
    s.execute(update(ReviewReminder)
              .where(ReviewReminder.action_item_id == item.id, ReviewReminder.status == "pending")
              .values(status="cancelled", handled_at=now, note="re-planned"))
    if item.done or item.owner is None or item.due_date is None:
        return
    zone = _zone_of(item.owner)
    for purpose, due_at in action_reminder_times(item.due_date, zone, policy().business_hours.start):
        if due_at > now:
            s.add(ReviewReminder(incident_id=item.incident_id, action_item_id=item.id, purpose=purpose,
                                 due_at=due_at))


def _zone_of(person: Person) -> ZoneInfo:
    """The owner's own time zone when they set one, else the policy's."""
    return ZoneInfo(person.timezone) if person.timezone else policy().timezone
