"""The Review phase of the guide: the post-mortem deadline, the IC's reminder and the review meeting.

Driven by the incident's lifecycle signals: resolving plans the review, reopening withdraws it,
closing records it as done. Every change is written to the incident's timeline.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from email.utils import parseaddr

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from .. import clock
from ..errors import RuleError
from ..incidents.models import Incident
from ..incidents.timeline import record
from ..notify.context import console_links
from ..notify.outbox import notify, recipients_for_person
from ..people.models import Person
from ..runtime import config, holidays, policy
from .deadlines import postmortem_due, postmortem_reminder_at
from .invitation import Attendee, Invitation, review_uid, to_ical
from .models import ReviewMeeting, ReviewReminder
from .slots import review_slot

POSTMORTEM_REMINDER = "postmortem_due"


def meeting_of(s: Session, incident: Incident) -> ReviewMeeting | None:
    return s.scalar(select(ReviewMeeting).where(ReviewMeeting.incident_id == incident.id))


# ---- lifecycle -----------------------------------------------------------------------------------

def on_incident_changed(incident: Incident, *, session: Session, changes: dict, **_):
    old, new = changes.get("status", (None, None))
    if new == "resolved":
        plan_review(session, incident)
    elif old == "resolved" and new == "investigating":
        withdraw_review(session, incident)
    elif new == "closed":
        review_done(session, incident)
    elif "severity" in changes and incident.status == "resolved":
        plan_review(session, incident)


def on_role_assigned(incident: Incident, *, session: Session, person: Person, **_):
    """A role handed over after resolution: the new holder is invited too (the previous one stays)."""
    meeting = meeting_of(session, incident)
    if meeting is None or incident.status != "resolved" or meeting.status != "scheduled":
        return
    if person.handle not in meeting.attendees:
        book(session, incident, meeting.start, meeting.end, actor="herald",
             attendees=attendees_of(session, meeting) + [person], within_deadline=meeting.within_deadline)


def plan_review(s: Session, incident: Incident) -> None:
    """Set the post-mortem deadline, schedule the IC's reminder, and book (or move) the review meeting."""
    severity = policy().severities[incident.severity]
    due = postmortem_due(severity, incident.resolved_at)
    incident.postmortem_due_at = due
    _cancel_reminders(s, incident, "superseded")
    if due is None:
        return
    now = clock.now()
    if due > now:  # a severity raised long after resolution can leave a deadline already passed
        s.add(ReviewReminder(incident_id=incident.id, purpose=POSTMORTEM_REMINDER,
                             due_at=postmortem_reminder_at(incident.resolved_at, due)))
    record(s, incident, "postmortem_due", f"Post-mortem due by {due:%Y-%m-%d %H:%M} UTC", due_at=due.isoformat())
    meeting = meeting_of(s, incident)
    if meeting is not None and meeting.status == "scheduled" and meeting.end <= due:
        return
    slot = review_slot(incident.resolved_at, due, policy(), holidays(), not_before=now)
    book(s, incident, slot.start, slot.end, actor="herald", within_deadline=slot.within_deadline)


def withdraw_review(s: Session, incident: Incident) -> None:
    """The incident was reopened: no deadline, no reminder, the meeting is cancelled (until it resolves again)."""
    _cancel_reminders(s, incident, "incident reopened")
    meeting = meeting_of(s, incident)
    if meeting is None or meeting.status != "scheduled":
        return
    meeting.status = "cancelled"
    meeting.sequence += 1
    meeting.updated_at = clock.now()
    record(s, incident, "review_cancelled", "Review meeting cancelled: the incident was reopened")
    _send(s, incident, meeting, "CANCEL", attendees_of(s, meeting))


def review_done(s: Session, incident: Incident) -> None:
    """Closing the incident is the end of the guide's Review phase: stop reminding, mark the meeting done."""
    _cancel_reminders(s, incident, "incident closed")
    meeting = meeting_of(s, incident)
    if meeting is not None and meeting.status == "scheduled":
        meeting.status = "done"
        meeting.done_at = incident.closed_at
        meeting.updated_at = clock.now()
    if meeting is not None or incident.postmortem_due_at is not None:
        record(s, incident, "review_done", "Post-incident review recorded as done")


def _cancel_reminders(s: Session, incident: Incident, why: str) -> None:
    s.execute(update(ReviewReminder)
              .where(ReviewReminder.incident_id == incident.id, ReviewReminder.purpose == POSTMORTEM_REMINDER,
                     ReviewReminder.status == "pending")
              .values(status="cancelled", handled_at=clock.now(), note=why))


# ---- the meeting ---------------------------------------------------------------------------------

def book(s: Session, incident: Incident, start: datetime, end: datetime, *, actor: str,
         attendees: list[Person] | None = None, within_deadline: bool | None = None) -> ReviewMeeting:
    """Book the review meeting or move it; send the invitation (SEQUENCE raised on every change).

    Without `attendees` a new meeting invites every role owner; a moved one keeps its attendees.
    """
    if incident.status != "resolved":
        raise RuleError(f"the review of a {incident.status} incident cannot be booked; "
                              + ("it is already done" if incident.status == "closed" else "resolve it first"))
    now = clock.now()
    if within_deadline is None:
        within_deadline = incident.postmortem_due_at is None or end <= incident.postmortem_due_at
    meeting = meeting_of(s, incident)
    if meeting is None:
        people = attendees if attendees is not None else role_owners(incident)
        meeting = ReviewMeeting(incident_id=incident.id, uid=review_uid(incident.number, config().base_url),
                                start=start, end=end, attendees=[p.handle for p in people], sequence=0,
                                status="scheduled", within_deadline=within_deadline, booked_by=actor,
                                created_at=now, updated_at=now)
        s.add(meeting)
        s.flush()
        record(s, incident, "review_booked", f"Review meeting booked for {_when(start, end)}", actor=actor,
               start=start.isoformat(), end=end.isoformat(), attendees=meeting.attendees)
        _send(s, incident, meeting, "REQUEST", attendees_of(s, meeting))
        return meeting

    before = attendees_of(s, meeting)
    if meeting.status == "cancelled" and attendees is None:
        after = role_owners(incident)
    else:
        after = attendees if attendees is not None else before
    unchanged = (meeting.status == "scheduled" and (meeting.start, meeting.end) == (start, end)
                 and [p.handle for p in after] == meeting.attendees)
    if unchanged:
        return meeting
    meeting.start, meeting.end = start, end
    meeting.attendees = [p.handle for p in after]
    meeting.sequence += 1
    meeting.status = "scheduled"
    meeting.within_deadline = within_deadline
    meeting.booked_by = actor
    meeting.updated_at = now
    record(s, incident, "review_moved", f"Review meeting moved to {_when(start, end)}", actor=actor,
           start=start.isoformat(), end=end.isoformat(), attendees=meeting.attendees, sequence=meeting.sequence)
    removed = [p for p in before if p.handle not in meeting.attendees]
    if removed:
        _send(s, incident, meeting, "CANCEL", removed)
    _send(s, incident, meeting, "REQUEST", after)
    return meeting


def role_owners(incident: Incident) -> list[Person]:
    """Every person holding a role on the incident, once each, in role order."""
    people: dict[int, Person] = {}
    for slot in incident.roles:
        if slot.person is not None:
            people.setdefault(slot.person.id, slot.person)
    return list(people.values())


def attendees_of(s: Session, meeting: ReviewMeeting) -> list[Person]:
    by_handle = {p.handle: p for p in s.scalars(select(Person).where(Person.handle.in_(meeting.attendees)))}
    return [by_handle[h] for h in meeting.attendees if h in by_handle]


def invitation_for(incident: Incident, meeting: ReviewMeeting, attendees: list[Person]) -> Invitation:
    pages = console_links(config().base_url, incident.number)
    name, address = parseaddr(config().mail_from)
    due = incident.postmortem_due_at
    lines = [
        f"Post-incident review of {incident.number} ({incident.severity}): {incident.title}",
        f"Post-mortem due by {due:%Y-%m-%d %H:%M} UTC." if due else "The review is optional for this severity.",
        f"Draft post-mortem: {pages['postmortem']}",
        f"Action items: {pages['actions']}",
    ]
    return Invitation(
        uid=meeting.uid, sequence=meeting.sequence, start=meeting.start, end=meeting.end,
        summary=f"Post-incident review: {incident.number} {incident.title}",
        description="\n".join(lines),
        organizer=Attendee(name or "Herald", address or config().mail_from),
        attendees=tuple(Attendee(p.name, p.email) for p in attendees),
        url=pages["postmortem"],
    )


def _send(s: Session, incident: Incident, meeting: ReviewMeeting, method: str, people: list[Person]) -> None:
    """Queue the invitation (REQUEST) or its withdrawal (CANCEL) to `people`, by email.

    The slot names method and SEQUENCE, so a retried request queues nothing twice while every change
    goes out again.
    """
    if not people:
        return
    calendar = to_ical(invitation_for(incident, meeting, people), stamp=clock.now(), method=method)
    recipients = [r for person in people for r in recipients_for_person(person, ("email",))]
    notify(s, incident=incident, kind="invite", slot=f"review-{method.lower()}-{meeting.sequence}",
           recipients=recipients, calendar=calendar, context={"review": review_context(incident, meeting, method)})


def review_context(incident: Incident, meeting: ReviewMeeting, method: str) -> dict:
    """What the invite templates show beside the calendar part."""
    return {
        "method": method,
        "cancelled": method == "CANCEL",
        "start": meeting.start,
        "end": meeting.end,
        "sequence": meeting.sequence,
        "postmortem_due_at": incident.postmortem_due_at,
        "within_deadline": meeting.within_deadline,
        "postmortem_url": console_links(config().base_url, incident.number)["postmortem"],
    }


def sample_review(incident: Incident, _policy) -> dict:
    """The invite templates' extra context for `herald templates check`."""
    start = incident.started_at + timedelta(days=1)
    return {"review": {"method": "REQUEST", "cancelled": False, "start": start, "end": start + timedelta(hours=1),
                       "sequence": 0, "postmortem_due_at": start + timedelta(days=1), "within_deadline": True,
                       "postmortem_url": console_links("https://herald.example.com", incident.number)["postmortem"]}}



def _when(start: datetime, end: datetime) -> str:
    length = end - start
    minutes = int(length / timedelta(minutes=1))
    return f"{start:%Y-%m-%d %H:%M} UTC ({minutes} minutes)"
