"""Retrying: exponential back-off and the Retry-After header, pure functions of attempts and time."""
from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from email.utils import parsedate_to_datetime

from .. import clock

MAX_RETRY_AFTER = 24 * 3600.0  # a provider asking for more than a day is treated as a day


def backoff(attempts: int, *, first: timedelta = timedelta(seconds=1), cap: timedelta = timedelta(minutes=5),
            jitter: float = 0.0, rng=random.random) -> timedelta:
    """Delay after the `attempts`-th failure: first, 2 x first, 4 x first … capped, ± `jitter` (a fraction)."""
    base = min(first * (2 ** max(attempts - 1, 0)), cap)
    if not jitter:
        return base
    return min(base * (1 - jitter + 2 * jitter * rng()), cap)


def next_try(*, failures: int, started: datetime, now: datetime, give_up_after: timedelta,
             retry_after: float | None = None, permanent: bool = False, first: timedelta = timedelta(seconds=1),
             cap: timedelta = timedelta(minutes=5), jitter: float = 0.0, rng=random.random) -> datetime | None:
    """When to try again after the `failures`-th failure, or None to give up.

    Gives up on time, never on a count: `give_up_after` from `started`, or at once when `permanent`.
    A provider's Retry-After (it throttles; it is not failing) is waited out as asked, plus up to
    `jitter` so a throttled burst does not come back in one wave, and never less than `first` (no
    busy loop on "0"); otherwise the back-off. Nothing is planned past the deadline.
    """
    deadline = started + give_up_after
    if permanent or now >= deadline:
        return None
    if retry_after is not None:
        delay = max(timedelta(seconds=retry_after), first) * (1 + jitter * rng())
    else:
        delay = backoff(failures, first=first, cap=cap, jitter=jitter, rng=rng)
    return min(now + delay, deadline)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or clock.now()
    return min(max((when - now).total_seconds(), 0.0), MAX_RETRY_AFTER)
