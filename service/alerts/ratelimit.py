"""Keep a monitoring storm from starving the rest of the API: a token bucket per ingest token and a cap
on how many ingest requests run at once in this process.

Both live in this process's memory. With several web processes (gunicorn workers, several hosts) each
has its own buckets, so a token may send up to N times the rate; put a shared limit in the proxy in
front (e.g. nginx `limit_req`) when that matters.
"""
from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """One bucket per key: `burst` requests at once, refilled at `rate` per second.

    Keys are token digests; the number of buckets kept is bounded (least recently used go first,
    and a forgotten bucket simply starts full again).
    """

    def __init__(self, rate: float, burst: int, max_keys: int = 10_000, monotonic=time.monotonic):
        self.rate = max(float(rate), 0.001)
        self.burst = max(int(burst), 1)
        self.max_keys = max_keys
        self._monotonic = monotonic
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Spend one request; 0 when allowed, else the seconds until the next one is."""
        now = self._monotonic()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = _Bucket(tokens=float(self.burst), updated=now)
                self._buckets[key] = bucket
                if len(self._buckets) > self.max_keys:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
                bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.updated) * self.rate)
                bucket.updated = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self.rate


def retry_after_seconds(wait: float) -> int:
    """Retry-After takes whole seconds; never 0, or clients retry at once."""
    return max(1, math.ceil(wait))


class ConcurrencyGate:
    """At most `limit` ingest requests at once in this process; the others are refused at once (429),
    so the web server's threads stay free for people using the API during an alert storm."""

    def __init__(self, limit: int):
        self._slots = threading.BoundedSemaphore(limit)

    def try_enter(self) -> bool:
        return self._slots.acquire(blocking=False)

    def leave(self) -> None:
        self._slots.release()
