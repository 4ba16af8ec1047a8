"""Calendar feeds: a person's or a rotation's resolved shifts as iCal, behind an unguessable token.

The token (192 random bits) is the credential, so it is stored only as its SHA-256 and a new one
replaces the old. Feeds carry no contact details: no attendees, no organiser, and email addresses in
imported labels are masked. UIDs are stable across requests and re-imports of an unchanged calendar.
"""
from __future__ import annotations

import hashlib
import re
import secrets
from datetime import datetime, timedelta, timezone

import icalendar
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from ..auth import hash_token
from ..people.models import Person
from ..runtime import config, policy
from .models import CalendarFeed, Rotation
from .oncall import OnCall, effective_schedule, rotations_of

FEED_BACK = timedelta(days=15)
FEED_AHEAD = timedelta(days=180)
REFRESH = timedelta(hours=1)
EMAIL = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+")


def new_token(s: Session, *, now: datetime, actor: str, rotation: Rotation | None = None,
              person: Person | None = None) -> str:
    """A new feed URL for the rotation or person; the previous one stops working."""
    owner = CalendarFeed.rotation_id == rotation.id if rotation is not None else CalendarFeed.person_id == person.id
    s.execute(delete(CalendarFeed).where(owner))
    secret = secrets.token_urlsafe(24)
    s.add(CalendarFeed(token_hash=hash_token(secret), rotation_id=rotation.id if rotation else None,
                       person_id=person.id if person else None, created_at=now, created_by=actor))
    s.flush()
    return f"{config().base_url}/calendars/{secret}.ics"


def feed_for(s: Session, token: str) -> CalendarFeed | None:
    return s.scalar(select(CalendarFeed).where(CalendarFeed.token_hash == hash_token(token)))


def render(s: Session, feed: CalendarFeed, now: datetime) -> str:
    start, end = now - FEED_BACK, now + FEED_AHEAD
    if feed.rotation is not None:
        rotations = [feed.rotation]
        name = f"On call: {feed.rotation.name}"
    else:
        rotations = rotations_of(s, feed.person, start, end)
        name = f"{feed.person.name}: on call"
    calendar = icalendar.Calendar()
    calendar.add("PRODID", "-//Herald//On-call feed//EN")
    calendar.add("VERSION", "2.0")
    calendar.add("CALSCALE", "GREGORIAN")
    calendar.add("METHOD", "PUBLISH")
    calendar.add("X-WR-CALNAME", name)
    calendar.add("REFRESH-INTERVAL", icalendar.vDuration(REFRESH), parameters={"VALUE": "DURATION"})
    calendar.add("X-PUBLISHED-TTL", icalendar.vDuration(REFRESH))
    for rotation in rotations:
        # DTSTAMP is when the rotation last changed, so an unchanged schedule renders byte for byte the same.
        stamp = rotation.updated_at.astimezone(timezone.utc)
        for slot in effective_schedule(s, rotation, start, end):
            if feed.person is not None and (slot.person is None or slot.person.id != feed.person.id):
                continue
            calendar.add_component(_event(rotation, slot, stamp, for_person=feed.person is not None))
    return calendar.to_ical().decode("utf-8")


def _event(rotation: Rotation, slot: OnCall, stamp: datetime, *, for_person: bool) -> icalendar.Event:
    titles = [role.title for role in policy().roles.values() if role.rotation == rotation.name]
    what = " / ".join(titles) or rotation.name
    who = slot.person.name if slot.person is not None else EMAIL.sub("(address hidden)", slot.label) or "nobody named"
    event = icalendar.Event()
    uid = hashlib.sha256(f"{rotation.name}\n{slot.uid}".encode()).hexdigest()[:32]
    event.add("UID", f"{uid}@herald")
    event.add("DTSTAMP", stamp)
    event.add("DTSTART", slot.start.astimezone(timezone.utc))
    event.add("DTEND", slot.end.astimezone(timezone.utc))
    event.add("SUMMARY", f"On call: {what}" if for_person else f"{who} ({what})")
    event.add("DESCRIPTION", f"Rotation {rotation.name}" + (" (override)" if slot.override else ""))
    event.add("TRANSP", "TRANSPARENT")
    return event
