"""The policy's [oncall] section: defaults, and every mistake reported with its key by `herald policy check`."""
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main
from service.config import PROJECT_ROOT
from service.policy import PolicyError, parse_policy

BASE = (PROJECT_ROOT / "schedules" / "policy.toml").read_text()
WITHOUT = BASE[:BASE.index("[oncall]")] + BASE[BASE.index("# ---- Escalation matrix"):]


def test_defaults_without_the_section():
    oncall = parse_policy(WITHOUT).oncall
    assert (oncall.notify_before, oncall.gap_horizon, oncall.gap_contacts) == (
        timedelta(hours=24), timedelta(days=14), ("engineering_manager",))
    no_manager = WITHOUT.replace("[contacts.engineering_manager]", "[contacts.someone_else]")
    no_manager = no_manager.replace('notify = ["engineering_manager"]', 'notify = ["someone_else"]')
    assert parse_policy(no_manager).oncall.gap_contacts == ()


def test_contacts_and_roles_may_be_told():
    text = WITHOUT + '\n[oncall]\nnotify_before = "2h"\ngap_contacts = ["vp_engineering", "incident_commander"]\n'
    oncall = parse_policy(text).oncall
    assert oncall.notify_before == timedelta(hours=2)
    assert oncall.gap_contacts == ("vp_engineering", "incident_commander")


def test_every_mistake_is_listed_with_its_key(tmp_path: Path):
    text = WITHOUT + '\n[oncall]\nnotify_before = "soon"\ngap_horizon = "200d"\ngap_contacts = ["nobody"]\nsnooze = 1\n'
    with pytest.raises(PolicyError) as caught:
        parse_policy(text)
    paths = [path for path, _ in caught.value.errors]
    assert paths == ["oncall.snooze", "oncall.notify_before", "oncall.gap_horizon", "oncall.gap_contacts[0]"]
    bad = tmp_path / "policy.toml"
    bad.write_text(text)
    result = CliRunner().invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "oncall.gap_contacts[0]: unknown contact or role 'nobody'" in result.output
