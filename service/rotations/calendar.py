"""Read an iCal export the way the tool that wrote it meant it: a pure module, no database.

`parse_calendar(text, default_zone)` checks the text's shape before icalendar sees it (size, nesting,
component count), parses it, rejects what cannot be read (with every problem listed), and gives every
date-time of every event a real time zone:

- TZIDs resolve per calendar: an IANA name (also Mozilla-style `/mozilla.org/…/Europe/Berlin`), else a
  Windows name (Outlook/Exchange, with or without a VTIMEZONE), else the calendar's own VTIMEZONE of
  that TZID. icalendar caches custom VTIMEZONEs process-wide by TZID, first one wins, so two calendars
  that both define "Customized Time Zone" differently would share one; we rebuild each from its own
  calendar instead.
- With X-WR-TIMEZONE (Google), UTC and floating times are read in that zone (x-wr-timezone's rule, so a
  weekly 09:00 stays 09:00 local across DST); without it floating times are read in `default_zone`.
- All-day dates stay dates; `expand` turns them into local midnight in the calendar's zone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timezone, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import icalendar
import x_wr_timezone
from dateutil.rrule import rrulestr
from icalendar.timezone import tzp
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

MAX_CALENDAR_BYTES = 10 * 1024 * 1024
MAX_NESTING = 8  # VCALENDAR > VEVENT > VALARM is 3; VCALENDAR > VTIMEZONE > STANDARD is 3
MAX_COMPONENTS = 200_000
DATE_PROPERTIES = ("DTSTART", "DTEND", "RECURRENCE-ID", "RDATE", "EXDATE")
ESSENTIAL_PROPERTIES = ("DTSTART", "DTEND", "DURATION", "RECURRENCE-ID", "RRULE")  # the times depend on these
MIN_YEAR, MAX_YEAR = 1900, 2200  # beyond these an on-call calendar holds typos, and datetime overflows
# A VTIMEZONE's own rules: icalendar expands them from their DTSTART (Exchange writes 1601) to 2038.
ZONE_RULE_SECONDS = {"YEARLY": 365 * 86400, "MONTHLY": 28 * 86400}
ZONE_RULES_UNTIL = datetime(2038, 1, 1, tzinfo=timezone.utc)
MAX_ZONE_STEPS = 20_000


class CalendarError(ValueError):
    """A calendar that cannot be read; `problems` lists every reason found."""

    def __init__(self, problems: list[str] | str):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("; ".join(self.problems))


@dataclass
class ParsedCalendar:
    calendar: icalendar.Calendar
    zone: tzinfo  # where floating times and all-day dates live
    warnings: list[str] = field(default_factory=list)


def decode(body: bytes, charset: str | None = None) -> str:
    """Calendar bytes to text: the declared charset, else UTF-8 (with or without BOM), else Windows-1252."""
    if len(body) > MAX_CALENDAR_BYTES:
        raise CalendarError(f"the calendar is {len(body):,} bytes; at most {MAX_CALENDAR_BYTES:,} are accepted")
    for encoding in filter(None, (charset, "utf-8-sig")):
        try:
            return body.decode(encoding)
        except (LookupError, UnicodeDecodeError):
            continue
    return body.decode("cp1252", errors="replace")


def parse_calendar(text: str, default_zone: tzinfo) -> ParsedCalendar:
    if len(text) > MAX_CALENDAR_BYTES:
        raise CalendarError(f"the calendar is {len(text):,} characters; at most {MAX_CALENDAR_BYTES:,} are accepted")
    _check_shape(text)
    try:
        calendars = icalendar.Calendar.from_ical(text, multiple=True)
    except (AttributeError, TypeError) as exc:  # the parser tripping over damage it did not foresee (e.g. a
        # broken VTIMEZONE met again through icalendar's zone cache): its own words would mean nothing here
        raise CalendarError("not a readable iCalendar file: its structure is damaged (a time zone, event or "
                            "property the parser could not make sense of)") from exc
    except Exception as exc:  # icalendar raises ValueError, KeyError, IndexError… on malformed text
        raise CalendarError(f"not a readable iCalendar file: {exc}") from exc
    if len(calendars) != 1 or calendars[0].name != "VCALENDAR":
        raise CalendarError("the file must hold exactly one VCALENDAR")
    calendar = calendars[0]
    warnings: list[str] = []
    _check_events(calendar, warnings)
    zones = _ZoneResolver(calendar, warnings)
    zone, declared_zone = default_zone, None
    declared = calendar.get("X-WR-TIMEZONE")
    if declared is not None:
        declared_zone = zones.resolve(str(declared))
        if declared_zone is None:
            warnings.append(f"X-WR-TIMEZONE {str(declared)!r} is not a known time zone; "
                            f"floating times are read in {_zone_name(default_zone)}")
        else:
            zone = declared_zone
    zones.fix_event_zones()
    calendar = _FloatingTimes(zone, read_utc_as_local=declared_zone is not None).walk(calendar)
    return ParsedCalendar(calendar, zone, warnings)


def _check_shape(text: str) -> None:
    """Refuse what would make icalendar (whose walk() recurses) or the expansion blow up, before parsing."""
    depth = components = 0
    first = True
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        upper = line[:6].upper()
        if first:
            if not line.upper().startswith("BEGIN:VCALENDAR"):
                raise CalendarError("not an iCalendar file: it must start with BEGIN:VCALENDAR")
            first = False
        if upper.startswith("BEGIN:"):
            depth += 1
            components += 1
            if depth > MAX_NESTING:
                raise CalendarError(f"components are nested more than {MAX_NESTING} deep (line {number})")
            if components > MAX_COMPONENTS:
                raise CalendarError(f"more than {MAX_COMPONENTS:,} components")
        elif upper.startswith("END:"):
            depth -= 1
            if depth < 0:
                raise CalendarError(f"END without BEGIN (line {number})")
    if first:
        raise CalendarError("the calendar is empty")
    if depth != 0:
        raise CalendarError(f"{depth} component(s) are never closed with END")


def describe(event) -> str:
    """How a report names an event: its SUMMARY and UID."""
    summary = str(event.get("SUMMARY", "")).strip() or "(no title)"
    uid = str(event.get("UID", "")).strip()
    return f"event {summary!r}" + (f" (UID {uid})" if uid else "")


def _check_events(calendar: icalendar.Calendar, warnings: list[str]) -> None:
    """Refuse what cannot be read; repair harmless damage and say so in `warnings`.

    As lenient as recurring-ical-events, which real exports are made for: a damaged line or property
    that no event's time depends on (a bad fold, an empty EXDATE, an empty RRULE, a broken X- line) is
    dropped with a warning. A damaged DTSTART, DTEND, DURATION, RECURRENCE-ID or RRULE, or a recurrence rule
    that cannot be read, refuses the calendar, naming the event.
    """
    problems = []
    for component in calendar.walk():
        if component.name != "VEVENT":
            warnings.extend(f"{component.name}: ignored a damaged {prop or 'line'} ({_short(message)})"
                            for prop, message in component.errors)
    for event in calendar.walk("VEVENT"):
        for prop, message in event.errors:
            if prop in ESSENTIAL_PROPERTIES:
                problems.append(f"{describe(event)}: {prop}: {_short(message)}")
            else:
                warnings.append(f"{describe(event)}: ignored a damaged {prop or 'line'} ({_short(message)})")
        _drop_empty(event, warnings)
        found = [_date_problem(event, name) for name in DATE_PROPERTIES]
        problems.extend(f"{describe(event)}: {p}" for p in found if p)
        if any(found) or any(prop == "DTSTART" for prop, _ in event.errors):
            continue
        if "DTSTART" not in event:
            problems.append(f"{describe(event)} has no DTSTART")
            continue
        start = event["DTSTART"].dt
        end = event["DTEND"].dt if "DTEND" in event else None
        if end is not None and isinstance(start, datetime) != isinstance(end, datetime):
            problems.append(f"{describe(event)}: DTSTART and DTEND must both be dates or both date-times")
        elif end is not None and _comparable(end) < _comparable(start):
            problems.append(f"{describe(event)} ends before it starts")
        else:
            problems.extend(f"{describe(event)}: {p}" for p in _rule_problems(event))
    if problems:
        raise CalendarError(problems[:50] + ([f"… and {len(problems) - 50} more"] if len(problems) > 50 else []))


def _drop_empty(event, warnings: list[str]) -> None:
    """An empty RRULE, EXDATE or RDATE says nothing: drop it (recurring-ical-events ignores it too)."""
    for name in ("RRULE", "EXDATE", "RDATE"):
        values = event.get(name)
        if values is None:
            continue
        kept = [v for v in (values if isinstance(values, list) else [values]) if not _empty(v)]
        if len(kept) == (len(values) if isinstance(values, list) else 1):
            continue
        del event[name]
        for value in kept:
            event.add(name, value)  # keeps the parsed value and its parameters
        warnings.append(f"{describe(event)}: ignored an empty {name}")


def _empty(value) -> bool:
    if isinstance(value, icalendar.vRecur):
        return not value
    dts = getattr(value, "dts", None)
    return dts is not None and not dts


def _rule_problems(event) -> list[str]:
    """Recurrence rules dateutil cannot read, in words (never a Python exception's text)."""
    rules = event.get("RRULE")
    if rules is None:
        return []
    start = event["DTSTART"].dt
    first = start if isinstance(start, datetime) else datetime(start.year, start.month, start.day)
    problems = []
    for rule in rules if isinstance(rules, list) else [rules]:
        text = rule.to_ical().decode(errors="replace")
        bad = [part for part, values in rule.items() if part in RULE_PART_RANGES
               and not all(_in_range(v, RULE_PART_RANGES[part]) for v in values)]
        if bad:
            problems.append(f"RRULE {text}: {', '.join(bad)} must be whole numbers in range")
            continue
        try:  # UNTIL aside: recurring-ical-events reconciles a date UNTIL with a date-time start and back
            parts = ";".join(p for p in text.split(";") if not p.upper().startswith("UNTIL="))
            rrulestr(parts, dtstart=first.replace(tzinfo=None), forceset=True)
        except Exception:  # dateutil's messages name its internals, not the calendar
            problems.append(f"RRULE {text} is not a recurrence rule Herald can read")
    return problems


RULE_PART_RANGES = {"BYMONTH": (1, 12), "BYMONTHDAY": (-31, 31), "BYYEARDAY": (-366, 366), "BYWEEKNO": (-53, 53),
                    "BYHOUR": (0, 23), "BYMINUTE": (0, 59), "BYSECOND": (0, 60), "BYSETPOS": (-366, 366),
                    "INTERVAL": (1, 10_000), "COUNT": (0, 10**9)}


def _in_range(value, bounds: tuple[int, int]) -> bool:
    try:
        number = int(str(value))
    except ValueError:
        return False
    return bounds[0] <= number <= bounds[1] and (number != 0 or bounds[0] == 0)


def _short(message) -> str:
    text = " ".join(str(message).split())
    return text if len(text) <= 120 else text[:117] + "…"


def _date_problem(event, name: str) -> str | None:
    """What is wrong with a date property: repeated where it may not be, not a date, or out of range."""
    values = event.get(name)
    if values is None:
        return None
    if isinstance(values, list) and name not in ("RDATE", "EXDATE"):
        return f"{name} appears more than once"
    for prop in values if isinstance(values, list) else [values]:
        for item in getattr(prop, "dts", [prop]):
            value = item.dt
            if name == "RDATE" and isinstance(value, tuple):  # a period: start and end or duration
                value = value[0]
            if not isinstance(value, date):
                return f"{name} is not a date or a date-time"
            if not MIN_YEAR <= value.year <= MAX_YEAR:
                return f"{name} {value.isoformat()} lies outside {MIN_YEAR}-{MAX_YEAR}"
    return None


def _comparable(value: date | datetime) -> datetime:
    if not isinstance(value, datetime):
        return datetime(value.year, value.month, value.day, tzinfo=timezone.utc)
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def _zone_name(zone: tzinfo) -> str:
    return getattr(zone, "key", None) or str(zone)


def check_zone_rules(definition: icalendar.Timezone) -> None:
    """Refuse a VTIMEZONE whose rules cannot be expanded in reasonable time.

    icalendar expands every STANDARD/DAYLIGHT rule from its DTSTART to 2038 to build the zone: a real
    zone changes offset once or twice a year (Exchange starts its rules in 1601: ~440 steps), whereas
    `FREQ=MINUTELY` made 35 million steps and INTERVAL=0 never ends.
    """
    tzid = str(definition.get("TZID", "")).strip()
    steps = 0
    for part in definition.subcomponents:
        rule = part.get("RRULE")
        if rule is None or "DTSTART" not in part:
            continue
        if isinstance(rule, list):
            raise CalendarError(f"the VTIMEZONE {tzid!r} has a {part.name} with more than one RRULE")
        text = rule.to_ical().decode(errors="replace")
        freq = str(rule.get("FREQ", ["?"])[0]).upper()
        try:
            interval = int(str(rule.get("INTERVAL", [1])[0]))
        except ValueError:
            interval = 0
        if freq not in ZONE_RULE_SECONDS or interval < 1:
            raise CalendarError(f"the VTIMEZONE {tzid!r} cannot be used: its {part.name} rule {text} is not a "
                                "yearly or monthly rule with an INTERVAL of at least 1")
        start = _comparable(part["DTSTART"].dt)
        steps += max((ZONE_RULES_UNTIL - start).total_seconds(), 0) / (ZONE_RULE_SECONDS[freq] * interval) + 1
        if steps > MAX_ZONE_STEPS:
            raise CalendarError(f"the VTIMEZONE {tzid!r} cannot be used: its rules change the offset more than "
                                f"{MAX_ZONE_STEPS:,} times ({part.name} {text})")


def _iana(name: str) -> ZoneInfo | None:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return None


class _ZoneResolver:
    """TZID -> tzinfo for one calendar."""

    def __init__(self, calendar: icalendar.Calendar, warnings: list[str]):
        self.definitions = {str(tz.get("TZID", "")).strip(): tz for tz in calendar.walk("VTIMEZONE")}
        self.calendar = calendar
        self.warnings = warnings
        self.cache: dict[str, tzinfo | None] = {}

    def resolve(self, tzid: str) -> tzinfo | None:
        tzid = tzid.strip().strip('"')
        if tzid not in self.cache:
            self.cache[tzid] = self._lookup(tzid)
        return self.cache[tzid]

    def _lookup(self, tzid: str) -> tzinfo | None:
        parts = [p for p in tzid.split("/") if p]
        for i in range(len(parts)):  # "/mozilla.org/20050126_1/Europe/Berlin" -> "Europe/Berlin"
            found = _iana("/".join(parts[i:]))
            if found is not None:
                return found
        if tzid in WINDOWS_TO_OLSON:
            return _iana(WINDOWS_TO_OLSON[tzid])
        definition = self.definitions.get(tzid)
        if definition is not None:
            check_zone_rules(definition)
            try:
                return tzp.create_timezone(definition)
            except Exception as exc:  # a VTIMEZONE dateutil cannot read
                self.warnings.append(f"the VTIMEZONE {tzid!r} cannot be read ({exc})")
        return None

    def fix_event_zones(self) -> None:
        """Re-attach every TZID'd wall-clock time to this calendar's reading of that TZID."""
        unknown: set[str] = set()
        for event in self.calendar.walk("VEVENT"):
            for name in DATE_PROPERTIES:
                values = event.get(name)
                for prop in values if isinstance(values, list) else [values]:
                    if prop is None or "TZID" not in prop.params:
                        continue
                    tzid = str(prop.params["TZID"])
                    zone = self.resolve(tzid)
                    if zone is None:
                        unknown.add(tzid)
                    for item in getattr(prop, "dts", [prop]):
                        item.dt = _in_zone(item.dt, zone)
        for tzid in sorted(unknown):
            self.warnings.append(f"unknown time zone {tzid!r} (no IANA or Windows name, no VTIMEZONE); "
                                 "its times are read in the calendar's time zone")


def _in_zone(value, zone: tzinfo | None):
    if isinstance(value, tuple):  # an RDATE period: (start, end or duration)
        return tuple(_in_zone(v, zone) for v in value)
    if not isinstance(value, datetime):
        return value
    return value.replace(tzinfo=zone)


class _FloatingTimes(x_wr_timezone.UTCChangingWalker):
    """x-wr-timezone's walker: floating times (and, under X-WR-TIMEZONE, UTC times) into the calendar's zone.

    Values are changed in place rather than copied with their events (the library's way), which made
    up a third of the import time of a calendar with thousands of events.
    """

    def __init__(self, zone: tzinfo, read_utc_as_local: bool):
        super().__init__(zone)
        self.read_utc_as_local = read_utc_as_local

    def is_Floating(self, dt: datetime) -> bool:
        # x-wr-timezone asks tzname(), which is None for a VTIMEZONE without TZNAME (Exchange's custom zones).
        return dt.tzinfo is None

    def walk_value_datetime(self, dt: datetime) -> datetime:
        if self.is_Floating(dt):
            return dt.replace(tzinfo=self.new_timezone)
        if self.read_utc_as_local and self.is_UTC(dt):
            return dt.astimezone(self.new_timezone)
        return dt

    def walk_value_vDDDTypes(self, value):
        value.dt = self.walk_value(value.dt)
        return value

    def walk_value_vDDDLists(self, values):
        for value in values.dts:
            value.dt = self.walk_value(value.dt)
        return values

    def walk_value_tuple(self, period: tuple) -> tuple:
        walked = tuple(self.walk_value(v) for v in period)
        return period if x_wr_timezone.list_is(walked, period) else walked
