"""Who an event names: pure, no database.

The known person whose email matches an ATTENDEE; else the person whose handle, name, email or alias
appears as a whole word in the SUMMARY (case-insensitive), the first named winning. An ATTENDEE who
declined is not on call; where several known people attend, the organiser (or a ROLE=CHAIR attendee) is
taken to be the one who sent the invitation, not the one on call.
"""
from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class PersonRef:
    id: int
    handle: str
    name: str
    email: str
    aliases: tuple[str, ...] = ()

    @classmethod
    def of(cls, person) -> "PersonRef":
        return cls(person.id, person.handle, person.name, person.email, tuple(person.aliases or ()))

    def addresses(self) -> set[str]:
        return {self.email.lower()} | {a.lower() for a in self.aliases if "@" in a}

    def terms(self) -> set[str]:
        return {t.strip().lower() for t in (self.handle, self.name, self.email, *self.aliases) if t and t.strip()}


@dataclass(frozen=True)
class Match:
    person: PersonRef | None
    named: tuple[PersonRef, ...] = ()  # every distinct person found, in order; more than one -> a warning
    via: str = ""  # "attendee" | "summary" | ""


class PersonMatcher:
    def __init__(self, people: list[PersonRef]):
        people = sorted(people, key=lambda p: p.id)
        self.by_address: dict[str, PersonRef] = {}
        self.by_term: dict[str, PersonRef] = {}
        for person in people:
            for address in person.addresses():
                self.by_address.setdefault(address, person)
            for term in person.terms():
                self.by_term.setdefault(term, person)
        # Longest first, so at one position "Bob Baker" wins over "bob".
        terms = sorted(self.by_term, key=lambda t: (-len(t), t))
        self.pattern = (
            re.compile(r"(?<!\w)(?:" + "|".join(map(re.escape, terms)) + r")(?!\w)", re.IGNORECASE) if terms else None
        )
        self._cache: dict[tuple, Match] = {}

    def match(self, summary: str, attendees: list[tuple[str, dict]] = (), organizer: str = "") -> Match:
        """`attendees`: (address, params) pairs as in the event; `organizer`: the ORGANIZER address."""
        key = (summary, tuple((a, tuple(sorted(p.items()))) for a, p in attendees), organizer)
        if key not in self._cache:
            self._cache[key] = self._match(summary, attendees, organizer)
        return self._cache[key]

    def _match(self, summary: str, attendees, organizer: str) -> Match:
        attending = []
        for address, params in attendees:
            person = self.by_address.get(_address(address))
            if person is None or params.get("PARTSTAT", "").upper() == "DECLINED":
                continue
            sender = _address(address) == _address(organizer) or params.get("ROLE", "").upper() == "CHAIR"
            attending.append((sender, person))
        if attending:
            named = _distinct(p for _, p in sorted(attending, key=lambda sp: sp[0]))
            return Match(named[0], named, "attendee")
        if self.pattern is None or not summary:
            return Match(None)
        named = _distinct(self.by_term[m.group(0).lower()] for m in self.pattern.finditer(summary))
        return Match(named[0], named, "summary") if named else Match(None)


def _address(value: str) -> str:
    value = str(value).strip()
    if value[:7].lower() == "mailto:":
        value = value[7:]
    return value.lower()


def _distinct(people) -> tuple[PersonRef, ...]:
    seen: dict[int, PersonRef] = {}
    for person in people:
        seen.setdefault(person.id, person)
    return tuple(seen.values())
