"""`herald rotation import|list`, `herald who`, and the example rotations of a first start."""
import json

import pytest
from click.testing import CliRunner

from service.cli import main
from service.processes import first_start
from tests.conftest import ADMIN

from .helpers import CALENDARS, fixture_text


@pytest.fixture
def herald(config, monkeypatch, app):
    monkeypatch.setenv("HERALD_DATABASE_URL", config.database_url)
    monkeypatch.setenv("HERALD_POLICY", config.policy_path)
    monkeypatch.setenv("HERALD_SECRET_KEY", config.secret_key)
    monkeypatch.setenv("HERALD_ADMIN_TOKEN", config.admin_token)

    def run(*args: str, input: bytes | None = None):
        return CliRunner().invoke(main, list(args), input=input)

    return run


def test_import_a_file_then_ask_who(herald, team):
    imported = herald("rotation", "import", "incident-commander", str(CALENDARS / "google_berlin.ics"))
    assert imported.exit_code == 0, imported.output
    assert "incident-commander: 4 events" in imported.output
    assert "people: alice, bob, carol" in imported.output

    now = herald("who")
    assert now.exit_code == 0, now.output
    assert "On call at 2026-03-02 10:00 UTC" in now.output
    assert "Incident Commander (incident-commander): Alice Archer (alice) until 2026-03-09 08:00 UTC" in now.output
    assert "Scribe (scribe): nobody" in now.output

    later = herald("who", "--at", "2026-03-10T00:00:00Z", "--role", "incident_commander")
    assert later.exit_code == 0, later.output
    assert "Bob Baker (bob)" in later.output
    assert "Scribe" not in later.output


def test_who_rejects_bad_options(herald):
    assert herald("who", "--role", "janitor").exit_code == 2
    assert herald("who", "--at", "yesterday").exit_code == 2


def test_import_from_stdin_as_json_and_list(herald, team):
    imported = herald("rotation", "import", "scribe", "-", "--json", input=fixture_text("google_berlin.ics").encode())
    assert imported.exit_code == 0, imported.output
    assert json.loads(imported.output)["people"] == ["alice", "bob", "carol"]
    listed = herald("rotation", "list")
    assert "scribe: uploaded calendar; on call now: Alice Archer (alice)" in listed.output


def test_a_bad_file_exits_1_and_changes_nothing(herald, client, tmp_path):
    bad = tmp_path / "bad.ics"
    bad.write_text("BEGIN:VCALENDAR\nBEGIN:VEVENT\nUID:a\nSUMMARY:x\nEND:VEVENT\nEND:VCALENDAR\n")
    result = herald("rotation", "import", "incident-commander", str(bad))
    assert result.exit_code == 1
    assert "has no DTSTART" in result.output
    assert herald("rotation", "import", "incident-commander", str(tmp_path / "missing.ics")).exit_code == 1
    assert client.get("/api/rotations", headers=ADMIN).get_json() == []


def test_import_a_url_subscribes(herald, team, calendar_server, monkeypatch):
    url = calendar_server.serve("/cal.ics", fixture_text("google_berlin.ics"))
    refused = herald("rotation", "import", "incident-commander", url)
    assert refused.exit_code == 1 and "loopback" in refused.output
    monkeypatch.setenv("HERALD_ALLOW_PRIVATE_URLS", "1")
    result = herald("rotation", "import", "incident-commander", url, "--refresh-every", "5m")
    assert result.exit_code == 0, result.output
    assert f"subscribed incident-commander to {url}" in result.output
    assert "people: alice, bob, carol" in result.output
    assert f"subscribed to {url}" in herald("rotation", "list").output


def test_first_start_imports_the_example_rotations_once(app, client):
    said = []
    first_start(app, said.append)
    imported = [line for line in said if "imported example rotation" in line]
    assert len(imported) == 5
    rotations = {r["name"]: r for r in client.get("/api/rotations", headers=ADMIN).get_json()}
    assert set(rotations) == {"incident-commander", "technical-lead", "communications-lead", "scribe",
                              "on-call-engineer"}
    roles = client.get("/api/oncall", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["label"] == "Incident Commander: Carol Chen"
    assert roles["incident_commander"]["person"] is None  # example people are labels until they are added
    assert all(roles[key] is not None for key in roles)
    assert all(not r["report"]["warnings"] or r["report"]["unknown"] for r in rotations.values())

    said.clear()
    first_start(app, said.append)
    assert not [line for line in said if "example" in line]
