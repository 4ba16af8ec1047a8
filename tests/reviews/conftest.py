"""Fixtures of the review tests: people on call, and an incident opened (and resolved) over HTTP."""
from datetime import timedelta

import pytest

from tests.conftest import ADMIN, START


@pytest.fixture
def crew(make_person, put_on_call):
    """Alice is Incident Commander (and Scribe), Bob Technical Lead; Carol holds no role."""
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    make_person("carol", "Carol Chen")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    put_on_call("scribe", "alice", START - timedelta(days=1))


@pytest.fixture
def new_incident(client):
    """Open an incident "Orders are failing"; returns its API URL."""
    def open_one(severity: str = "P1") -> str:
        incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": severity},
                               headers=ADMIN).get_json()
        return f"/api/incidents/{incident['id']}"

    return open_one


@pytest.fixture
def resolve(client):
    def resolve_it(url: str) -> dict:
        response = client.post(f"{url}/resolve", json={"root_cause": "bad deploy", "resolution": "rolled back"},
                               headers=ADMIN)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    return resolve_it
