from datetime import datetime, timedelta, timezone

from service.mechanics.retry import parse_retry_after
from service.notify.retry import after_failure, message_backoff as backoff

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


def test_no_count_of_failures_is_final_only_time_is():
    """Throttling and outages longer than ten attempts (8.5 minutes of backoff) no longer kill a message."""
    assert after_failure(attempts=10, due_at=T0, now=T0 + timedelta(minutes=9))[0] == "failed"
    assert after_failure(attempts=200, due_at=T0, now=T0 + timedelta(hours=23), retry_after=3)[0] == "failed"
    assert after_failure(attempts=200, due_at=T0, now=T0 + timedelta(hours=24)) == ("dead", None)


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


def _stakeholder_update(client, config, teams, outbox):
    """Open a P2 and return the outbox row of the stakeholders' Teams card."""
    from tests.conftest import ADMIN

    config.teams_webhook_url = teams.url
    assert client.post("/api/incidents", json={"title": "Throttled", "severity": "P2"}, headers=ADMIN).status_code == 201
    rows = [r for r in outbox(channel="teams") if r.kind == "initial"]
    assert len(rows) == 1
    return rows[0].id


def _status(outbox, row_id):
    return next(r for r in outbox() if r.id == row_id)


def _unavailable_until(teams, frozen_clock, until, reply):
    """The Teams double answers `reply` until the app's clock reaches `until`."""
    from tests.doubles.http import Reply

    normal = teams.handle
    teams.handle = lambda request: Reply(*reply) if frozen_clock.now() < until else normal(request)


def test_throttling_never_uses_up_a_message(client, config, teams, outbox, frozen_clock):
    """Teams answers 429 Retry-After: 3 for 90 seconds: the card waits it out and is sent (before, the
    tenth 429 made it dead)."""
    from datetime import timedelta

    from service.wiring import run_tick

    _unavailable_until(teams, frozen_clock, frozen_clock.now() + timedelta(seconds=90),
                       (429, b'{"error":{"code":"TooManyRequests"}}', {"Retry-After": "3"}))
    row_id = _stakeholder_update(client, config, teams, outbox)
    for _ in range(30):
        run_tick(frozen_clock.now())
        frozen_clock.advance(seconds=4)
    row = _status(outbox, row_id)
    assert row.status == "sent", (row.status, row.attempts, row.last_error)
    assert row.attempts > 10


def test_an_outage_longer_than_ten_attempts_kills_nothing(client, config, teams, outbox, frozen_clock):
    """Two hours of 502 from Teams: the card keeps being retried (every 5 minutes at most) and goes out
    when Teams is back; only 24 hours after it fell due would it be given up."""
    from datetime import timedelta

    from service.wiring import run_tick

    _unavailable_until(teams, frozen_clock, frozen_clock.now() + timedelta(hours=2), (502, b"Bad Gateway"))
    row_id = _stakeholder_update(client, config, teams, outbox)
    for _ in range(24):  # 24 x 5 minutes
        run_tick(frozen_clock.now())
        frozen_clock.advance(minutes=5)
    row = _status(outbox, row_id)
    assert row.status == "failed" and row.attempts > 10, (row.status, row.attempts)
    for _ in range(4):
        run_tick(frozen_clock.now())
        frozen_clock.advance(minutes=5)
    assert _status(outbox, row_id).status == "sent"
