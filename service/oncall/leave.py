"""Out of office: people scheduled on call while they are away, found through Microsoft Graph.

For each person with a shift in the next CHECK_AHEAD on a rotation a role uses, Herald reads their
automatic-replies setting (`GET /users/{email}/mailboxSettings`: `alwaysEnabled`, or `scheduled`
between two times) and the out-of-office events of their calendar (`GET /users/{email}/calendarView`,
`showAs: oof`), and warns the person and the gap contacts once per clash (`coverage_gap` with
`gap.kind = "out_of_office"`). Graph is read outside any transaction; a person Graph does not know
(404) or cannot be read now (throttled, down) is skipped until the next check. The application needs
the permissions `MailboxSettings.Read` and `Calendars.Read` (scope them with an application access
policy like `Mail.Send`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import quote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON
from sqlalchemy import select

from .. import db
from ..microsoft import GraphError, microsoft
from ..people.models import Person
from ..rotations.models import Rotation
from ..rotations.oncall import effective_schedule
from ..runtime import config, policy
from .heads_up import stamp
from .messages import role_titles, stretch, tell_gap_contacts, tell_person
from .schedule import Run, runs_of

log = logging.getLogger("herald.oncall")

CHECK_AHEAD = timedelta(days=14)
PAGE_SIZE = 50


@dataclass(frozen=True)
class Absence:
    start: datetime
    end: datetime
    source: str  # "automatic replies" | "calendar"
    subject: str = ""


def graph_time(value: dict | None) -> datetime | None:
    """A Graph dateTimeTimeZone (`{"dateTime": "2026-03-09T00:00:00.0000000", "timeZone": "UTC"}`) as UTC."""
    if not value or not value.get("dateTime"):
        return None
    text = value["dateTime"].rstrip("Z")
    whole, _, fraction = text.partition(".")
    moment = datetime.fromisoformat(whole)
    name = value.get("timeZone") or "UTC"
    try:
        zone = ZoneInfo(WINDOWS_TO_OLSON.get(name, name))
    except (ZoneInfoNotFoundError, ValueError):
        zone = timezone.utc
    return moment.replace(tzinfo=zone).astimezone(timezone.utc)


def from_settings(settings: dict, start: datetime, end: datetime) -> list[Absence]:
    """The automatic-replies setting as an absence within [start, end) (pure)."""
    replies = settings.get("automaticRepliesSetting") or {}
    status = str(replies.get("status", "disabled"))
    if status == "alwaysEnabled":
        return [Absence(start, end, "automatic replies")]
    if status == "scheduled":
        lo, hi = graph_time(replies.get("scheduledStartDateTime")), graph_time(replies.get("scheduledEndDateTime"))
        if lo is not None and hi is not None and hi > start and lo < end and hi > lo:
            return [Absence(lo, hi, "automatic replies")]
    return []


def from_events(events: list[dict]) -> list[Absence]:
    """Calendar events shown as out of office (pure)."""
    out = []
    for event in events:
        if event.get("showAs") != "oof" or event.get("isCancelled"):
            continue
        lo, hi = graph_time(event.get("start")), graph_time(event.get("end"))
        if lo is not None and hi is not None and hi > lo:
            out.append(Absence(lo, hi, "calendar", str(event.get("subject") or "")[:200]))
    return out


def clashes(runs: list[Run], absences: list[Absence]) -> list[tuple[Run, Absence]]:
    """Each run that overlaps an absence, with the first such absence (pure)."""
    found = []
    for run in runs:
        absence = next((a for a in sorted(absences, key=lambda a: a.start) if a.start < run.end and a.end > run.start),
                       None)
        if absence is not None:
            found.append((run, absence))
    return found


def absences_of(address: str, start: datetime, end: datetime) -> list[Absence]:
    """What Graph says about one person's time away between start and end; GraphError when it cannot say."""
    client = microsoft(config())
    user = f"users/{quote(address)}"
    found = from_settings(client.get(f"{user}/mailboxSettings"), start, end)
    params = {"startDateTime": _iso(start), "endDateTime": _iso(end), "$select": "subject,showAs,start,end,isCancelled",
              "$top": str(PAGE_SIZE)}
    headers = {"Prefer": 'outlook.timezone="UTC"'}
    page = client.get(f"{user}/calendarView", params=params, headers=headers)
    events = list(page.get("value", []))
    while page.get("@odata.nextLink"):
        page = client.get(page["@odata.nextLink"], headers=headers)
        events.extend(page.get("value", []))
    return found + from_events(events)


def check_out_of_office(now: datetime) -> int:
    """Warn about every clash in the next CHECK_AHEAD; returns how many warnings were new."""
    end = now + CHECK_AHEAD
    with db.transaction() as s:
        planned: dict[int, list[tuple[str, Run]]] = {}
        addresses: dict[int, str] = {}
        for rotation in s.scalars(select(Rotation).where(Rotation.name.in_(list(policy().rotations_in_use())))):
            for run in runs_of(effective_schedule(s, rotation, now, end)):
                if run.person is not None and run.end > now:
                    planned.setdefault(run.person.id, []).append((rotation.name, run))
                    addresses[run.person.id] = run.person.email
    away: dict[int, list[Absence]] = {}
    for person_id, address in sorted(addresses.items()):
        try:
            away[person_id] = absences_of(address, now, end)
        except GraphError as exc:
            log.info("out-of-office check for %s skipped: %s", address, exc)
    sent = 0
    with db.transaction() as s:
        for person_id, absences in away.items():
            person = s.get(Person, person_id)
            for name, run in planned[person_id]:
                for run, absence in clashes([run], absences):
                    sent += _warn(s, person, name, run, absence, now)
    return sent


def _warn(s, person: Person, rotation: str, run: Run, absence: Absence, now: datetime) -> int:
    slot = f"away:{rotation}:{person.handle}:{stamp(run.start)}:{stamp(absence.start)}"
    gap = {**stretch(run.start, run.end), "kind": "out_of_office", "rotation": rotation, "roles": role_titles(rotation),
           "label": None, "who": person.name,
           "absence": {**stretch(absence.start, absence.end), "source": absence.source, "subject": absence.subject}}
    told = tell_person(s, person, "coverage_gap", slot, {"gap": gap})
    told += tell_gap_contacts(s, "coverage_gap", slot, {"gap": gap}, now)
    return len(told)


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
