"""Durations as the policy writes them (`30s`, `5m`, `1h`, `48h`, `7d`, `1h30m`) and in words."""
from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"(\d+)([smhdw])")


def parse_duration(text: str) -> timedelta:
    """Parse `5m`, `1h30m`, `7d`; raise ValueError with a readable message otherwise."""
    if not isinstance(text, str):
        raise ValueError(f"expected a duration string like '15m', got {text!r}")
    cleaned = text.strip().lower().replace(" ", "")
    if not cleaned or _PART.sub("", cleaned) != "":
        raise ValueError(f"not a duration: {text!r} (use e.g. '30s', '15m', '2h', '7d')")
    seconds = sum(int(n) * _UNITS[u] for n, u in _PART.findall(cleaned))
    if seconds <= 0:
        raise ValueError(f"duration must be positive: {text!r}")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise ValueError(f"duration too long: {text!r}") from None


def duration_in_words(delta: timedelta) -> str:
    """`timedelta(hours=1, minutes=5)` -> "1 hour 5 minutes"; under a minute -> seconds."""
    total = int(round(delta.total_seconds()))
    if total < 60:
        return _plural(max(total, 0), "second")
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    parts = [_plural(n, unit) for n, unit in ((days, "day"), (hours, "hour"), (minutes, "minute")) if n]
    return " ".join(parts)


def _plural(n: int, unit: str) -> str:
    return f"{n} {unit}" if n == 1 else f"{n} {unit}s"
