"""Adding and changing people (the API and the console call these)."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from .. import clock
from .models import Person


class HandleTaken(ValueError):
    """Another person has this handle already (the caller answers 409)."""


def person_by_handle(s: Session, handle: str) -> Person | None:
    return s.scalar(select(Person).where(Person.handle == handle))


def add_person(s: Session, **fields) -> Person:
    if person_by_handle(s, fields["handle"]) is not None:
        raise HandleTaken(f"a person with handle {fields['handle']!r} already exists")
    person = Person(created_at=clock.now(), **fields)
    s.add(person)
    s.flush()
    return person


def change_person(s: Session, person: Person, **changes) -> Person:
    for key, value in changes.items():
        setattr(person, key, value)
    s.flush()
    return person


def person_signing_in(s: Session, *, object_id: str | None, addresses: list[str]) -> Person | None:
    """The person behind a Microsoft sign-in: by Entra object id where Herald knows it, else by an
    address (`preferred_username`, `email`) equal to their email or one of their aliases."""
    if object_id and hasattr(Person, "aad_object_id"):
        found = s.scalar(select(Person).where(Person.aad_object_id == object_id))
        if found is not None:
            return found
    wanted = {a.strip().lower() for a in addresses if a and a.strip()}
    if not wanted:
        return None
    for person in s.scalars(select(Person).order_by(Person.id)):
        if wanted & {person.email.lower(), *(a.lower() for a in person.aliases or [])}:
            return person
    return None
