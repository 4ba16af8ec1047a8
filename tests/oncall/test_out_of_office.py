"""Out of office through Microsoft Graph (the HTTPS double): automatic replies and calendar events shown as
out of office, checked against the next two weeks of shifts; the person and the gap contacts are warned once."""
from datetime import datetime, timezone

import pytest

from service.oncall.leave import graph_time
from tests.conftest import ADMIN

from .conftest import weekly

UTC = timezone.utc
IC = "incident-commander"


@pytest.fixture
def graph_configured(config, graph):
    config.graph_tenant_id, config.graph_client_id, config.graph_client_secret = "contoso-tenant", "herald-app", \
        "s3cret"
    config.graph_authority, config.graph_url = graph.authority, graph.graph_url
    return graph


def test_graph_times_in_utc_and_windows_zones():
    assert graph_time({"dateTime": "2026-03-09T00:00:00.0000000", "timeZone": "UTC"}) == datetime(2026, 3, 9,
                                                                                                  tzinfo=UTC)
    # Outlook writes Windows zone names: AUS Eastern Standard Time is Sydney (AEDT, +11, in March)
    assert graph_time({"dateTime": "2026-03-09T09:00:00.0000000", "timeZone": "AUS Eastern Standard Time"}) == \
        datetime(2026, 3, 8, 22, tzinfo=UTC)
    assert graph_time({"dateTime": "", "timeZone": "UTC"}) is None


def test_people_away_during_their_shifts_are_warned_once(client, people, put_calendar, outbox, tick,
                                                         graph_configured):
    graph = graph_configured
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))  # alice until Mon 9 Mar 09:00, bob the week after
    graph.add_user("alice@example.com")  # in the office
    graph.add_user("bob@example.com", replies={
        "status": "scheduled",
        "scheduledStartDateTime": {"dateTime": "2026-03-11T00:00:00.0000000", "timeZone": "UTC"},
        "scheduledEndDateTime": {"dateTime": "2026-03-13T00:00:00.0000000", "timeZone": "UTC"}})
    graph.add_user("carol@example.com", events=[
        {"id": f"e{i}", "subject": f"Meeting {i}", "showAs": "busy", "isCancelled": False,
         "start": {"dateTime": f"2026-03-0{3 + i % 5}T10:00:00.0000000", "timeZone": "UTC"},
         "end": {"dateTime": f"2026-03-0{3 + i % 5}T11:00:00.0000000", "timeZone": "UTC"}} for i in range(60)
    ] + [{"id": "leave", "subject": "Skiing", "showAs": "oof", "isCancelled": False,
          "start": {"dateTime": "2026-03-04T00:00:00.0000000", "timeZone": "UTC"},
          "end": {"dateTime": "2026-03-06T00:00:00.0000000", "timeZone": "UTC"}}])
    client.post(f"/api/rotations/{IC}/overrides", headers=ADMIN, json={  # carol covers while she is skiing
        "person": "carol", "start": "2026-03-05T09:00:00Z", "end": "2026-03-05T17:00:00Z"})
    tick()

    warnings = [r for r in outbox("coverage_gap") if "out of office" in r["payload"]["subject"]]
    assert sorted((r["recipient"], r["payload"]["subject"]) for r in warnings) == [
        ("bob@example.com",  # in his own zone
         "🏖️ Bob Baker is on call but out of office: Incident Commander Mon 9 Mar 2026 20:00 AEDT"),
        ("carol@example.com",
         "🏖️ Carol Chen is on call but out of office: Incident Commander Thu 5 Mar 2026 09:00 UTC"),
        ("eng-manager@example.com",
         "🏖️ Bob Baker is on call but out of office: Incident Commander Mon 9 Mar 2026 09:00 UTC"),
        ("eng-manager@example.com",
         "🏖️ Carol Chen is on call but out of office: Incident Commander Thu 5 Mar 2026 09:00 UTC"),
    ]
    bob = next(r for r in warnings if r["recipient"] == "bob@example.com")
    assert "automatic replies: Wed 11 Mar 2026 11:00 AEDT – Fri 13 Mar 2026 11:00 AEDT" in bob["payload"]["text"]
    carol = next(r for r in warnings if r["recipient"] == "carol@example.com")
    assert '"Skiing"' in carol["payload"]["text"]  # found on the second page of her calendar view
    queries = [q for path, q in graph.user_requests if path.endswith("/calendarView")]
    assert all(q["startDateTime"] == ["2026-03-02T10:00:00Z"] for q in queries)

    tick(datetime(2026, 3, 2, 11, 0, 1, tzinfo=UTC))  # the next hourly check finds the same clashes: no repeat
    assert len([r for r in outbox("coverage_gap") if "out of office" in r["payload"]["subject"]]) == 4


def test_a_person_graph_does_not_know_is_skipped(client, people, put_calendar, outbox, tick, graph_configured):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))
    graph_configured.add_user("bob@example.com", replies={"status": "alwaysEnabled"})
    tick()  # alice is unknown to Graph (404): skipped; bob is away all the time
    subjects = [r["payload"]["subject"] for r in outbox("coverage_gap") if "out of office" in r["payload"]["subject"]]
    assert sorted(subjects) == [
        "🏖️ Bob Baker is on call but out of office: Incident Commander Mon 9 Mar 2026 09:00 UTC",  # the manager
        "🏖️ Bob Baker is on call but out of office: Incident Commander Mon 9 Mar 2026 20:00 AEDT"]  # bob
