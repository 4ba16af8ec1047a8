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
