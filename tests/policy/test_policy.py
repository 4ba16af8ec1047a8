"""The policy loader: the guide's values, and every kind of error with its key path."""
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

import pytest
from click.testing import CliRunner

from service.cli import main
from service.config import PROJECT_ROOT
from service.policy import PolicyError, duration_in_words, load_policy, parse_duration, parse_policy

POLICY = PROJECT_ROOT / "schedules" / "policy.toml"


@pytest.fixture(scope="module")
def policy():
    return load_policy(POLICY)


def test_severity_table_matches_the_guide(policy):
    assert [s.respond_within for s in (policy.severities["P1"], policy.severities["P2"], policy.severities["P3"])] == [
        timedelta(minutes=15), timedelta(minutes=30), timedelta(hours=2)]
    p4 = policy.severities["P4"]
    assert p4.respond_within is None and p4.respond_next_business_day
    assert policy.severities["P1"].name == "Critical"
    assert policy.severities["P1"].description == "Complete outage, data loss risk"


def test_p1_procedure_and_cadence(policy):
    p1, p2 = policy.severities["P1"], policy.severities["P2"]
    assert p1.acknowledge_within == timedelta(minutes=5)
    assert p1.assemble_within == timedelta(minutes=10)
    assert p1.update_every == timedelta(minutes=15)
    assert p2.update_every == timedelta(minutes=30)
    assert p2.acknowledge_within == timedelta(minutes=15)
    assert p1.page == ("incident_commander", "technical_lead")
    assert "communications_lead" in p1.notify
    assert policy.severities["P3"].update_every is None
    assert policy.severities["P4"].business_hours_only


def test_roles_contacts_escalations_postmortems(policy):
    assert set(policy.roles) == {"incident_commander", "technical_lead", "communications_lead", "scribe",
                                 "on_call_engineer"}
    assert {"engineering_manager", "vp_engineering", "security_team", "legal", "business_operations",
            "stakeholders"} <= set(policy.contacts)
    rules = {r.condition: r for r in policy.escalations}
    assert rules["not_acknowledged"].after == timedelta(minutes=15)
    assert rules["not_acknowledged"].notify == ("engineering_manager",)
    assert rules["not_acknowledged"].severities == ("P1",)
    assert rules["not_mitigated"].after == timedelta(hours=1)
    assert rules["not_mitigated"].notify == ("vp_engineering",)
    assert rules["data_breach_suspected"].notify == ("security_team", "legal")
    assert rules["financial_impact_over"].notify == ("business_operations",)
    assert rules["financial_impact_over"].threshold is not None
    assert policy.severities["P1"].postmortem_within == timedelta(hours=48)
    assert policy.severities["P2"].postmortem_within == timedelta(days=7)
    assert policy.severities["P3"].postmortem_within is None
    assert policy.severity_map == {"critical": "P1", "error": "P2", "warning": "P3", "info": "P4"}


def test_business_hours(policy):
    hours = policy.business_hours
    assert hours.days == (0, 1, 2, 3, 4)
    assert (hours.start, hours.end) == (time(9), time(17))


GOOD = POLICY.read_text()


def errors_of(text: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    return dict(info.value.errors)


def test_every_error_is_reported_with_its_key_path():
    broken = GOOD.replace('respond_within = "15m"', 'respond_within = "soon"', 1)
    broken = broken.replace('page = ["incident_commander", "technical_lead"]',
                            'page = ["incident_commander", "techlead"]', 1)
    broken = broken.replace('stakeholders = ["stakeholders"]', 'stakeholders = ["board"]', 1)
    broken = broken.replace('condition = "not_mitigated"', 'condition = "on_fire"')
    broken = broken.replace("threshold = 10000\n", "")
    broken = broken.replace('[alerts.severity_map]', '[alerts]\ncolour = "red"\n\n[alerts.severity_map]')
    broken = broken.replace('info = "P4"', 'info = "P9"')
    errors = errors_of(broken)
    assert "not a duration" in errors["severities.P1.respond_within"]
    assert errors["severities.P1.page[1]"] == "unknown role 'techlead'"
    assert errors["severities.P1.stakeholders[0]"] == "unknown contact 'board'"
    assert "unknown condition 'on_fire'" in errors["escalations[1].condition"]
    assert errors["escalations[3].threshold"] == "is required for financial_impact_over"
    assert errors["alerts.colour"] == "unknown key"
    assert errors["alerts.severity_map.info"] == "unknown severity 'P9'"
    assert len(errors) == 7


def test_unknown_keys_and_bad_values():
    text = GOOD.replace('name = "Critical"', 'name = "Critical"\nupdate_evry = "15m"', 1)
    text = text.replace('notify = ["engineering_manager"]', 'notify = ["cto"]', 1)
    text = text.replace('timezone = "UTC"', 'timezone = "Mars/Olympus"')
    text = text.replace('channels = ["teams", "email"]', 'channels = ["pager"]', 1)
    errors = errors_of(text)
    assert errors["severities.P1.update_evry"] == "unknown key"
    assert errors["escalations[0].notify[0]"] == "unknown contact 'cto'"
    assert "unknown time zone" in errors["timezone"]
    assert "unknown channel 'pager'" in errors["severities.P1.channels[0]"]


def test_not_toml():
    assert "not valid TOML" in errors_of("severities = [")[""]


def test_policy_check_command(tmp_path):
    runner = CliRunner()
    ok = runner.invoke(main, ["policy", "check", str(POLICY)])
    assert ok.exit_code == 0, ok.output
    assert "ok" in ok.output
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('after = "15m"', 'after = "15 minutes"'))
    result = runner.invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "escalations[0].after" in result.output


@pytest.mark.parametrize("text,expected", [
    ("30s", timedelta(seconds=30)), ("5m", timedelta(minutes=5)), ("1h30m", timedelta(minutes=90)),
    ("48h", timedelta(hours=48)), ("7d", timedelta(days=7)), ("2w", timedelta(days=14)),
])
def test_parse_duration(text, expected):
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "5", "m5", "5 minutes", "0m", "-5m", "1.5h"])
def test_parse_duration_rejects(text):
    with pytest.raises(ValueError):
        parse_duration(text)


def test_duration_in_words():
    assert duration_in_words(timedelta(minutes=15)) == "15 minutes"
    assert duration_in_words(timedelta(hours=1, minutes=1)) == "1 hour 1 minute"
    assert duration_in_words(timedelta(days=2, hours=3)) == "2 days 3 hours"
    assert duration_in_words(timedelta(seconds=42)) == "42 seconds"
