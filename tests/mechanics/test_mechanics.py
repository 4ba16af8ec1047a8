"""The shared mechanics: back-off, claiming due rows with a lease, waking once per commit."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from service import db
from service.mechanics.claim import claim
from service.mechanics.retry import backoff
from service.mechanics.wake import wake_after_commit
from service.notify.models import Notification


def test_backoff_without_jitter_doubles_from_first_up_to_the_cap():
    assert [backoff(n, first=timedelta(seconds=2)).total_seconds() for n in range(1, 11)] == \
        [2, 4, 8, 16, 32, 64, 128, 256, 300, 300]


def _notification(now, n: int) -> Notification:
    return Notification(kind="notice", slot=f"s{n}", channel="log", recipient=f"r{n}", recipient_name="", payload={},
                        status="pending", attempts=0, priority=30, due_at=now, next_attempt_at=now,
                        created_at=now, idempotency_key=f"k{n}")


def test_claim_leases_due_rows_once(app, frozen_clock):
    now = frozen_clock.now()
    free = Notification.claimed_until.is_(None) | (Notification.claimed_until < now)
    with app.app_context():
        with db.transaction() as s:
            s.add_all([_notification(now, n) for n in range(3)])
        with db.transaction() as s:
            first = claim(s, Notification, free, lease={"claimed_until": now + timedelta(minutes=1),
                                                        "claimed_by": "a"}, order_by=(Notification.id,), limit=2)
        with db.transaction() as s:
            second = claim(s, Notification, free, lease={"claimed_until": now + timedelta(minutes=1),
                                                         "claimed_by": "b"})
            owners = dict(s.execute(select(Notification.id, Notification.claimed_by)).all())
    assert len(first) == 2 and len(second) == 1 and not set(first) & set(second)
    assert owners == {**{i: "a" for i in first}, **{i: "b" for i in second}}


def test_wake_after_commit_wakes_once_per_transaction_and_not_before(app):
    woken = []

    def ticker():
        woken.append("ticker")

    def dispatcher():
        woken.append("dispatcher")

    with app.app_context():
        with db.transaction() as s:
            for wake in (ticker, dispatcher, ticker, dispatcher):
                wake_after_commit(s, wake)
            assert woken == []
        assert sorted(woken) == ["dispatcher", "ticker"]
        with db.transaction() as s:
            wake_after_commit(s, ticker)
        assert sorted(woken) == ["dispatcher", "ticker", "ticker"]


def test_a_rolled_back_transaction_wakes_nobody(app):
    woken = []
    with app.app_context():
        s = db.session()
        s.execute(select(1))
        wake_after_commit(s, lambda: woken.append(1))
        s.rollback()
        s.commit()
        db.session.remove()
    assert woken == []
