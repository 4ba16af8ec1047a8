"""Acknowledgement tests: a P1 with Alice as Incident Commander and Bob as Technical Lead, paged by email."""
from __future__ import annotations

from datetime import timedelta
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from service import db
from service.notify.models import Notification
from tests.conftest import ADMIN, START

REPLY_ADDRESS = "herald@replies.example.com"


@pytest.fixture
def mail(config, smtp_sink):
    """Email configured: pages go out by SMTP (to the sink) with a Reply-To on the reply address."""
    config.smtp_url = f"smtp://127.0.0.1:{smtp_sink.port}"
    config.mail_from = "herald@example.com"
    config.reply_address = REPLY_ADDRESS
    return smtp_sink


@pytest.fixture
def responders(make_person, put_on_call):
    make_person("alice", "Alice Archer", "alice@example.com", aliases=["alice.archer@gmail.com", "Ali"])
    make_person("bob", "Bob Baker", "bob@example.com")
    make_person("mallory", "Mallory Moe", "mallory@example.com")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))


@pytest.fixture
def incident(client, responders, mail):
    response = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def email_page(app, incident_id: int, handle: str) -> Notification:
    """The email page Herald queued for `handle` on the incident."""
    from service.people.models import Person

    with app.app_context():
        person = db.session.scalar(select(Person).where(Person.handle == handle))
        page = db.session.scalar(select(Notification).where(
            Notification.incident_id == incident_id, Notification.kind == "page", Notification.channel == "email",
            Notification.person_id == person.id).order_by(Notification.id))
        db.session.expunge(page)
        return page


def reply_to(page: Notification, *, sender: str, body: str = "ack", thread: bool = True, token: bool = True,
             subject: str | None = None, headers: dict | None = None) -> bytes:
    """A plain reply to `page` as a mail client would write it."""
    message = EmailMessage()
    message["From"] = sender
    local, _, domain = REPLY_ADDRESS.partition("@")
    message["To"] = f"{local}+{page.ack_token}@{domain}" if token else REPLY_ADDRESS
    message["Subject"] = subject if subject is not None else "Re: " + page.payload["subject"]
    message["Message-ID"] = f"<reply-{page.id}-{abs(hash((sender, body, thread, token, subject)))}@example.com>"
    if thread:
        message["In-Reply-To"] = page.message_id
        message["References"] = page.message_id
    for name, value in (headers or {}).items():
        message[name] = value
    message.set_content(f"{body}\n\nOn Mon, 2 Mar 2026 at 10:00, Herald <herald@example.com> wrote:\n> "
                        + "\n> ".join(page.payload["text"].splitlines()) + "\n")
    return message.as_bytes()


def timeline(client, incident_id: int) -> list[dict]:
    return client.get(f"/api/incidents/{incident_id}/timeline", headers=ADMIN).get_json()


class Sink:
    """An SMTP server that keeps what it is given."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 OK"


@pytest.fixture
def smtp_sink():
    from service.acks.smtp import ListenerController

    sink = Sink()
    controller = ListenerController(sink, hostname="127.0.0.1", port=0)
    controller.start()
    sink.port = controller.port
    yield sink
    controller.stop()
