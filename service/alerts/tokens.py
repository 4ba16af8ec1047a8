"""Ingest tokens remembered for a few seconds, so a storm of webhooks costs one token lookup per token
rather than one per request (and the request threads stay off the database while the inbox writes)."""
from __future__ import annotations

import threading
import time
from collections import OrderedDict

from ..auth import Principal, authenticate, hash_token
from ..db import session

REMEMBER_SECONDS = 10.0  # a revoked token is refused at most this long after its revocation


class RecentPrincipals:
    """Positive answers only (an unknown token is looked up every time), bounded, thread-safe."""

    def __init__(self, ttl: float = REMEMBER_SECONDS, max_entries: int = 1000, monotonic=time.monotonic):
        self.ttl = ttl
        self.max_entries = max_entries
        self._monotonic = monotonic
        self._entries: OrderedDict[str, tuple[float, Principal]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, digest: str) -> Principal | None:
        with self._lock:
            entry = self._entries.get(digest)
            if entry is None:
                return None
            if self._monotonic() >= entry[0]:
                del self._entries[digest]
                return None
            return entry[1]

    def put(self, digest: str, principal: Principal) -> None:
        with self._lock:
            self._entries[digest] = (self._monotonic() + self.ttl, principal)
            self._entries.move_to_end(digest)
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)


def remembered(recent: RecentPrincipals, token: str | None) -> Principal | None:
    """`authenticate`, answered from memory when the token was seen in the last few seconds."""
    if not token:
        return None
    digest = hash_token(token)
    principal = recent.get(digest)
    if principal is None:
        principal = authenticate(token)
        session.rollback()  # end the lookup's transaction: the request itself writes nothing
        if principal is not None:
            recent.put(digest, principal)
    return principal
