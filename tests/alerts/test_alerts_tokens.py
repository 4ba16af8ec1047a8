from __future__ import annotations

from service.alerts.tokens import RecentPrincipals
from service.auth import Principal


class Ticks:
    def __init__(self):
        self.t = 50.0

    def __call__(self) -> float:
        return self.t


def test_tokens_are_remembered_for_a_few_seconds_only():
    ticks = Ticks()
    recent = RecentPrincipals(ttl=10, monotonic=ticks)
    recent.put("digest", Principal("alertmanager", ["ingest"], 1))
    ticks.t += 9.9
    assert recent.get("digest").name == "alertmanager"
    ticks.t += 0.1
    assert recent.get("digest") is None  # looked up again: a revocation takes effect


def test_memory_is_bounded():
    recent = RecentPrincipals(max_entries=2, monotonic=Ticks())
    for n in range(3):
        recent.put(f"d{n}", Principal(f"t{n}", ["ingest"], n))
    assert recent.get("d0") is None and recent.get("d2").name == "t2"
