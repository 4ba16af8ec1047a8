"""The public texts of stakeholder updates follow the guide's three templates; the banner follows severities."""
from datetime import timedelta

import pytest

from service.config import PROJECT_ROOT
from service.incidents.models import Incident, IncidentUpdate
from service.policy import load_policy
from service.web.public import overall_state, public_incident, update_text
from tests.conftest import START


@pytest.fixture(scope="module")
def policy():
    return load_policy(str(PROJECT_ROOT / "schedules" / "policy.toml"))


def incident(severity="P1", status="investigating", **extra):
    return Incident(id=1, number="INC-20260302-1", title="Orders are failing", severity=severity, status=status,
                    impact="Nobody can place orders", started_at=START, **extra)


def update(kind, minutes=0, **fields):
    base = {"status": "investigating", "impact": "Nobody can place orders", "learned": "", "doing": "",
            "root_cause": "", "resolution": ""}
    return IncidentUpdate(id=minutes + 1, incident_id=1, kind=kind, posted_at=START + timedelta(minutes=minutes),
                          **{**base, **fields})


def test_initial_update_is_the_guides_initial_template(policy):
    assert update_text(incident(), update("initial"), policy) == (
        "🔴 INCIDENT: Orders are failing\n"
        "\n"
        "Status: Investigating\n"
        "Impact: Nobody can place orders\n"
        "Started: Mon 2 Mar 2026 10:00 UTC\n"
        "\n"
        "We are aware of the issue and actively investigating.\n"
        "Updates will be posted every 15 minutes."
    )


def test_initial_update_without_cadence_promises_no_interval(policy):
    text = update_text(incident("P3"), update("initial", impact=""), policy)
    assert "Impact: Being assessed" in text
    assert text.endswith("Updates will be posted as the investigation progresses.")
    assert "every" not in text


def test_progress_update_carries_duration_learned_doing_and_next_update(policy):
    text = update_text(incident("P2"), update("progress", minutes=95, status="mitigating",
                                              learned="A disk on the primary database is full.",
                                              doing="We are failing over to the replica."), policy)
    assert text == (
        "🟡 UPDATE: Orders are failing\n"
        "\n"
        "Status: Mitigating\n"
        "Impact: Nobody can place orders\n"
        "Duration: 1 hour 35 minutes\n"
        "\n"
        "What we've learned: A disk on the primary database is full.\n"
        "What we're doing: We are failing over to the replica.\n"
        "\n"
        "Next update in 30 minutes."
    )


def test_automatic_progress_update_says_work_continues(policy):
    text = update_text(incident(), update("progress", minutes=15, automatic=True), policy)
    assert ("The response team is still working on this incident. There is nothing new to report since the "
            "last update.\n\nNext update in 15 minutes.") in text
    assert "\n\n\n" not in text


def test_resolution_update_promises_a_post_mortem_only_where_policy_wants_one(policy):
    fields = {"status": "resolved", "root_cause": "A full disk.", "resolution": "Failed over and grew the disk."}
    p1 = update_text(incident(), update("resolution", minutes=125, **fields), policy)
    assert p1 == (
        "🟢 RESOLVED: Orders are failing\n"
        "\n"
        "Status: Resolved\n"
        "Duration: 2 hours 5 minutes\n"
        "Impact: Nobody can place orders\n"
        "\n"
        "Root cause: A full disk.\n"
        "Resolution: Failed over and grew the disk.\n"
        "\n"
        "A full post-mortem will be conducted."
    )
    p3 = update_text(incident("P3"), update("resolution", minutes=5, **fields), policy)
    assert p3.endswith("Resolution: Failed over and grew the disk.\n\nA post-mortem will be held if the review finds it useful.")


def test_override_folder_replaces_a_template(policy, tmp_path):
    folder = tmp_path / "web" / "public"
    folder.mkdir(parents=True)
    (folder / "initial.txt.j2").write_text("Problem with {{ title }} ({{ status }})\n")
    text = update_text(incident(), update("initial"), policy, templates_dir=str(tmp_path))
    assert text == "Problem with Orders are failing (Investigating)"
    # The other kinds still come from the defaults.
    assert update_text(incident(), update("progress", minutes=1), policy, templates_dir=str(tmp_path)).startswith("🟡")


def test_public_incident_lists_updates_newest_first_and_closed_reads_resolved(policy):
    closed = incident(status="closed", resolved_at=START + timedelta(hours=2))
    shown = public_incident(closed, [update("initial"), update("resolution", minutes=120, status="resolved",
                                                                root_cause="x", resolution="y"),
                                     update("progress", minutes=30)], policy)
    assert [u.kind for u in shown.updates] == ["resolution", "progress", "initial"]
    assert shown.status_label == "Resolved"
    assert shown.updates[0].headline == "🟢 RESOLVED: Orders are failing"


@pytest.mark.parametrize("open_incidents, expected", [
    ([], "operational"),
    ([("P4", "investigating")], "degraded"),
    ([("P2", "identified"), ("P3", "investigating")], "degraded"),
    ([("P3", "investigating"), ("P1", "mitigating")], "major_outage"),
    ([("P1", "monitoring")], "degraded"),  # impact mitigated: no longer an outage
])
def test_overall_state_from_open_severities(policy, open_incidents, expected):
    rows = [incident(sev, status) for sev, status in open_incidents]
    assert overall_state(rows, policy)[0] == expected


def test_a_broken_override_falls_back_to_the_default_wording(policy, tmp_path, caplog):
    folder = tmp_path / "web" / "public"
    folder.mkdir(parents=True)
    (folder / "progress.txt.j2").write_text("{{ title }} — {{ assignee }}\n")  # no such variable: public only
    text = update_text(incident(), update("progress", minutes=3), policy, templates_dir=str(tmp_path))
    assert text.startswith("🟡 UPDATE: Orders are failing")
    assert "public template" in caplog.text and "using the default" in caplog.text


def test_herald_templates_check_covers_the_public_texts(monkeypatch, tmp_path):
    from click.testing import CliRunner

    from service.cli import main

    folder = tmp_path / "web" / "public"
    folder.mkdir(parents=True)
    (folder / "initial.txt.j2").write_text("{{ title }} handled by {{ roles }}\n")
    monkeypatch.setenv("HERALD_TEMPLATES", str(tmp_path))
    result = CliRunner().invoke(main, ["templates", "check"])
    assert result.exit_code == 1
    assert "FAIL  web/public/initial.txt.j2: UndefinedError: 'roles' is undefined" in result.output
    assert "ok    web/public/progress.txt.j2" in result.output
