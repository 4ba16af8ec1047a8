"""When to try a failed message again, and when to give up: pure functions of attempts and time."""
from __future__ import annotations

import random
from datetime import datetime, timedelta

from ..mechanics.retry import backoff

FIRST_DELAY = timedelta(seconds=1)
MAX_DELAY = timedelta(minutes=5)
MAX_ATTEMPTS = 10
GIVE_UP_AFTER = timedelta(hours=24)
JITTER = 0.2  # ±20 %: retries of a burst spread out instead of hitting the provider together


def message_backoff(attempts: int, rng=random.random) -> timedelta:
    """Delay after the `attempts`-th failure: 1 s, 2 s, 4 s … capped at 5 minutes, with jitter."""
    return backoff(attempts, first=FIRST_DELAY, cap=MAX_DELAY, jitter=JITTER, rng=rng)


def after_failure(*, attempts: int, due_at: datetime, now: datetime, retry_after: float | None = None,
                  permanent: bool = False, rng=random.random) -> tuple[str, datetime | None]:
    """("failed", next attempt) or ("dead", None) after the `attempts`-th failed attempt.

    A provider's Retry-After wins over the backoff; no attempt is planned past the 24-hour window,
    and the tenth failure (or a permanent one) is final.
    """
    deadline = due_at + GIVE_UP_AFTER
    if permanent or attempts >= MAX_ATTEMPTS or now >= deadline:
        return "dead", None
    if retry_after is not None:  # at least what the provider asked for (a little more, so a throttled
        # burst does not come back in one wave), and never a busy loop on "0"
        delay = max(timedelta(seconds=retry_after), FIRST_DELAY) * (1 + JITTER * rng())
    else:
        delay = message_backoff(attempts, rng)
    return "failed", min(now + delay, deadline)
