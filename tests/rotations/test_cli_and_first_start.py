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
    # the example people come with the example rotations, so every role has somebody
    assert roles["incident_commander"]["person"] == "carol"
    assert all(roles[key] is not None and roles[key]["person"] for key in roles), roles
    assert all(not r["report"]["unknown"] and not r["report"]["warnings"] for r in rotations.values())
    assert any("added 14 example people" in line for line in said)

    said.clear()
    first_start(app, said.append)
    assert not [line for line in said if "example" in line]
    assert len(client.get("/api/people", headers=ADMIN).get_json()) == 14


def test_first_start_p1_pages_the_example_people(app, client):
    """The README's "Try it": a P1 right after first start has every role filled and its pages readable."""
    first_start(app, lambda _line: None)
    created = client.post("/api/incidents", headers=ADMIN,
                          json={"title": "Orders are failing", "severity": "P1", "impact": "Nobody can trade"})
    assert created.status_code == 201
    incident = created.get_json()
    assert {role: held["person"] for role, held in incident["roles"].items()} == {
        "incident_commander": "carol", "technical_lead": "femi", "communications_lead": "grace", "scribe": "ines",
        "on_call_engineer": "kim"}
    notes = client.get(f"/api/incidents/{incident['id']}/notifications", headers=ADMIN).get_json()
    pages = [n for n in notes if n["kind"] == "page"]
    assert sorted(n["recipient"] for n in pages) == ["carol@example.com", "femi@example.com"]
    assert all(n["channel"] == "log" for n in notes)
    timeline = client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()
    assert not [e for e in timeline if "Nobody to page" in str(e)]


def test_first_start_keeps_existing_people(app, client, make_person):
    make_person("zoe", "Zoe Zhang")
    said = []
    first_start(app, said.append)
    assert not [line for line in said if "example people" in line]
    assert [p["handle"] for p in client.get("/api/people", headers=ADMIN).get_json()] == ["zoe"]
