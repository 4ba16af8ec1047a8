from datetime import timedelta

import pytest

from tests.conftest import ADMIN, START


@pytest.fixture
def responders(make_person, put_on_call):
    make_person("alice", "Alice Archer", "alice@example.com")
    make_person("bob", "Bob Baker", "bob@example.com")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))


@pytest.fixture
def open_incident(client, responders):
    def open_(severity="P1", **fields):
        response = client.post("/api/incidents", json={"title": "Orders are failing", "severity": severity, **fields},
                               headers=ADMIN)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return open_
