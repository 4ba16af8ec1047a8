"""Shared helpers for the rotation tests: fixture calendars, example people, 'who is on call at t'."""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

from service.rotations.calendar import decode
from service.rotations.matching import PersonRef
from service.rotations.resolve import Resolution, resolve_calendar

CALENDARS = Path(__file__).parent / "calendars"
UTC = timezone.utc
WINDOW = (datetime(2026, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))

PEOPLE = [
    PersonRef(1, "alice", "Alice Archer", "alice@example.com"),
    PersonRef(2, "bob", "Bob Baker", "bob@example.com"),
    PersonRef(3, "carol", "Carol Chen", "carol@example.com"),
    PersonRef(4, "dana", "Dana Diaz", "dana@example.com"),
    PersonRef(5, "erin", "Erin Evans", "erin.evans@example.com"),
    PersonRef(6, "frank", "Frank Fischer", "frank.fischer@example.com"),
    PersonRef(7, "gina", "Gina Gray", "gina@example.com"),
    PersonRef(8, "harriet", "Harriet Hughes", "harriet@example.com"),
    PersonRef(9, "ishaan", "Ishaan Iyer", "ishaan@example.com"),
    PersonRef(10, "joao", "João Jardim", "joao@example.com"),
    PersonRef(11, "kenji", "Kenji Kato", "kenji@example.com"),
    PersonRef(12, "lena", "Lena Lund", "lena@example.com"),
    PersonRef(13, "omar", "Omar Osei", "omar@example.com"),
    PersonRef(14, "priya", "Priya Patel", "priya@example.com"),
    PersonRef(15, "quinn", "Quinn Quarles", "quinn@example.com"),
    PersonRef(16, "rosa", "Rosa Rossi", "rosa@example.com"),
    PersonRef(17, "sam", "Sam Sato", "sam@example.com"),
    PersonRef(18, "tobias", "Tobias Thiel", "tobias@example.com"),
    PersonRef(19, "uma", "Uma Usman", "uma@example.com"),
    PersonRef(20, "victor", "Victor Vance", "victor@example.com"),
]
HANDLES = {p.id: p.handle for p in PEOPLE}


def t(text: str) -> datetime:
    """An ISO time; without an offset it is UTC."""
    moment = datetime.fromisoformat(text)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def fixture_text(name: str) -> str:
    return decode((CALENDARS / name).read_bytes())


def resolve_fixture(name: str, zone: str = "UTC", people=PEOPLE, window=WINDOW) -> Resolution:
    return resolve_calendar(fixture_text(name), people, *window, ZoneInfo(zone))


def shift_at(resolution: Resolution, moment: str):
    when = t(moment)
    found = [s for s in resolution.shifts if s.start <= when < s.end]
    assert len(found) <= 1, f"overlapping shifts at {moment}: {found}"
    return found[0] if found else None


def who(resolution: Resolution, moment: str) -> str | None:
    """The handle on call at `moment`, the label when it names nobody known, None when nobody is on call."""
    shift = shift_at(resolution, moment)
    if shift is None:
        return None
    return HANDLES[shift.person_id] if shift.person_id else shift.label


def vcalendar(*events: str, header: str = "") -> str:
    body = "".join(f"BEGIN:VEVENT\n{e.strip()}\nEND:VEVENT\n" for e in events)
    return f"BEGIN:VCALENDAR\nVERSION:2.0\nPRODID:-//test//EN\n{header}{body}END:VCALENDAR\n"
