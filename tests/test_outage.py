"""A database outage answers 503 with Retry-After and is logged once, not a traceback per request."""
import logging

from service import create_app, db
from service.config import PROJECT_ROOT, Config
from tests.conftest import ADMIN

CLOSED_PORT = "postgresql+psycopg://herald@127.0.0.1:1/herald?connect_timeout=2"


def test_postgresql_unreachable_is_a_503_logged_once(frozen_clock, caplog):
    app = create_app(Config(database_url=CLOSED_PORT, policy_path=str(PROJECT_ROOT / "schedules" / "policy.toml"),
                            secret_key="k", admin_token="test-admin-token"))
    client = app.test_client()
    caplog.set_level(logging.INFO)
    try:
        answers = [client.get("/api/incidents", headers=ADMIN) for _ in range(5)]
        answers.append(client.post("/api/incidents", json={"title": "t", "severity": "P1"}, headers=ADMIN))
        for response in answers:
            assert response.status_code == 503
            assert response.headers["Retry-After"] == "5"
            assert response.get_json()["code"] == "service_unavailable"
        assert client.get("/api/health").status_code == 503
        errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(errors) == 1, [r.getMessage() for r in errors]
        assert "database unavailable" in errors[0].getMessage() and errors[0].exc_info is None
    finally:
        db.outage.over()
        db.session.remove()


def test_the_end_of_an_outage_is_logged(caplog):
    caplog.set_level(logging.WARNING)
    outage = db.Outage()
    from sqlalchemy.exc import OperationalError

    error = OperationalError("SELECT 1", {}, Exception("connection refused"))
    assert outage.noted(error, "test") and outage.noted(error, "test")
    outage.over()
    outage.over()
    messages = [r.getMessage() for r in caplog.records]
    assert sum("database unavailable" in m for m in messages) == 1
    assert sum("reachable again" in m for m in messages) == 1
    assert not outage.noted(ValueError("not the database"), "test")
