"""Tokens can be listed and revoked: `GET /api/tokens`, `DELETE /api/tokens/<id>` (admin), and
`herald token list|revoke`."""
import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service import db
from service.auth import ApiToken
from service.cli import main


def _create(client, token_for, *scopes):
    headers = token_for(*scopes)
    return headers, headers["Authorization"].split()[-1]


def test_list_shows_every_token_without_secrets(client, admin_headers, token_for):
    _, secret = _create(client, token_for, "read")
    _create(client, token_for, "ingest", "write")
    response = client.get("/api/tokens", headers=admin_headers)
    assert response.status_code == 200
    body = response.get_json()
    assert [(t["name"], t["scopes"], t["revoked_at"]) for t in body] == [
        ("test-read", ["read"], None), ("test-ingest-write", ["ingest", "write"], None)]
    assert set(body[0]) == {"id", "name", "scopes", "created_at", "revoked_at"}
    assert secret not in response.get_data(as_text=True)
    assert client.get("/api/tokens?limit=1&offset=1", headers=admin_headers).get_json()[0]["name"] == "test-ingest-write"


def test_revoke_stops_the_token_at_once_and_is_idempotent(client, admin_headers, token_for):
    reader, _ = _create(client, token_for, "read")
    assert client.get("/api/incidents", headers=reader).status_code == 200
    token_id = client.get("/api/tokens", headers=admin_headers).get_json()[0]["id"]

    response = client.delete(f"/api/tokens/{token_id}", headers=admin_headers)
    assert response.status_code == 204
    assert client.get("/api/incidents", headers=reader).status_code == 401
    listed = client.get("/api/tokens", headers=admin_headers).get_json()
    assert listed[0]["revoked_at"] is not None

    again = client.delete(f"/api/tokens/{token_id}", headers=admin_headers)
    assert again.status_code == 204
    assert client.get("/api/tokens", headers=admin_headers).get_json()[0]["revoked_at"] == listed[0]["revoked_at"]


def test_only_admin_may_list_or_revoke(client, admin_headers, token_for):
    writer, _ = _create(client, token_for, "read", "write", "ingest")
    token_id = client.get("/api/tokens", headers=admin_headers).get_json()[0]["id"]
    assert client.get("/api/tokens", headers=writer).status_code == 403
    assert client.delete(f"/api/tokens/{token_id}", headers=writer).status_code == 403
    assert client.get("/api/tokens").status_code == 401
    assert client.get("/api/tokens", headers=admin_headers).get_json()[0]["revoked_at"] is None


def test_unknown_token_is_404(client, admin_headers):
    response = client.delete("/api/tokens/999", headers=admin_headers)
    assert response.status_code == 404
    assert response.get_json()["code"] == "not_found"
    assert client.delete("/api/tokens/99999999999999999999999", headers=admin_headers).status_code == 404


@pytest.fixture
def cli_env(app, config, monkeypatch):
    monkeypatch.setenv("HERALD_DATABASE_URL", config.database_url)
    monkeypatch.setenv("HERALD_POLICY", config.policy_path)
    monkeypatch.setenv("HERALD_SECRET_KEY", "s")
    return CliRunner()


def test_cli_lists_and_revokes_by_id_or_name(cli_env, client, app, config):
    runner = cli_env
    created = runner.invoke(main, ["token", "create", "grafana", "--scope", "ingest"])
    secret = created.output.split()[-1]
    runner.invoke(main, ["token", "create", "board", "--scope", "read"])

    listed = runner.invoke(main, ["token", "list"])
    assert listed.exit_code == 0, listed.output
    lines = listed.output.splitlines()
    assert lines[0].split() == ["ID", "NAME", "SCOPES", "CREATED", "REVOKED"]
    assert [line.split()[1:3] for line in lines[1:]] == [["grafana", "ingest"], ["board", "read"]]
    assert secret not in listed.output

    revoked = runner.invoke(main, ["token", "revoke", "grafana"])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked token" in revoked.output
    db.init_engine(config.database_url)
    with app.app_context():
        row = db.session.scalar(select(ApiToken).where(ApiToken.name == "grafana"))
        assert row.revoked_at is not None
        board_id = db.session.scalar(select(ApiToken.id).where(ApiToken.name == "board"))
    assert client.post("/api/alerts/alertmanager", json={}, headers={"Authorization": f"Bearer {secret}"}).status_code == 401

    assert runner.invoke(main, ["token", "revoke", str(board_id)]).exit_code == 0
    again = runner.invoke(main, ["token", "revoke", str(board_id)])
    assert again.exit_code == 0 and "already revoked" in again.output
    final = runner.invoke(main, ["token", "list"]).output.splitlines()[1:]
    assert all(line.split()[-1].endswith("Z") for line in final), final


def test_cli_refuses_ambiguous_or_unknown_names(cli_env):
    runner = cli_env
    runner.invoke(main, ["token", "create", "grafana", "--scope", "ingest"])
    runner.invoke(main, ["token", "create", "grafana", "--scope", "ingest"])
    ambiguous = runner.invoke(main, ["token", "revoke", "grafana"])
    assert ambiguous.exit_code == 1
    assert "2 active tokens are named 'grafana'" in ambiguous.output
    unknown = runner.invoke(main, ["token", "revoke", "nobody"])
    assert unknown.exit_code == 1 and "no active token named 'nobody'" in unknown.output
    assert runner.invoke(main, ["token", "revoke", "4242"]).exit_code == 1
