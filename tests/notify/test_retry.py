from datetime import datetime, timedelta, timezone

from service.mechanics.retry import parse_retry_after
from service.notify.retry import MAX_ATTEMPTS, after_failure, message_backoff as backoff

T0 = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)


def test_backoff_doubles_from_one_second_to_five_minutes():
    middle = lambda: 0.5  # noqa: E731  (no jitter)
    assert [backoff(n, middle).total_seconds() for n in range(1, 12)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def test_backoff_jitter_stays_within_twenty_percent_and_under_the_cap():
    assert backoff(3, lambda: 0.0) == timedelta(seconds=3.2)
    assert backoff(3, lambda: 1.0) == timedelta(seconds=4.8)
    assert backoff(10, lambda: 1.0) == timedelta(minutes=5)


def test_a_failure_is_retried_after_the_backoff():
    status, at = after_failure(attempts=1, due_at=T0, now=T0, rng=lambda: 0.5)
    assert (status, at) == ("failed", T0 + timedelta(seconds=1))


def test_retry_after_wins_over_the_backoff():
    assert after_failure(attempts=1, due_at=T0, now=T0, retry_after=120, rng=lambda: 0.0) == \
        ("failed", T0 + timedelta(minutes=2))
    assert after_failure(attempts=1, due_at=T0, now=T0, retry_after=120, rng=lambda: 1.0) == \
        ("failed", T0 + timedelta(minutes=2, seconds=24))  # never earlier than asked, spread a little later
    assert after_failure(attempts=1, due_at=T0, now=T0, retry_after=0, rng=lambda: 0.0) == \
        ("failed", T0 + timedelta(seconds=1))


def test_the_tenth_failure_is_final():
    assert after_failure(attempts=MAX_ATTEMPTS - 1, due_at=T0, now=T0)[0] == "failed"
    assert after_failure(attempts=MAX_ATTEMPTS, due_at=T0, now=T0) == ("dead", None)


def test_nothing_is_tried_after_twenty_four_hours():
    late = T0 + timedelta(hours=23, minutes=59)
    assert after_failure(attempts=2, due_at=T0, now=late, retry_after=3600, rng=lambda: 0.0) == \
        ("failed", T0 + timedelta(hours=24))
    assert after_failure(attempts=3, due_at=T0, now=T0 + timedelta(hours=24)) == ("dead", None)


def test_a_permanent_error_is_final_at_once():
    assert after_failure(attempts=1, due_at=T0, now=T0, permanent=True) == ("dead", None)


def test_retry_after_header_forms():
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    assert parse_retry_after("Mon, 02 Mar 2026 10:01:30 GMT", now=T0) == 90.0
    assert parse_retry_after("Mon, 02 Mar 2026 09:00:00 GMT", now=T0) == 0.0
    assert parse_retry_after("999999999") == 24 * 3600.0
