"""Adding and changing people (the API and the console call these)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from .models import Person


class HandleTaken(ValueError):
    """Another person has this handle already (the caller answers 409)."""


class ObjectIdTaken(ValueError):
    """Another person has this Entra object id already (the caller answers 409)."""


def person_by_handle(s: Session, handle: str) -> Person | None:
    return s.scalar(select(Person).where(Person.handle == handle))


def add_person(s: Session, **fields) -> Person:
    if person_by_handle(s, fields["handle"]) is not None:
        raise HandleTaken(f"a person with handle {fields['handle']!r} already exists")
    _claim_object_id(s, fields, None)
    person = Person(created_at=clock.now(), **fields)
    s.add(person)
    s.flush()
    return person


def change_person(s: Session, person: Person, **changes) -> Person:
    _claim_object_id(s, changes, person)
    for key, value in changes.items():
        setattr(person, key, value)
    s.flush()
    return person


def _claim_object_id(s: Session, fields: dict, person: Person | None) -> None:
    """Entra object ids are stored lower-case and belong to one person only."""
    if not fields.get("aad_object_id"):
        return
    fields["aad_object_id"] = fields["aad_object_id"].lower()
    holder = s.scalar(select(Person).where(Person.aad_object_id == fields["aad_object_id"]))
    if holder is not None and holder is not person:
        raise ObjectIdTaken(f"that Entra object id belongs to {holder.handle!r}")


def person_signing_in(s: Session, *, object_id: str | None, addresses: list[str]) -> Person | None:
    """The person behind a Microsoft sign-in: by Entra object id where Herald knows it, else by an
    address (`preferred_username`, `email`) equal to their email or one of their aliases."""
    if object_id:
        found = s.scalar(select(Person).where(Person.aad_object_id == object_id.lower()))
        if found is not None:
            return found
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return None
    for person in s.scalars(select(Person).order_by(Person.id)):
        if wanted & {person.email.lower(), *(a.lower() for a in person.aliases or [])}:
            return person
    return None
