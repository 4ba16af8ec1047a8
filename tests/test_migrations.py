"""Models and migrations agree, on every backend; timestamps come back timezone-aware UTC."""
from datetime import datetime, timedelta, timezone

from service import db
from service.incidents.models import TimelineEntry
from service.migrate import drift


def test_no_drift_between_models_and_migrations(database_url):
    assert drift(database_url) == []


def test_timestamps_are_aware_utc(app, client, admin_headers):
    incident = client.post("/api/incidents", json={"title": "t", "severity": "P2"}, headers=admin_headers).get_json()
    with app.app_context():
        entry = db.session.query(TimelineEntry).filter_by(incident_id=incident["id"]).first()
        assert entry.at.tzinfo is not None
        assert entry.at.utcoffset() == timedelta(0)
        assert entry.at == datetime(2026, 3, 2, 10, tzinfo=timezone.utc)


def test_migrations_form_one_chain():
    """Parallel branches are fine while developing; main keeps a single head."""
    from alembic.script import ScriptDirectory

    from service.migrate import alembic_config

    assert len(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads()) == 1
