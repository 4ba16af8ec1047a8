"""Calendar text + people + a window -> non-overlapping shifts and an import report. Pure: no database.

Where events overlap, the shortest wins and ties go to the later start, so a two-day cover beats the
weekly shift under it even across that shift's handoff (the weekly shift resumes when the cover ends).
"""
from __future__ import annotations

import hashlib
import heapq
import logging
import math
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from typing import Callable, Sequence, TypeVar

import recurring_ical_events
from dateutil.rrule import rrulestr

from .calendar import CalendarError, ParsedCalendar, describe, parse_calendar
from .matching import PersonMatcher, PersonRef

log = logging.getLogger("herald.rotations")
T = TypeVar("T")
MAX_UID = 400
MAX_LABEL = 500
MAX_WARNINGS = 50
# Expand a little beyond the window so all-day events (whose zone is applied afterwards) are not missed.
EXPANSION_MARGIN = timedelta(days=2)
# dateutil walks a rule from its DTSTART: more steps than this before the window ends is refused.
MAX_RULE_STEPS = 200_000
# Shifts one calendar may make a year of the window resolved (a half-hour grid is 17,520 a year).
OCCURRENCES_PER_YEAR = 20_000
RULE_STEP = {"SECONDLY": 1, "MINUTELY": 60, "HOURLY": 3600, "DAILY": 86400, "WEEKLY": 7 * 86400,
             "MONTHLY": 28 * 86400, "YEARLY": 365 * 86400}


@dataclass(frozen=True)
class Occurrence:
    start: datetime  # aware UTC
    end: datetime  # exclusive
    person: PersonRef | None
    label: str
    uid: str

    @property
    def rank(self) -> tuple:
        """Shortest first, then the later start, then the UID (so the result never depends on file order)."""
        return (self.end - self.start, -self.start.timestamp(), self.uid)


@dataclass(frozen=True)
class ResolvedShift:
    start: datetime
    end: datetime
    person_id: int | None
    label: str
    uid: str


@dataclass
class ImportReport:
    events: int = 0
    shifts: int = 0
    people: list[str] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_json(self, rotation: str) -> dict:
        return {"rotation": rotation, "events": self.events, "shifts": self.shifts, "people": self.people,
                "unknown": self.unknown, "warnings": self.warnings}


@dataclass
class Resolution:
    shifts: list[ResolvedShift]
    report: ImportReport


def resolve_calendar(text: str, people: Sequence[PersonRef], window_start: datetime, window_end: datetime,
                     default_zone: tzinfo) -> Resolution:
    """Raises CalendarError for a calendar that cannot be read, whatever icalendar or the expansion
    trips over: bad input is never a server error."""
    try:
        return _resolve(text, people, window_start, window_end, default_zone)
    except CalendarError:
        raise
    except MemoryError as exc:
        raise CalendarError("expanding the calendar needs more memory than Herald allows") from exc
    except Exception as exc:  # a malformed calendar the checks above did not foresee
        log.warning("calendar could not be resolved", exc_info=True)  # the detail is for us, not the 422
        raise CalendarError("the calendar cannot be read: its events' dates and rules do not fit together "
                            "(check the DTSTART, RRULE, RDATE and EXDATE lines)") from exc


def _resolve(text: str, people: Sequence[PersonRef], window_start: datetime, window_end: datetime,
             default_zone: tzinfo) -> Resolution:
    parsed = parse_calendar(text, default_zone)
    matcher = PersonMatcher(list(people))
    report = ImportReport(warnings=list(parsed.warnings))
    check_rules(parsed, window_start - EXPANSION_MARGIN, window_end + EXPANSION_MARGIN)
    _survey(parsed, matcher, report)
    occurrences = expand(parsed, matcher, window_start, window_end, report.warnings)
    _warn_about_conflicts(occurrences, report.warnings)
    shifts = shifts_from(occurrences, window_start, window_end)
    report.shifts = len(shifts)
    if report.events == 0:
        report.warnings.append("the calendar has no events: nobody is on call from it")
    elif not shifts:
        report.warnings.append(f"no event falls between {window_start:%Y-%m-%d} and {window_end:%Y-%m-%d}")
    if len(report.warnings) > MAX_WARNINGS:
        more = len(report.warnings) - MAX_WARNINGS
        report.warnings = report.warnings[:MAX_WARNINGS] + [f"… and {more} more warnings"]
    return Resolution(shifts, report)


def _survey(parsed: ParsedCalendar, matcher: PersonMatcher, report: ImportReport) -> None:
    """Count the events and tell which labels name whom, across the whole calendar (not only the window)."""
    people: set[str] = set()
    unknown: set[str] = set()
    several: set[str] = set()
    for event in parsed.calendar.walk("VEVENT"):
        if _cancelled(event):
            continue
        report.events += 1
        label = _label(event)
        match = matcher.match(label, _attendees(event), _organizer(event))
        if match.person is None:
            unknown.add(label)
            continue
        people.add(match.person.handle)
        if len(match.named) > 1 and label not in several:
            several.add(label)
            names = ", ".join(p.handle for p in match.named)
            report.warnings.append(f"{describe(event)} names several people ({names}) by {match.via}; "
                                   f"{match.person.handle} is on call")
    report.people = sorted(people)
    report.unknown = sorted(unknown)
    if unknown:
        report.warnings.append(f"{len(unknown)} label(s) name nobody Herald knows; their shifts have no person: "
                               + ", ".join(repr(u) for u in sorted(unknown)[:10]))


def check_rules(parsed: ParsedCalendar, window_start: datetime, until: datetime) -> None:
    """Refuse recurrence rules that cannot terminate or would make the expansion run for minutes.

    dateutil steps through a rule from its DTSTART: with INTERVAL=0 it never advances (it yields the
    same moment for ever), a secondly rule or one that can never match (the 30th of February) spins
    until the year 9999. Count the steps a rule takes up to `until` and the occurrences it makes in the
    window (a yearly rule BYDAY=MO makes 53 a year, not one), and look for a first date of any rule
    that filters by day of month, year or week. The expansion itself runs under a budget as well
    (`budget.py`): this check gives the clear reason for the common cases.
    """
    steps = occurrences = 0
    most = max_occurrences(window_start, until)
    for event in parsed.calendar.walk("VEVENT"):
        rules = event.get("RRULE")
        if rules is None:
            continue
        start = _utc(event["DTSTART"].dt, parsed.zone)
        for rule in rules if isinstance(rules, list) else [rules]:
            text = rule.to_ical().decode(errors="replace")
            problem = rule_problem(rule)
            if problem:
                raise CalendarError(f"{describe(event)}: RRULE {text}: {problem}")
            cost = rule_cost(rule, start, window_start, until)
            steps += cost.steps
            occurrences += cost.occurrences
            if steps > MAX_RULE_STEPS or occurrences > most:
                raise CalendarError(f"{describe(event)} repeats too often ({text}): the calendar's rules would "
                                    f"make more than {MAX_RULE_STEPS:,} repetitions before {until:%Y-%m-%d} "
                                    f"or more than {most:,} shifts in the {(until - window_start).days} "
                                    "days Herald keeps")
            if _never_matches(rule, event["DTSTART"].dt):
                raise CalendarError(f"{describe(event)}: RRULE {text} never yields a date")


def max_occurrences(start: datetime, end: datetime) -> int:
    """How many shifts a calendar may make between `start` and `end` (OCCURRENCES_PER_YEAR, at least a year's)."""
    return int(OCCURRENCES_PER_YEAR * max((end - start).days / 365, 1))


def rule_problem(rule) -> str | None:
    """Why a rule cannot be expanded at all (no FREQ, INTERVAL below 1, a negative COUNT), else None."""
    freq = str(rule.get("FREQ", ["?"])[0]).upper()
    if freq not in RULE_STEP:
        return "it has no valid FREQ"
    for part, least in (("INTERVAL", 1), ("COUNT", 0)):
        values = rule.get(part)
        if values is None:
            continue
        try:
            value = int(str(values[0]))
        except (TypeError, ValueError, IndexError):
            return f"{part} must be a whole number"
        if value < least:
            return f"{part} must be at least {least} (with INTERVAL=0 a rule never advances)" if part == "INTERVAL" \
                else f"{part} must not be negative"
    return None


@dataclass(frozen=True)
class RuleCost:
    steps: int  # periods dateutil walks from DTSTART to the end, times what each yields
    occurrences: int  # what the rule makes in the window


def rule_cost(rule, start: datetime, window_start: datetime, until: datetime) -> RuleCost:
    """An upper bound of the work a (valid) rule makes dateutil do, and of its occurrences in the window."""
    freq = str(rule["FREQ"][0]).upper()
    period = RULE_STEP[freq] * int(str(rule.get("INTERVAL", [1])[0]))
    fanout = rule_fanout(rule)
    periods = max((until - start).total_seconds(), 0) / period + 1
    in_window = max((until - max(start, window_start)).total_seconds(), 0) / period + 1
    steps, occurrences = periods * max(fanout, 1), in_window * fanout
    if "COUNT" in rule:
        count = int(str(rule["COUNT"][0]))  # dateutil stops after COUNT yields (filters may still spin)
        steps, occurrences = min(steps, count * max(fanout, 1)), min(occurrences, count)
    return RuleCost(math.ceil(steps), math.ceil(occurrences))


def rule_fanout(rule) -> int:
    """At most how many occurrences one period of the rule makes (RFC 5545 3.3.10: BYxxx expand or limit).

    BYDAY expands a yearly rule to every such weekday of the year (53) or of each BYMONTH (5), a monthly
    one to every such weekday of the month (5); "2MO" or "-1FR" picks one. BYHOUR, BYMINUTE and BYSECOND
    expand the frequencies coarser than themselves.
    """
    freq = str(rule["FREQ"][0]).upper()
    months = len(rule.get("BYMONTH", [])) or 12
    days = 1
    weekdays = [str(d) for d in rule.get("BYDAY", [])]
    ordinal = [d for d in weekdays if re.match(r"[+-]?\d", d)]
    plain = len(weekdays) - len(ordinal)
    if freq == "YEARLY":
        if "BYYEARDAY" in rule:
            days = len(rule["BYYEARDAY"])
        elif "BYMONTHDAY" in rule:
            days = len(rule["BYMONTHDAY"]) * months
        elif "BYWEEKNO" in rule:
            days = len(rule["BYWEEKNO"]) * (len(weekdays) or 7)
        elif weekdays:
            per = months if "BYMONTH" in rule else 1
            days = len(ordinal) * per + plain * (5 * months if "BYMONTH" in rule else 53)
        elif "BYMONTH" in rule:
            days = months
    elif freq == "MONTHLY":
        if "BYMONTHDAY" in rule:
            days = len(rule["BYMONTHDAY"])
        elif weekdays:
            days = len(ordinal) + plain * 5
    elif freq == "WEEKLY":
        days = len(weekdays) or 1
    times = 1
    finer = {"YEARLY": 3, "MONTHLY": 3, "WEEKLY": 3, "DAILY": 3, "HOURLY": 2, "MINUTELY": 1, "SECONDLY": 0}[freq]
    for part in ("BYSECOND", "BYMINUTE", "BYHOUR")[:finer]:
        times *= len(rule.get(part, [])) or 1
    return days * times


def _never_matches(rule, start: date | datetime) -> bool:
    """Whether the days a rule allows (by month, day of month, day of year, week) never occur.

    A yearly rule with the same day filters allows exactly those days, and dateutil gives up on it
    quickly: its steps are years.
    """
    weekdays = [str(d) for d in rule.get("BYDAY", [])]
    most = {"MONTHLY": 5, "YEARLY": 53}.get(str(rule["FREQ"][0]).upper())
    if most and any(abs(int(m.group())) > most for d in weekdays if (m := re.match(r"[+-]?\d+", d))):
        return True  # the 6th Monday of a month
    filters = [part for part in ("BYMONTHDAY", "BYYEARDAY", "BYWEEKNO") if part in rule]
    if not filters:
        return False
    parts = ["FREQ=YEARLY"] + [f"{part}={','.join(str(v) for v in rule[part])}" for part in filters]
    if "BYMONTH" in rule:
        parts.append(f"BYMONTH={','.join(str(v) for v in rule['BYMONTH'])}")
    if weekdays:  # without the "2nd"/"last" prefixes: a filter on the weekday only
        parts.append("BYDAY=" + ",".join(sorted({re.sub(r"^[+-]?\d+", "", d) for d in weekdays})))
    first = start if isinstance(start, datetime) else datetime.combine(start, time(0))
    probe = rrulestr(";".join(parts), dtstart=first.replace(tzinfo=None))
    return probe.after(first.replace(tzinfo=None), inc=True) is None


def expand(parsed: ParsedCalendar, matcher: PersonMatcher, window_start: datetime, window_end: datetime,
           warnings: list[str]) -> list[Occurrence]:
    """Every non-cancelled occurrence that overlaps [window_start, window_end), with its person."""
    try:
        query = recurring_ical_events.CalendarQuery(parsed.calendar, components=("VEVENT",))
        found = query.between(window_start - EXPANSION_MARGIN, window_end + EXPANSION_MARGIN)
    except CalendarError:
        raise
    except (recurring_ical_events.InvalidCalendar, ValueError, TypeError, KeyError) as exc:
        log.warning("calendar recurrences could not be expanded", exc_info=True)
        raise CalendarError("the calendar's recurrences cannot be expanded (check its RRULE, RDATE, EXDATE "
                            "and RECURRENCE-ID lines)") from exc
    most = max_occurrences(window_start, window_end)
    if len(found) > most:
        raise CalendarError(f"the calendar makes {len(found):,} shifts between {window_start:%Y-%m-%d} and "
                            f"{window_end:%Y-%m-%d}; at most {most:,} are accepted")
    occurrences = []
    zero_length: set[str] = set()
    for event in found:
        if _cancelled(event):
            continue
        start = _utc(event["DTSTART"].dt, parsed.zone)
        end = _utc(event.end, parsed.zone)
        if end <= start:
            zero_length.add(describe(event))
            continue
        if end <= window_start or start >= window_end:
            continue
        label = _label(event)
        match = matcher.match(label, _attendees(event), _organizer(event))
        occurrences.append(Occurrence(start, end, match.person, label, _occurrence_uid(event, start)))
    warnings.extend(f"{name} has no duration and is ignored" for name in sorted(zero_length))
    return occurrences


def shifts_from(occurrences: Sequence[Occurrence], window_start: datetime, window_end: datetime) -> list[ResolvedShift]:
    pieces = resolve_overlaps(occurrences, start=lambda o: o.start, end=lambda o: o.end, rank=lambda o: o.rank)
    shifts = []
    seen: set[str] = set()
    for start, end, occurrence in pieces:
        start, end = max(start, window_start), min(end, window_end)
        if end <= start:
            continue
        uid = occurrence.uid if occurrence.uid not in seen else f"{occurrence.uid}+{_stamp(start)}"
        seen.add(occurrence.uid)
        shifts.append(ResolvedShift(start, end, occurrence.person.id if occurrence.person else None,
                                    occurrence.label, _short(uid)))
    return shifts


def resolve_overlaps(items: Sequence[T], *, start: Callable[[T], datetime], end: Callable[[T], datetime],
                     rank: Callable[[T], tuple]) -> list[tuple[datetime, datetime, T]]:
    """Cut overlapping intervals into non-overlapping pieces: where several cover a moment, the lowest rank wins.

    A sweep over the boundaries with a heap of the intervals in force: O(n log n).
    """
    order = sorted(range(len(items)), key=lambda i: start(items[i]))
    bounds = sorted({start(x) for x in items} | {end(x) for x in items})
    active: list[tuple[tuple, int]] = []
    pieces: list[list] = []
    k = 0
    for lower, upper in zip(bounds, bounds[1:]):
        while k < len(order) and start(items[order[k]]) <= lower:
            heapq.heappush(active, (rank(items[order[k]]), order[k]))
            k += 1
        while active and end(items[active[0][1]]) <= lower:
            heapq.heappop(active)
        if not active:
            continue
        winner = active[0][1]
        if pieces and pieces[-1][2] == winner and pieces[-1][1] == lower:
            pieces[-1][1] = upper
        else:
            pieces.append([lower, upper, winner])
    return [(lower, upper, items[i]) for lower, upper, i in pieces]


def _warn_about_conflicts(occurrences: Sequence[Occurrence], warnings: list[str]) -> None:
    """Two events over exactly the same time with different people: the tie-break decides, but say so."""
    by_span: dict[tuple, list[Occurrence]] = {}
    for occurrence in occurrences:
        by_span.setdefault((occurrence.start, occurrence.end), []).append(occurrence)
    for (start, _end), same in sorted(by_span.items(), key=lambda kv: kv[0]):
        owners = {(o.person.id if o.person else None, o.label if o.person is None else "") for o in same}
        if len(owners) > 1:
            winner = min(same, key=lambda o: o.rank)
            labels = ", ".join(sorted({repr(o.label) for o in same}))
            warnings.append(f"{labels} cover exactly the same time from {start:%Y-%m-%d %H:%M} UTC; "
                            f"{winner.label!r} is used")


def _cancelled(event) -> bool:
    return str(event.get("STATUS", "")).strip().upper() == "CANCELLED"


def _label(event) -> str:
    return " ".join(str(event.get("SUMMARY", "")).split())[:MAX_LABEL]


def _attendees(event) -> list[tuple[str, dict]]:
    values = event.get("ATTENDEE")
    if values is None:
        return []
    values = values if isinstance(values, list) else [values]
    return [(str(v), {k.upper(): str(p) for k, p in getattr(v, "params", {}).items()}) for v in values]


def _organizer(event) -> str:
    return str(event.get("ORGANIZER", ""))


def _utc(value: date | datetime, zone: tzinfo) -> datetime:
    if not isinstance(value, datetime):  # all-day: local midnight in the calendar's zone
        value = datetime.combine(value, time(0), tzinfo=zone)
    elif value.tzinfo is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(timezone.utc)


def _occurrence_uid(event, start: datetime) -> str:
    uid = str(event.get("UID", "")).strip()
    if not uid:  # a UID-less event: stable as long as its title and first start do not change
        uid = hashlib.sha1(f"{_label(event)}|{event['DTSTART'].to_ical().decode()}".encode()).hexdigest()
    recurrence = event.get("RECURRENCE-ID")
    moment = recurrence.dt if recurrence is not None else start
    moment = _utc(moment, start.tzinfo) if isinstance(moment, datetime) else moment
    return f"{uid}/{_stamp(moment) if isinstance(moment, datetime) else moment.strftime('%Y%m%d')}"


def _stamp(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _short(uid: str) -> str:
    return uid if len(uid) <= MAX_UID else hashlib.sha256(uid.encode()).hexdigest()
