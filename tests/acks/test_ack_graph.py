"""Replies read from the Exchange mailbox through the Graph double: delta rounds, once each, 410 and 429."""
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import db
from service.acks.graph_inbox import _claim
from service.acks.models import InboundMessage, MailboxSync
from service.wiring import run_tick
from tests.acks.conftest import timeline
from tests.conftest import ADMIN, START


@pytest.fixture
def exchange(config, graph):
    """Herald sends and reads mail as the Graph double's mailbox; replies come to its plus addresses."""
    config.graph_tenant_id, config.graph_client_id = graph.tenant, graph.client_id
    config.graph_client_secret, config.graph_mailbox = graph.client_secret, graph.mailbox
    config.graph_authority, config.graph_url = graph.authority, graph.graph_url
    config.mail_from = config.reply_address = graph.mailbox
    return graph


@pytest.fixture
def incident(client, responders, exchange, frozen_clock):
    response = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"}, headers=ADMIN)
    assert response.status_code == 201
    run_tick(frozen_clock.now())  # pages leave through Graph sendMail
    return response.get_json()


def page_to(graph, address):
    return next(m for m in graph.sent if address in str(m["To"]) and "PAGE" in m["Subject"])


def graph_reply(page, *, sender="alice@example.com", name="Alice Archer", text="ack", html=True, number=1,
                received=START + timedelta(minutes=2), headers=()):
    """A reply as Graph's delta returns it (the properties Herald selects)."""
    body = (f"<html><body><div>{text}</div><hr><div id=\"divRplyFwdMsg\"><b>From:</b> Herald<br>"
            f"<b>Sent:</b> Monday, March 2, 2026 10:00<br><b>Subject:</b> {page['Subject']}</div>"
            f"<div>Acknowledge: reply ack</div></body></html>") if html else f"{text}\r\n"
    return {
        "id": f"AAMkAGI2-{number}", "internetMessageId": f"<graph-reply-{number}@example.com>",
        "conversationId": "AAQkAGI2", "subject": "RE: " + page["Subject"],
        "from": {"emailAddress": {"name": name, "address": sender}},
        "sender": {"emailAddress": {"name": name, "address": sender}},
        "toRecipients": [{"emailAddress": {"name": "Herald", "address": page["Reply-To"]}}],
        "ccRecipients": [],
        "body": {"contentType": "html" if html else "text", "content": body},
        "receivedDateTime": f"{received:%Y-%m-%dT%H:%M:%SZ}",
        "internetMessageHeaders": [
            {"name": "Message-ID", "value": f"<graph-reply-{number}@example.com>"},
            {"name": "In-Reply-To", "value": page["Message-ID"]},
            {"name": "References", "value": page["Message-ID"]},
            {"name": "X-Auto-Response-Suppress", "value": "All"},
            {"name": "Content-Type", "value": "multipart/alternative; boundary=\"_000_\""},
            *({"name": k, "value": v} for k, v in headers),
        ],
        "isRead": False,
    }


def delta_requests(graph):
    return [r for r in graph.requests if r.path.endswith("/messages/delta")]


def ic(client, incident):
    return client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]["incident_commander"]


def test_a_reply_in_the_mailbox_acknowledges_once(app, client, incident, exchange, frozen_clock):
    page = page_to(exchange, "alice@example.com")
    exchange.deliver_to_inbox(graph_reply(page))
    frozen_clock.advance(minutes=2)
    run_tick(frozen_clock.now())
    assert ic(client, incident)["acknowledged_via"] == "email"
    first = delta_requests(exchange)[0]
    assert "internetMessageHeaders" in first.query["$select"][0] and "body" in first.query["$select"][0]
    assert first.query["$filter"] == ["receivedDateTime ge 2026-03-01T10:00:00Z"]  # a day back on a new mailbox
    assert first.headers["Prefer"] == 'outlook.body-content-type="text"'

    for _ in range(3):  # later rounds continue from the delta link and see nothing new
        frozen_clock.advance(seconds=1)
        run_tick(frozen_clock.now())
    assert all("$deltatoken" in r.query for r in delta_requests(exchange)[1:])
    texts = [e["text"] for e in timeline(client, incident["id"])]
    assert texts.count("Acknowledged by Alice Archer (Incident Commander) via email") == 1


def test_auto_replies_and_strangers_through_graph(app, client, incident, exchange, frozen_clock):
    page = page_to(exchange, "alice@example.com")
    exchange.deliver_to_inbox(graph_reply(page, text="I am out of the office until Monday", number=1,
                                          headers=[("Auto-Submitted", "auto-replied")]))
    exchange.deliver_to_inbox(graph_reply(page, sender="mallory@evil.example.net", name="Alice Archer", number=2))
    exchange.remove_from_inbox("AAMkAGI2-1")
    exchange.deliver_to_inbox(graph_reply(page, text="ok", html=False, number=3))
    frozen_clock.advance(minutes=3)
    run_tick(frozen_clock.now())
    texts = [e["text"] for e in timeline(client, incident["id"])]
    assert any(t.startswith("Automatic reply from Alice Archer (Auto-Submitted: auto-replied)") for t in texts)
    assert "Rejected acknowledgement from mallory@evil.example.net: the page was for Alice Archer" in texts
    assert ic(client, incident)["acknowledged_at"] == "2026-03-02T10:03:00Z"
    with app.app_context():
        outcomes = dict(db.session.execute(select(InboundMessage.dedup_key, InboundMessage.outcome)).all())
    assert outcomes == {"<graph-reply-1@example.com>": "automatic", "<graph-reply-2@example.com>": "rejected_sender",
                        "<graph-reply-3@example.com>": "acknowledged"}


def test_expired_delta_starts_again_from_the_last_sync_and_repeats_nothing(app, client, incident, exchange,
                                                                         frozen_clock):
    page = page_to(exchange, "alice@example.com")
    exchange.deliver_to_inbox(graph_reply(page, text="who else is on this?", number=1))
    frozen_clock.advance(minutes=2)
    run_tick(frozen_clock.now())
    exchange.expire_delta_tokens()
    exchange.deliver_to_inbox(graph_reply(page, number=2, received=START + timedelta(minutes=5)))
    frozen_clock.advance(minutes=4)
    run_tick(frozen_clock.now())
    restart = delta_requests(exchange)[-1]
    assert restart.query["$filter"] == ["receivedDateTime ge 2026-03-02T09:02:00Z"]  # an hour before the last sync
    assert ic(client, incident)["acknowledged_via"] == "email"
    texts = [e["text"] for e in timeline(client, incident["id"])]
    assert len([t for t in texts if t.startswith("Reply from Alice Archer by email")]) == 1  # not answered twice
    with app.app_context():
        sync = db.session.scalar(select(MailboxSync))
        assert sync.last_error is None and "$deltatoken" in sync.delta_link


def test_throttling_postpones_the_next_poll_and_loses_nothing(app, client, incident, exchange, frozen_clock):
    page = page_to(exchange, "alice@example.com")
    exchange.deliver_to_inbox(graph_reply(page))
    exchange.script(429, b'{"error":{"code":"ApplicationThrottled","message":"Too many requests"}}',
                    {"Retry-After": "120"}, path="/messages/delta")
    frozen_clock.advance(minutes=2)
    run_tick(frozen_clock.now())
    assert ic(client, incident)["acknowledged_at"] is None
    with app.app_context():
        sync = db.session.scalar(select(MailboxSync))
        assert "429" in sync.last_error and sync.next_poll_at == frozen_clock.now() + timedelta(seconds=120)
    polls = len(delta_requests(exchange))
    frozen_clock.advance(seconds=60)
    run_tick(frozen_clock.now())
    assert len(delta_requests(exchange)) == polls  # still waiting as Graph asked
    frozen_clock.advance(seconds=61)
    run_tick(frozen_clock.now())
    assert ic(client, incident)["acknowledged_via"] == "email"


def test_old_mail_in_a_new_mailbox_is_left_alone(app, client, incident, exchange, frozen_clock):
    page = page_to(exchange, "alice@example.com")
    exchange.deliver_to_inbox(graph_reply(page, received=START - timedelta(days=2)))
    run_tick(frozen_clock.now())
    assert ic(client, incident)["acknowledged_at"] is None


def test_one_worker_polls_a_mailbox_at_a_time(app, exchange, frozen_clock, config):
    config.graph_mailbox = exchange.mailbox
    with app.app_context():
        first = _claim(exchange.mailbox, frozen_clock.now())
        assert first is not None
        assert _claim(exchange.mailbox, frozen_clock.now() + timedelta(minutes=1)) is None
        assert _claim(exchange.mailbox, frozen_clock.now() + timedelta(minutes=6)) is not None  # lease ran out
