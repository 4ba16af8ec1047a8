"""When to try a failed message again, and when to give up: pure functions of attempts and time."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from ..mechanics.retry import backoff, next_try

FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
GIVE_UP_AFTER = timedelta(hours=24)
JITTER = 0.2  # ±20 %: retries of a burst spread out instead of hitting the provider together


def message_backoff(attempts: int, rng=random.random) -> timedelta:
    """Delay after the `attempts`-th failure: 1 s, 2 s, 4 s … capped at 5 minutes, with jitter."""
    return backoff(attempts, first=FIRST_DELAY, cap=MAX_DELAY, jitter=JITTER, rng=rng)


def after_failure(*, attempts: int, due_at: datetime, now: datetime, retry_after: float | None = None,
                  permanent: bool = False, rng=random.random) -> tuple[str, datetime | None]:
    """("failed", next attempt) or ("dead", None) after the `attempts`-th failed attempt.

    A message is retried until GIVE_UP_AFTER (24 hours) after it fell due, whatever the number of
    attempts (`mechanics.retry.next_try`): ten attempts used to be final, so 45 s of Teams throttling
    killed every queued page, and so did any relay outage longer than 8.5 minutes.
    """
    at = next_try(failures=attempts, started=due_at, now=now, give_up_after=GIVE_UP_AFTER, retry_after=retry_after,
                  permanent=permanent, first=FIRST_DELAY, cap=MAX_DELAY, jitter=JITTER, rng=rng)
    return ("dead", None) if at is None else ("failed", at)
