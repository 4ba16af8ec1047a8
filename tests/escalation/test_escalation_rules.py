"""The escalation matrix, repeat pages and the assemble check as pure rules: no database, no clock."""
from datetime import timedelta

import pytest

from service.config import PROJECT_ROOT
from service.escalation.rules import (
    assemble_deadline,
    due_escalations,
    missing_at,
    reason,
    repeat_number,
    unacknowledged_paged_roles,
)
from service.incidents.models import Incident, IncidentRole
from service.policy import load_policy
from tests.conftest import START

POLICY = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
P1 = POLICY.severities["P1"]


def incident(severity="P1", status="investigating", **fields):
    values = dict(severity=severity, status=status, started_at=START, acknowledged_at=None, mitigated_at=None,
                  data_breach_suspected=False, financial_impact=None)
    values.update(fields)
    return Incident(**values)


def names(inc, now):
    return [rule.name for rule in due_escalations(POLICY, inc, now)]


@pytest.mark.parametrize("minutes, fired", [(0, []), (14, []), (15, ["P1 not acknowledged"]),
                                            (59, ["P1 not acknowledged"]),
                                            (60, ["P1 not acknowledged", "P1 not mitigated"])])
def test_p1_unacknowledged_and_unmitigated_after_their_delays(minutes, fired):
    assert names(incident(), START + timedelta(minutes=minutes)) == fired


def test_acknowledged_or_mitigated_in_time_never_escalates():
    inc = incident(acknowledged_at=START + timedelta(minutes=4), mitigated_at=START + timedelta(minutes=50))
    assert names(inc, START + timedelta(hours=3)) == []


def test_time_rules_are_for_p1_only_and_open_incidents_only():
    assert names(incident("P2"), START + timedelta(hours=5)) == []
    for status in ("resolved", "closed"):
        assert names(incident(status=status), START + timedelta(hours=5)) == []
    assert names(incident(status="monitoring", mitigated_at=START + timedelta(minutes=30)),
                 START + timedelta(hours=2)) == ["P1 not acknowledged"]


@pytest.mark.parametrize("severity", ["P1", "P2", "P3", "P4"])
def test_data_breach_fires_at_once_for_every_severity(severity):
    inc = incident(severity, data_breach_suspected=True, acknowledged_at=START)
    assert names(inc, START) == ["Data breach suspected"]


def test_data_breach_still_reported_after_resolution_but_not_once_closed():
    assert names(incident("P3", status="resolved", data_breach_suspected=True), START) == ["Data breach suspected"]
    assert names(incident("P3", status="closed", data_breach_suspected=True), START) == []


@pytest.mark.parametrize("amount, fired", [(None, []), (0.0, []), (10000.0, []), (10000.01, ["Financial impact"]),
                                           (2_500_000.0, ["Financial impact"])])
def test_financial_impact_over_the_threshold(amount, fired):
    assert names(incident("P2", financial_impact=amount), START) == fired


@pytest.mark.parametrize("minutes, number", [(0, 0), (4, 0), (5, 1), (9, 1), (10, 2), (24, 4), (25, 5), (26, 5),
                                             (600, 5)])
def test_repeat_number_every_acknowledge_within_up_to_five(minutes, number):
    assert repeat_number(START, P1.acknowledge_within, START + timedelta(minutes=minutes)) == number


def test_no_repeats_without_acknowledge_within():
    assert repeat_number(START, None, START + timedelta(hours=5)) == 0


def roles(*slots):
    inc = incident()
    inc.roles = [IncidentRole(role=role, person_id=person, acknowledged_at=acked) for role, person, acked in slots]
    return inc


def test_unacknowledged_paged_roles_ignores_notified_roles_and_empty_slots():
    inc = roles(("incident_commander", 1, None), ("technical_lead", 2, START), ("communications_lead", 3, None),
                ("scribe", None, None))
    assert [s.role for s in unacknowledged_paged_roles(inc, P1)] == ["incident_commander"]


def test_missing_at_the_assemble_deadline():
    deadline = assemble_deadline(roles(), P1)
    assert deadline == START + timedelta(minutes=10)
    assembled = roles(("incident_commander", 1, START + timedelta(minutes=2)),
                      ("technical_lead", 2, START + timedelta(minutes=10)))
    assert missing_at(assembled, P1, deadline) == []
    late = roles(("incident_commander", 1, START + timedelta(minutes=2)),
                 ("technical_lead", 2, START + timedelta(minutes=11)))
    assert missing_at(late, P1, deadline) == ["technical_lead"]
    nobody = roles(("incident_commander", 1, START), ("technical_lead", None, None))
    assert missing_at(nobody, P1, deadline) == ["technical_lead"]
    assert assemble_deadline(roles(), POLICY.severities["P2"]) is None


def test_reasons_in_words():
    by_name = {rule.name: rule for rule in POLICY.escalations}
    inc = incident(financial_impact=25000.0)
    assert reason(by_name["P1 not acknowledged"], inc) == "P1 not acknowledged within 15 minutes"
    assert reason(by_name["P1 not mitigated"], inc) == "P1 not mitigated within 1 hour"
    assert reason(by_name["Data breach suspected"], inc) == "data breach suspected"
    assert reason(by_name["Financial impact"], inc) == "financial impact 25,000.00 is over 10,000.00"
