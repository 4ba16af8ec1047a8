from __future__ import annotations

import pytest

from service import clock
from service.worker import run_tick


@pytest.fixture
def ingest(token_for):
    return token_for("ingest")


@pytest.fixture
def process(app):
    """Run the worker's tick as `herald worker` would, at the frozen clock's now."""

    def run():
        with app.app_context():
            results = run_tick(clock.now())
        assert results.get("alerts") == "ok", results
        return results

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
