"""A policy whose roles have other keys (commander, comms, tech) runs a whole P1: the code asks the
policy which role commands and which communicates, and never spells a role key itself."""
from __future__ import annotations

from datetime import timedelta

import pytest
from click.testing import CliRunner
from sqlalchemy import select

from service import db
from service.cli import main
from service.config import PROJECT_ROOT, Config
from service.notify.models import Notification
from service.policy import PolicyError, parse_policy
from service.wiring import run_tick
from tests.conftest import ADMIN, START

RENAMES = {"incident_commander": "commander", "communications_lead": "comms", "technical_lead": "tech"}


def renamed(text: str) -> str:
    """The shipped policy with three role keys renamed (in [roles], the severities and [responsibilities])."""
    for old, new in RENAMES.items():
        text = text.replace(old, new)
    return text


@pytest.fixture
def config(database_url, tmp_path) -> Config:
    policy = tmp_path / "policy.toml"
    policy.write_text(renamed((PROJECT_ROOT / "schedules" / "policy.toml").read_text()))
    return Config(database_url=database_url, policy_path=str(policy), secret_key="test-secret-key",
                  base_url="http://herald.test", admin_token="test-admin-token", tick_seconds=0.2)


def sent(app, kind: str) -> list[tuple[str, str]]:
    """(recipient name, slot) of every message of `kind`, oldest first."""
    with app.app_context(), db.transaction() as s:
        rows = s.scalars(select(Notification).where(Notification.kind == kind).order_by(Notification.id))
        return [(row.recipient_name, row.slot) for row in rows]


def test_the_renamed_policy_names_its_commander_and_communicator(config):
    policy = parse_policy(open(config.policy_path).read())
    assert (policy.commander_role, policy.communicator_role, policy.handoff_severities) == \
        ("commander", "comms", ("P1", "P2"))
    assert set(policy.roles) == {"commander", "comms", "tech", "scribe", "on_call_engineer"}


def test_a_p1_runs_end_to_end_with_renamed_roles(app, client, make_person, put_on_call, frozen_clock):
    for handle, name, rotation in (("alice", "Alice Archer", "incident-commander"), ("bob", "Bob Baker", "technical-lead"),
                                   ("carol", "Carol Clark", "communications-lead"), ("dave", "Dave Dunn", "scribe")):
        make_person(handle, name)
        put_on_call(rotation, handle, START - timedelta(days=30), START + timedelta(minutes=20))
    make_person("frank", "Frank Fisher")
    put_on_call("incident-commander", "frank", START + timedelta(minutes=20), START + timedelta(days=30))

    opened = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"}, headers=ADMIN)
    assert opened.status_code == 201
    url = f"/api/incidents/{opened.get_json()['id']}"
    roles = {key: slot["person"] for key, slot in opened.get_json()["roles"].items()}
    assert roles == {"commander": "alice", "tech": "bob", "comms": "carol", "scribe": "dave", "on_call_engineer": None}
    assert sorted(name for name, _ in sent(app, "page")) == ["Alice Archer", "Bob Baker"]       # P1 pages
    assert sorted(name for name, _ in sent(app, "notice")) == ["Carol Clark", "Dave Dunn"]     # P1 notifies

    run_tick(frozen_clock.set(START + timedelta(minutes=11)) or frozen_clock.now())
    assert [name for name, _ in sent(app, "reminder")] == ["Carol Clark"]  # the communicator: update due soon
    assert ("Alice Archer", "assemble") in sent(app, "escalation")          # IC notice: team not assembled

    run_tick(frozen_clock.set(START + timedelta(minutes=21)) or frozen_clock.now())
    assert sent(app, "handoff")[0][0] == "Frank Fisher"                     # a P1 follows the rotation handoff
    roles = {key: slot["person"] for key, slot in client.get(url, headers=ADMIN).get_json()["roles"].items()}
    assert roles["commander"] == "frank"

    frozen_clock.set(START + timedelta(minutes=40))
    resolved = client.post(f"{url}/resolve", json={"root_cause": "bad deploy", "resolution": "rolled back"},
                           headers=ADMIN)
    assert resolved.status_code == 200
    assert sorted(name for name, _ in sent(app, "invite")) == \
        ["Bob Baker", "Carol Clark", "Dave Dunn", "Frank Fisher"]           # review invitations to the role owners

    run_tick(START + timedelta(minutes=40, hours=36))
    postmortem = [name for name, slot in sent(app, "reminder") if name != "Carol Clark"]
    assert postmortem == ["Frank Fisher"]                                   # the commander: post-mortem due


def test_renaming_a_role_without_saying_who_commands_is_refused():
    text = renamed((PROJECT_ROOT / "schedules" / "policy.toml").read_text())
    without = text.split("[responsibilities]")[0] + "[contacts" + text.split("[contacts", 1)[1]
    with pytest.raises(PolicyError) as info:
        parse_policy(without)
    assert dict(info.value.errors) == {
        "responsibilities.commander": "unknown role 'incident_commander' (the default; name the commander's role "
                                      "in [responsibilities] commander = ...)",
        "responsibilities.communicator": "unknown role 'communications_lead' (the default; name the communicator's "
                                         "role in [responsibilities] communicator = ...)",
    }


@pytest.mark.parametrize("line, key, message", [
    ('commander = "captain"', "responsibilities.commander", "unknown role 'captain'"),
    ('communicator = "herald"', "responsibilities.communicator", "unknown role 'herald'"),
    ('handoff_severities = ["P1", "P9"]', "responsibilities.handoff_severities[1]", "unknown severity 'P9'"),
    ('deputy = "scribe"', "responsibilities.deputy", None),
])
def test_policy_check_refuses_responsibilities_that_do_not_resolve(tmp_path, monkeypatch, line, key, message):
    text = (PROJECT_ROOT / "schedules" / "policy.toml").read_text()
    without = text.split("[responsibilities]")[0] + "[contacts" + text.split("[contacts", 1)[1]
    policy = tmp_path / "policy.toml"
    policy.write_text(f"{without}\n[responsibilities]\n{line}\n")
    for ics in (PROJECT_ROOT / "schedules").glob("*.ics"):
        (tmp_path / ics.name).write_text(ics.read_text())
    monkeypatch.setenv("HERALD_DATABASE_URL", f"sqlite:///{tmp_path}/none.db")
    result = CliRunner().invoke(main, ["policy", "check", str(policy)])
    assert result.exit_code == 1, result.output
    assert key in result.output
    if message:
        assert message in result.output


def test_policy_check_refuses_a_rotation_that_does_not_exist(tmp_path, monkeypatch):
    policy = tmp_path / "policy.toml"
    policy.write_text((PROJECT_ROOT / "schedules" / "policy.toml").read_text())
    for ics in (PROJECT_ROOT / "schedules").glob("*.ics"):
        if ics.stem != "scribe":
            (tmp_path / ics.name).write_text(ics.read_text())
    monkeypatch.setenv("HERALD_DATABASE_URL", f"sqlite:///{tmp_path}/none.db")
    result = CliRunner().invoke(main, ["policy", "check", str(policy)])
    assert result.exit_code == 1
    assert "roles.scribe.rotation: unknown rotation 'scribe'" in result.output
    assert not (tmp_path / "none.db").exists()  # checking creates no database
    (tmp_path / "scribe.ics").write_text((PROJECT_ROOT / "schedules" / "scribe.ics").read_text())
    assert CliRunner().invoke(main, ["policy", "check", str(policy)]).exit_code == 0
