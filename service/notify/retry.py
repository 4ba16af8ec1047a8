"""When to try a failed message again, and when to give up: pure functions of attempts and time."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
GIVE_UP_AFTER = timedelta(hours=24)
JITTER = 0.2  # ±20 %: retries of a burst spread out instead of hitting the provider together


def backoff(attempts: int, rng=random.random) -> timedelta:
    """Delay after the `attempts`-th failure: 1 s, 2 s, 4 s … capped at 5 minutes, with jitter."""
    base = min(FIRST_DELAY * (2 ** max(attempts - 1, 0)), MAX_DELAY)
    return min(base * (1 - JITTER + 2 * JITTER * rng()), MAX_DELAY)


def after_failure(*, attempts: int, due_at: datetime, now: datetime, retry_after: float | None = None,
                  permanent: bool = False, rng=random.random) -> tuple[str, datetime | None]:
    """("failed", next attempt) or ("dead", None) after the `attempts`-th failed attempt.

    Herald gives up on time, never on count: a message is retried until GIVE_UP_AFTER (24 hours)
    after it fell due, or at once on a permanent refusal. A provider's Retry-After (a 429 or 503:
    throttled, not failing) is waited out as asked and costs nothing but time; other failures back
    off 1 s, 2 s, 4 s … up to 5 minutes. (Ten attempts used to be final: 45 s of Teams throttling
    killed every queued page, and so did any relay outage longer than 8.5 minutes.)
    """
    deadline = due_at + GIVE_UP_AFTER
    if permanent or now >= deadline:
        return "dead", None
    if retry_after is not None:  # at least what the provider asked for (a little more, so a throttled
        # burst does not come back in one wave), and never a busy loop on "0"
        delay = max(timedelta(seconds=retry_after), FIRST_DELAY) * (1 + JITTER * rng())
    else:
        delay = backoff(attempts, rng)
    return "failed", min(now + delay, deadline)
