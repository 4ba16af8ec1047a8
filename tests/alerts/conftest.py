from __future__ import annotations

import pytest

from service import clock, db
from service.alerts import inbox
from service.wiring import run_tick


@pytest.fixture
def ingest(token_for):
    return token_for("ingest")


@pytest.fixture
def process(app):
    """Run the worker's tick as `herald worker` would, at the frozen clock's now, until nothing due is left
    (a tick that runs out of its time budget asks for another one at once)."""

    def due() -> int:
        with app.app_context():
            claimable = len(inbox.claim(db.session, clock.now()))
            db.session.rollback()
            return claimable

    def run():
        for _ in range(100):
            with app.app_context():
                results = run_tick(clock.now())
            assert results.get("alerts") == "ok", results
            if not due():
                return results
        raise AssertionError("the inbox did not drain")

    return run


@pytest.fixture
def incidents(client, admin_headers):
    def fetch(**query):
        response = client.get("/api/incidents", query_string=query, headers=admin_headers)
        assert response.status_code == 200
        return response.get_json()

    return fetch


@pytest.fixture
def timeline(client, admin_headers):
    def fetch(ident) -> list[dict]:
        response = client.get(f"/api/incidents/{ident}/timeline", headers=admin_headers)
        assert response.status_code == 200
        return response.get_json()

    return fetch
