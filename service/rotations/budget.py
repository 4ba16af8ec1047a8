"""Resolve a calendar under a budget it cannot exceed: wall-clock, memory and recurrence steps.

`resolve.check_rules` refuses the rules it can see are endless or too costly, but dateutil and icalendar
can still spin on rules nobody foresaw (a filter that never matches walks to the year 9999 without
yielding), and a thread cannot be stopped from outside. So the whole parse-expand-resolve runs in a
child process forked from a small server that has the modules loaded (`forkserver`, ~15 ms a
calendar): the child counts every step dateutil yields, has its address space capped, and is killed
when the wall-clock budget runs out. Whatever happens there, the caller gets shifts or a
CalendarError, within `seconds`, and no lock or memory of the caller's is involved.
"""
from __future__ import annotations

import logging
import multiprocessing
import resource
from datetime import datetime, tzinfo
from typing import Sequence

from .calendar import CalendarError
from .matching import PersonRef
from .resolve import MAX_RULE_STEPS, Resolution, resolve_calendar

log = logging.getLogger("herald.rotations")

DEFAULT_SECONDS = 20.0
MEMORY_BYTES = 2 * 1024 ** 3  # address space of the child
# Steps dateutil may yield in one resolution (event rules and VTIMEZONE rules together); check_rules
# admits at most MAX_RULE_STEPS for the events, so this only trips on what it did not foresee.
MAX_STEPS = 5 * MAX_RULE_STEPS


class BudgetExceeded(CalendarError):
    pass


def resolve_bounded(text: str, people: Sequence[PersonRef], window_start: datetime, window_end: datetime,
                    default_zone: tzinfo, *, seconds: float = DEFAULT_SECONDS) -> Resolution:
    """`resolve_calendar` in a child process that is killed after `seconds`."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=_child, name="herald-calendar", daemon=True,
                            args=(send, text, list(people), window_start, window_end, default_zone))
    child.start()
    send.close()
    try:
        if not receive.poll(seconds):
            log.warning("calendar expansion stopped after %.0f s", seconds)
            raise BudgetExceeded(f"expanding the calendar took longer than {seconds:g} seconds; "
                                 "its recurrence rules are too costly")
        try:
            status, value = receive.recv()
        except EOFError:
            child.join(1)
            raise BudgetExceeded(f"expanding the calendar failed (its process ended with {child.exitcode}); "
                                 "it needs more memory than Herald allows") from None
    finally:
        receive.close()
        if child.is_alive():
            child.kill()
        child.join(5)
    if status == "invalid":
        raise CalendarError(value)
    return value


def _child(send, text, people, window_start, window_end, default_zone) -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_BYTES, MEMORY_BYTES))
    _count_steps(MAX_STEPS)
    try:
        result = ("ok", resolve_calendar(text, people, window_start, window_end, default_zone))
    except CalendarError as exc:
        result = ("invalid", exc.problems)
    send.send(result)
    send.close()


def _count_steps(limit: int) -> None:
    """Make every dateutil rule in this (child) process count what it yields, and stop at `limit`.

    INTERVAL=0 makes dateutil yield the same moment for ever, while it fills a cache: this stops it at
    once instead of at the wall-clock budget.
    """
    from dateutil import rrule

    original = rrule.rrule._iter
    steps = [0]

    def counted(self):
        for value in original(self):
            steps[0] += 1
            if steps[0] > limit:
                raise BudgetExceeded(f"the calendar's recurrence rules make more than {limit:,} steps; "
                                     "they repeat too often")
            yield value

    rrule.rrule._iter = counted
