"""Escalation chains in the policy: `acknowledge_within` and `then`, and what `herald policy check` refuses."""
from datetime import timedelta

import pytest
from click.testing import CliRunner

from service.cli import main
from service.policy import ChainStep, PolicyError, parse_policy
from tests.policy.test_policy import GOOD

RULE = '''[[escalations]]
name = "P1 not acknowledged"
severities = ["P1"]
condition = "not_acknowledged"
after = "15m"
notify = ["engineering_manager"]
acknowledge_within = "15m"
then = [{notify = ["vp_engineering"]}]
'''
assert RULE in GOOD


def with_rule(text: str) -> str:
    return GOOD.replace(RULE, text)


def errors_of(text: str) -> dict[str, str]:
    with pytest.raises(PolicyError) as info:
        parse_policy(text)
    return dict(info.value.errors)


def test_the_example_chain():
    rule = parse_policy(GOOD).escalations[0]
    assert rule.acknowledge_within == timedelta(minutes=15)
    assert rule.then == (ChainStep(notify=("vp_engineering",)),)
    assert (rule.contacts(0), rule.contacts(1)) == (("engineering_manager",), ("vp_engineering",))
    assert rule.wait(0) == rule.wait(1) == timedelta(minutes=15)  # a step without its own time takes the rule's
    plain = parse_policy(GOOD).escalations[1]
    assert (plain.acknowledge_within, plain.then, plain.last_step) == (None, (), 0)


def test_a_longer_chain_with_times_of_its_own():
    text = with_rule(RULE.replace('then = [{notify = ["vp_engineering"]}]',
                                  'then = [{notify = ["vp_engineering"], acknowledge_within = "30m"},\n'
                                  '        {notify = ["legal", "business_operations"]}]'))
    rule = parse_policy(text).escalations[0]
    assert [rule.wait(n) for n in range(3)] == [timedelta(minutes=15), timedelta(minutes=30), timedelta(minutes=15)]
    assert rule.contacts(2) == ("legal", "business_operations")


def test_unknown_contacts_and_bad_steps_are_refused_with_their_key_paths():
    text = with_rule(RULE.replace('then = [{notify = ["vp_engineering"]}]',
                                  'then = [{notify = ["cto"]}, {notify = []}, {notify = ["legal"], '
                                  'acknowledge_within = "soon", escalate = true}, "vp_engineering"]'))
    errors = errors_of(text)
    assert errors["escalations[0].then[0].notify[0]"] == "unknown contact 'cto'"
    assert errors["escalations[0].then[1].notify"] == "names no contact"
    assert "not a duration" in errors["escalations[0].then[2].acknowledge_within"]
    assert errors["escalations[0].then[2].escalate"] == "unknown key"
    assert errors["escalations[0].then[3]"] == "must be a table"
    assert "must be an array" in errors_of(with_rule(RULE.replace(
        'then = [{notify = ["vp_engineering"]}]', 'then = "vp_engineering"')))["escalations[0].then"]


def test_a_chain_that_loops_is_refused():
    back = with_rule(RULE.replace('then = [{notify = ["vp_engineering"]}]',
                                  'then = [{notify = ["vp_engineering"]}, {notify = ["engineering_manager"]}]'))
    errors = errors_of(back)
    assert errors["escalations[0].then[1].notify[0]"] == (
        "loops: 'engineering_manager' reaches whom step 0 of this chain already notified "
        "(a chain only moves on to new contacts)")
    itself = with_rule(RULE.replace('then = [{notify = ["vp_engineering"]}]', 'then = [{notify = ["engineering_manager"]}]'))
    assert "loops" in errors_of(itself)["escalations[0].then[0].notify[0]"]


def test_two_contacts_that_reach_the_same_address_or_rotation_loop_too():
    text = GOOD.replace('[contacts.vp_engineering]\ntitle = "VP Engineering"\nemail = ["vp-engineering@example.com"]',
                        '[contacts.vp_engineering]\ntitle = "VP Engineering"\nemail = ["ENG-MANAGER@example.com"]')
    assert "loops" in errors_of(text)["escalations[0].then[0].notify[0]"]
    text = GOOD.replace('email = ["eng-manager@example.com"]', 'email = ["eng-manager@example.com"]\nrotation = "leads"')
    text = text.replace('email = ["vp-engineering@example.com"]', 'email = ["vp-engineering@example.com"]\nrotation = "leads"')
    assert "loops" in errors_of(text)["escalations[0].then[0].notify[0]"]


def test_a_step_with_a_next_step_needs_a_time():
    text = with_rule(RULE.replace('acknowledge_within = "15m"\n', ''))
    assert "is required" in errors_of(text)["escalations[0].acknowledge_within"]
    text = with_rule(RULE.replace('acknowledge_within = "15m"\n', 'acknowledge_within = "0s"\n'))
    assert "must be positive" in errors_of(text)["escalations[0].acknowledge_within"]
    # The last step may go without one: then nothing follows it, not even the "unanswered" note.
    last = parse_policy(with_rule(RULE.replace('acknowledge_within = "15m"\n', '').replace(
        'then = [{notify = ["vp_engineering"]}]', 'then = []'))).escalations[0]
    assert (last.wait(0), last.then) == (None, ())


def test_two_rules_with_one_name_are_refused():
    text = GOOD.replace('name = "P1 not mitigated"', 'name = "P1 not acknowledged"')
    assert "another escalation is called 'P1 not acknowledged'" in errors_of(text)["escalations[1].name"]


def test_policy_check_lists_chain_errors(tmp_path):
    bad = tmp_path / "loop.toml"
    bad.write_text(with_rule(RULE.replace('then = [{notify = ["vp_engineering"]}]',
                                          'then = [{notify = ["engineering_manager"]}]')))
    result = CliRunner().invoke(main, ["policy", "check", str(bad)])
    assert result.exit_code == 1
    assert "escalations[0].then[0].notify[0]: loops" in result.output
