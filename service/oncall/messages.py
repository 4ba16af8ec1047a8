"""The messages of the on-call person's side: who receives them and the plain data their templates see.

None of them belongs to an incident. Times go to templates as aware datetimes together with `tz`, the
recipient's own zone (their `timezone`, else the policy's), and the `local` filter writes them there.
"""
from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from ..notify.outbox import Recipient, notify, recipients_for_contact, recipients_for_person
from ..rotations.oncall import on_call
from ..runtime import policy

PERSONAL_CHANNELS = ("email", "teams")


def zone_of(person) -> ZoneInfo:
    return ZoneInfo(person.timezone) if getattr(person, "timezone", None) else policy().timezone


def person_data(person) -> dict:
    return {"handle": person.handle, "name": person.name, "timezone": str(zone_of(person))}


def role_titles(rotation_name: str) -> list[str]:
    pol = policy()
    return [pol.role_title(key) for key in pol.rotations_in_use().get(rotation_name, ())]


def stretch(start: datetime, end: datetime) -> dict:
    return {"start": start, "end": end, "duration": end - start}


def gap_recipients(s: Session, now: datetime) -> list[Recipient]:
    """The policy's `gap_contacts`: a contact as it is reached for escalations, a role through its holder now."""
    pol = policy()
    out: list[Recipient] = []
    for name in pol.oncall.gap_contacts:
        if name in pol.contacts:
            out.extend(recipients_for_contact(s, name, PERSONAL_CHANNELS, now))
        elif name in pol.roles and pol.roles[name].rotation:
            owner = on_call(s, pol.roles[name].rotation, now)
            if owner is not None and owner.person is not None:
                out.extend(recipients_for_person(owner.person, PERSONAL_CHANNELS))
    return out


def tell_person(s: Session, person, kind: str, slot: str, context: dict, reply_token: str | None = None) -> list:
    """Send `kind` to one person on their own channels, in their own time zone."""
    return notify(s, incident=None, kind=kind, slot=slot, recipients=recipients_for_person(person, PERSONAL_CHANNELS),
                  context={"person": person_data(person), "tz": zone_of(person), **context}, reply_token=reply_token)


def tell_gap_contacts(s: Session, kind: str, slot: str, context: dict, now: datetime) -> list:
    return notify(s, incident=None, kind=kind, slot=slot, recipients=gap_recipients(s, now),
                  context={"person": None, "tz": policy().timezone, **context})
