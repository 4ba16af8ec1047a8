"""How the board sums up the pages sent to one role holder (pure: transient outbox rows)."""
from datetime import timedelta

from service.notify.models import Notification
from service.web.board import page_delivery
from tests.conftest import START


def page(status, channel="email", minutes=0, error=None, retry_in=None, id=1):
    return Notification(id=id, kind="page", channel=channel, status=status, created_at=START + timedelta(minutes=minutes),
                        last_error=error, next_attempt_at=START + timedelta(minutes=retry_in or minutes))


def test_no_pages_or_only_cancelled_ones_say_nothing():
    assert page_delivery([], START) is None
    assert page_delivery([page("cancelled")], START) is None


def test_any_accepted_page_counts_as_delivered_with_its_channels():
    summary = page_delivery([page("failed", "teams", error="HTTP 429"), page("sent", "email", id=2),
                             page("sent", "email", minutes=5, id=3)], START + timedelta(minutes=6))
    assert summary.state == "delivered" and summary.delivered == ("email",) and summary.first_at == START


def test_failing_pages_show_the_latest_error_and_the_next_try():
    summary = page_delivery([page("failed", error="HTTP 429 Too Many Requests", retry_in=1),
                             page("failed", "teams", error="HTTP 502", id=2, retry_in=3)], START)
    assert summary.state == "failing" and summary.error == "HTTP 502"
    assert summary.next_attempt_at == START + timedelta(minutes=3)


def test_only_dead_pages_are_undeliverable():
    assert page_delivery([page("dead", error="550 no such user")], START).state == "undeliverable"
    assert page_delivery([page("dead"), page("failed", id=2)], START).state == "failing"


def test_a_page_held_for_later_is_scheduled_and_a_due_one_is_being_sent():
    later = page_delivery([page("pending", retry_in=60)], START)
    assert later.state == "scheduled" and later.next_attempt_at == START + timedelta(hours=1)
    assert page_delivery([page("pending")], START).state == "sending"
