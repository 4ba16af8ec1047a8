from __future__ import annotations

import pytest
from sqlalchemy import select

from service import db
from service.notify.channels import close_all
from service.notify.models import Notification
from tests.doubles.teams import TeamsWebhook


@pytest.fixture(autouse=True)
def _fresh_channels():
    """Adapters keep connections per configuration; each test starts and ends with none open."""
    close_all()
    yield
    close_all()


@pytest.fixture
def teams():
    double = TeamsWebhook().start()
    yield double
    double.stop()


@pytest.fixture
def outbox(app):
    """outbox(**filters) -> the notification rows, oldest first."""

    def rows(**filters) -> list[Notification]:
        with app.app_context(), db.transaction() as s:
            query = select(Notification).order_by(Notification.id)
            for field, value in filters.items():
                query = query.where(getattr(Notification, field) == value)
            return list(s.scalars(query).all())

    return rows


@pytest.fixture
def responders(app, make_person, put_on_call):
    """Alice (IC), Bob (technical lead, with a Teams webhook of his own), Carol (comms), Dave (scribe), Erin (on call).

    Bob's webhook is the loopback Teams double: a person's URL, so HERALD_ALLOW_PRIVATE_URLS=1 lets it through.
    """
    from datetime import timedelta

    from tests.conftest import START

    def make(bob_webhook: str | None = None) -> dict:
        if bob_webhook:
            app.config["HERALD"].allow_private_urls = True
        people = {
            "alice": make_person("alice", "Alice Archer"),
            "bob": make_person("bob", "Bob Baker", **({"teams_webhook": bob_webhook} if bob_webhook else {})),
            "carol": make_person("carol", "Carol Clark"),
            "dave": make_person("dave", "Dave Dunn"),
            "erin": make_person("erin", "Erin Ellis"),
        }
        for rotation, handle in (("incident-commander", "alice"), ("technical-lead", "bob"),
                                 ("communications-lead", "carol"), ("scribe", "dave"), ("on-call-engineer", "erin")):
            put_on_call(rotation, handle, START - timedelta(days=30), START + timedelta(days=30))
        return people

    return make


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    from tests.doubles.tls import make_certificate

    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trust(certificate, monkeypatch):
    """Trust the test certificate the way a deployment trusts a private CA: REQUESTS_CA_BUNDLE."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert_file))
    return certificate


@pytest.fixture
def smtp_sink():
    from tests.doubles.smtp import SmtpSink

    started = []

    def start(**options) -> SmtpSink:
        sink = SmtpSink(**options).start()
        started.append(sink)
        return sink

    yield start
    for sink in started:
        sink.stop()


@pytest.fixture
def graph(trust):
    from service.microsoft import forget_clients
    from tests.doubles.graph import GraphDouble

    forget_clients()  # a fresh msal application (and token cache) per test
    double = GraphDouble(trust).start()
    yield double
    double.stop()
    forget_clients()
