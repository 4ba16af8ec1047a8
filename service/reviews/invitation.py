"""The review invitation as iCalendar (RFC 5545 / iTIP RFC 5546), built with icalendar.

One UID per incident and a SEQUENCE raised on every change make Outlook, Google and Apple update the
meeting they already show instead of adding a second one; METHOD:CANCEL with the next SEQUENCE
withdraws it.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import urlsplit

from icalendar import Calendar, Event, vCalAddress, vText

PRODID = "-//Herald//Post-incident review//EN"


@dataclass(frozen=True)
class Attendee:
    name: str
    email: str


@dataclass(frozen=True)
class Invitation:
    uid: str
    sequence: int
    start: datetime
    end: datetime
    summary: str
    description: str
    organizer: Attendee
    attendees: tuple[Attendee, ...]
    url: str = ""


def review_uid(incident_number: str, base_url: str) -> str:
    """Stable per incident and unique per Herald installation (the host of HERALD_BASE_URL)."""
    host = urlsplit(base_url).hostname or "herald"
    return f"review-{incident_number.lower()}@{host}"


def to_ical(invitation: Invitation, *, stamp: datetime, method: str = "REQUEST") -> str:
    """The invitation as a VCALENDAR text; `method` is REQUEST (new or moved) or CANCEL."""
    if method not in ("REQUEST", "CANCEL"):
        raise ValueError(f"unsupported iTIP method {method!r}")
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", method)

    event = Event()
    event.add("uid", invitation.uid)
    event.add("sequence", invitation.sequence)
    event.add("dtstamp", stamp)
    event.add("dtstart", invitation.start)
    event.add("dtend", invitation.end)
    event.add("summary", invitation.summary)
    event.add("description", invitation.description)
    if invitation.url:
        event.add("url", invitation.url)
    event.add("status", "CANCELLED" if method == "CANCEL" else "CONFIRMED")
    event.add("transp", "OPAQUE")
    event.add("organizer", _address(invitation.organizer, organizer=True))
    for person in invitation.attendees:
        event.add("attendee", _address(person))
    cal.add_component(event)
    return cal.to_ical().decode("utf-8")


def _address(person: Attendee, *, organizer: bool = False) -> vCalAddress:
    address = vCalAddress(f"mailto:{person.email}")
    if person.name:
        address.params["CN"] = vText(person.name)
    if not organizer:
        address.params["CUTYPE"] = vText("INDIVIDUAL")
        address.params["ROLE"] = vText("REQ-PARTICIPANT")
        address.params["PARTSTAT"] = vText("NEEDS-ACTION")
        address.params["RSVP"] = vText("TRUE")
    return address
