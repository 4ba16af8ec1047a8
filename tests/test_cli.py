from click.testing import CliRunner
from sqlalchemy import select

from service import db
from service.auth import ApiToken, hash_token
from service.cli import main


def test_token_create_prints_secret_last_and_stores_hash(app, config, monkeypatch, client):
    monkeypatch.setenv("HERALD_DATABASE_URL", config.database_url)
    monkeypatch.setenv("HERALD_POLICY", config.policy_path)
    monkeypatch.setenv("HERALD_SECRET_KEY", "s")
    result = CliRunner().invoke(main, ["token", "create", "grafana", "--scope", "ingest", "--scope", "read"])
    assert result.exit_code == 0, result.output
    secret = result.output.split()[-1]
    db.init_engine(config.database_url)
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "grafana"))
        assert row.token_hash == hash_token(secret)
        assert secret not in (row.token_hash,)
        assert row.scopes == ["ingest", "read"]
    assert client.get("/api/incidents", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    denied = client.post("/api/incidents", json={"title": "x", "severity": "P1"},
                         headers={"Authorization": f"Bearer {secret}"})
    assert denied.status_code == 403


def test_token_create_rejects_unknown_scope():
    result = CliRunner().invoke(main, ["token", "create", "x", "--scope", "root"])
    assert result.exit_code == 2
