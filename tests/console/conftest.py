"""The console against the Entra ID double (HTTPS on 127.0.0.1), people on call and a P1."""
from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import pytest
import requests

from service import clock
from service.microsoft import microsoft_sign_in
from tests.conftest import ADMIN, START

CALLBACK = "/auth/microsoft/callback"


@pytest.fixture(scope="session")
def certificate(tmp_path_factory):
    from tests.doubles.tls import make_certificate

    return make_certificate(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def entra(certificate, monkeypatch):
    from tests.doubles.entra import EntraDouble

    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(certificate.cert_file))  # a private CA, as a deployment trusts one
    double = EntraDouble(certificate, now=lambda: clock.now().timestamp()).start()
    microsoft_sign_in.forget()
    yield double
    double.stop()
    microsoft_sign_in.forget()


@pytest.fixture(autouse=True)
def oidc(config, entra):
    """The test configuration plus Microsoft sign-in through the double; `admin` is an admin.
    (Set before the app is made: autouse fixtures come first.)"""
    entra.redirect_uris.add(config.base_url + CALLBACK)
    config.oidc_tenant_id, config.oidc_client_id = entra.tenant, entra.client_id
    config.oidc_client_secret, config.oidc_authority = entra.client_secret, entra.authority
    config.admins = ("admin",)
    return config


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


@pytest.fixture
def sign_in(entra):
    """Sign `client` in as the person with `email`, through /auth/microsoft and the double."""

    def run(client, email: str, name: str = "Someone", next_path: str = "/console", **claims):
        entra.person(name=name, preferred_username=email, **claims)
        start = client.get(f"/auth/microsoft?next={next_path}")
        assert start.status_code == 302, start.get_data(as_text=True)
        answer = requests.get(start.headers["Location"], allow_redirects=False, timeout=10)
        assert answer.status_code == 302, answer.text
        back = urlsplit(answer.headers["Location"])
        return client.get(f"{back.path}?{back.query}")

    return run


@pytest.fixture
def as_person(app, sign_in):
    """A test client signed in as the person with `email`, and its session's CSRF token."""

    def make(email: str):
        client = app.test_client()
        sign_in(client, email)
        return client, csrf_of(client.get("/console").get_data(as_text=True))

    return make


@pytest.fixture
def team(make_person, put_on_call):
    """Alice commands, Bob leads technically, Carol communicates; Admin Ada administers."""
    people = {
        "alice": make_person("alice", "Alice Archer", "alice@example.com", aliases=["a.archer@corp.example"]),
        "bob": make_person("bob", "Bob Baker", "bob@example.com"),
        "carol": make_person("carol", "Carol Cole", "carol@example.com"),
        "dave": make_person("dave", "Dave Dunn", "dave@example.com"),
        "admin": make_person("admin", "Ada Admin", "ada@example.com"),
    }
    for rotation, handle in (("incident-commander", "alice"), ("technical-lead", "bob"),
                             ("communications-lead", "carol"), ("scribe", "dave")):
        put_on_call(rotation, handle, START - timedelta(days=30), START + timedelta(days=30))
    return people


@pytest.fixture
def p1(client, team):
    response = client.post("/api/incidents", headers=ADMIN, json={
        "title": "Orders are failing", "severity": "P1", "impact": "Nobody can place orders"})
    assert response.status_code == 201
    return response.get_json()
