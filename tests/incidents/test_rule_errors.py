"""A broken rule is a 409 and keeps nothing; a programming error is a 500, never a 409."""
from __future__ import annotations

from service.incidents import lifecycle
from tests.conftest import ADMIN


def _open(client) -> str:
    response = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P3"}, headers=ADMIN)
    assert response.status_code == 201
    return f"/api/incidents/{response.get_json()['id']}"


def test_a_broken_rule_is_a_conflict_and_nothing_changes(client):
    url = _open(client)
    response = client.patch(url, json={"status": "closed", "severity": "P2"}, headers=ADMIN)
    assert response.status_code == 409
    assert response.get_json() == {"code": "conflict", "errors": {},
                                   "message": "an open incident must be resolved before it is closed"}
    assert (client.get(url, headers=ADMIN).get_json()["severity"]) == "P3"


def test_a_programming_error_in_a_change_is_a_500_and_nothing_changes(app, client, monkeypatch):
    url = _open(client)
    app.config["PROPAGATE_EXCEPTIONS"] = False  # answer as in production instead of raising into the test

    def broken(field, old, new):
        raise TypeError("a bug")

    monkeypatch.setattr(lifecycle, "_change_text", broken)
    response = client.patch(url, json={"severity": "P2"}, headers=ADMIN)
    assert response.status_code == 500
    assert response.get_json()["code"] == "internal_server_error"
    assert client.get(url, headers=ADMIN).get_json()["severity"] == "P3"
