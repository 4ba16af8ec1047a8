"""The policy's holidays file, read by the same reader as rotation calendars (`calendar.py`).

What a rotation import accepts (with its warnings) the holidays file accepts, and what it refuses
(with its reasons) refuses Herald's start, instead of two readers disagreeing about one file.
"""
from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta, timezone, tzinfo
from pathlib import Path

import recurring_ical_events

from .. import clock
from .calendar import CalendarError, decode, parse_calendar
from .resolve import check_rules

log = logging.getLogger(__name__)


def load_holidays(path: str | Path | None, zone: tzinfo = timezone.utc, around: date | None = None,
                  years: int = 5) -> frozenset[date]:
    """Every date covered by the file's events, recurring ones (a yearly RRULE) expanded from a year before
    `around` (default: today) to `years` after it; empty when there is no file. Raises CalendarError."""
    if not path:
        return frozenset()
    around = around or clock.now().date()
    parsed = parse_calendar(decode(Path(path).read_bytes()), zone)
    for warning in parsed.warnings:
        log.warning("holidays %s: %s", path, warning)
    window = (date(around.year - 1, 1, 1), date(around.year + years + 1, 1, 1))
    check_rules(parsed, datetime.combine(window[0], time(0), tzinfo=timezone.utc),
                datetime.combine(window[1], time(0), tzinfo=timezone.utc))
    try:
        found = recurring_ical_events.of(parsed.calendar).between(*window)
    except (recurring_ical_events.InvalidCalendar, ValueError, TypeError, KeyError) as exc:
        raise CalendarError("the holidays' recurrences cannot be expanded (check its RRULE, RDATE and EXDATE "
                            "lines)") from exc
    days: set[date] = set()
    for event in found:
        start = event.decoded("DTSTART")
        end = event.decoded("DTEND") if "DTEND" in event else None
        first = start if not isinstance(start, datetime) else start.date()
        last = (end if not isinstance(end, datetime) else end.date()) if end else first + timedelta(days=1)
        day = first
        while day < max(last, first + timedelta(days=1)):
            days.add(day)
            day += timedelta(days=1)
    return frozenset(days)
