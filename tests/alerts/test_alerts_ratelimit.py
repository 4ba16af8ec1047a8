from __future__ import annotations

from service.alerts.ratelimit import ConcurrencyGate, TokenBuckets, retry_after_seconds


class Ticks:
    """A monotonic clock the test moves by hand."""

    def __init__(self):
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def test_bucket_allows_a_burst_then_the_rate():
    ticks = Ticks()
    buckets = TokenBuckets(rate=10, burst=3, monotonic=ticks)
    assert [buckets.take("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = buckets.take("a")
    assert abs(wait - 0.1) < 1e-9  # one request every 1/10 s
    ticks.t += 0.1
    assert buckets.take("a") == 0.0
    assert buckets.take("a") > 0
    ticks.t += 60  # a long pause refills to the burst, not beyond
    assert [buckets.take("a") for _ in range(4)][-1] > 0


def test_each_token_has_its_own_bucket():
    buckets = TokenBuckets(rate=1, burst=1, monotonic=Ticks())
    assert buckets.take("storm") == 0.0
    assert buckets.take("storm") > 0
    assert buckets.take("quiet") == 0.0


def test_the_number_of_buckets_is_bounded():
    buckets = TokenBuckets(rate=1, burst=1, max_keys=2, monotonic=Ticks())
    for key in ("a", "b", "c"):
        buckets.take(key)
    assert buckets.take("a") == 0.0  # "a" was forgotten, so it starts full again
    assert buckets.take("c") > 0


def test_retry_after_is_whole_seconds_and_never_zero():
    assert retry_after_seconds(0.01) == 1
    assert retry_after_seconds(2.2) == 3


def test_gate_admits_a_fixed_number_at_once():
    gate = ConcurrencyGate(2)
    assert gate.try_enter() and gate.try_enter()
    assert not gate.try_enter()
    gate.leave()
    assert gate.try_enter()
