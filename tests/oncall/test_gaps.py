"""Coverage gaps: listed, exported as a metric, and sent once per new gap to the policy's gap contacts."""
from datetime import datetime, timezone

from tests.conftest import ADMIN
from tests.rotations.helpers import vcalendar

UTC = timezone.utc
IC = "incident-commander"

# Alice Mon 2 Mar 09:00 - Wed 4 Mar 09:00; nothing until Thu 5 Mar 09:00; "On call: Zed" (nobody known) until
# Fri 6 Mar 09:00; Bob from then on for a week.
GAPPY = vcalendar(
    "UID:1@t\nDTSTART:20260302T090000Z\nDTEND:20260304T090000Z\nSUMMARY:On call: Alice Archer",
    "UID:2@t\nDTSTART:20260305T090000Z\nDTEND:20260306T090000Z\nSUMMARY:On call: Zed",
    "UID:3@t\nDTSTART:20260306T090000Z\nDTEND:20260313T090000Z\nSUMMARY:On call: Bob Baker",
)


def gaps(client, query=""):
    response = client.get(f"/api/rotations/{IC}/gaps{query}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_gaps_are_listed_with_their_label(client, people, put_calendar):
    put_calendar(IC, GAPPY)
    assert gaps(client, "?to=2026-03-13T09:00:00Z") == [
        {"start": "2026-03-04T09:00:00Z", "end": "2026-03-05T09:00:00Z", "label": None},
        {"start": "2026-03-05T09:00:00Z", "end": "2026-03-06T09:00:00Z", "label": "On call: Zed"},
    ]
    # by default the policy's gap_horizon (14 days): the rotation is empty after Bob's week
    assert gaps(client)[-1] == {"start": "2026-03-13T09:00:00Z", "end": "2026-03-16T10:00:00Z", "label": None}
    # an override fills a gap
    client.post(f"/api/rotations/{IC}/overrides", headers=ADMIN,
                json={"person": "carol", "start": "2026-03-04T09:00:00Z", "end": "2026-03-05T09:00:00Z"})
    assert gaps(client, "?to=2026-03-13T09:00:00Z") == [
        {"start": "2026-03-05T09:00:00Z", "end": "2026-03-06T09:00:00Z", "label": "On call: Zed"}]
    assert client.get(f"/api/rotations/{IC}/gaps?from=2026-03-05T00:00:00Z&to=2026-03-01T00:00:00Z",
                      headers=ADMIN).status_code == 422
    assert client.get("/api/rotations/nope/gaps", headers=ADMIN).status_code == 404


def test_each_new_gap_is_sent_once_to_the_gap_contacts(client, people, put_calendar, outbox, tick):
    put_calendar(IC, GAPPY)
    tick()
    sent = [r for r in outbox("coverage_gap") if "Incident Commander" in r["payload"]["subject"]]
    assert {r["recipient"] for r in sent} == {"eng-manager@example.com"}
    subjects = sorted(r["payload"]["subject"] for r in sent)
    assert subjects == ["⚠️ Nobody on call: Incident Commander from Fri 13 Mar 2026 09:00 UTC",
                        "⚠️ Nobody on call: Incident Commander from Thu 5 Mar 2026 09:00 UTC",
                        "⚠️ Nobody on call: Incident Commander from Wed 4 Mar 2026 09:00 UTC"]
    assert any('"On call: Zed" names nobody Herald knows' in r["payload"]["text"] for r in sent)
    tick(datetime(2026, 3, 2, 12, tzinfo=UTC))
    tick(datetime(2026, 3, 4, 12, tzinfo=UTC))  # inside the first gap: it is the same gap, not a new one
    assert len([r for r in outbox("coverage_gap") if "Incident Commander" in r["payload"]["subject"]]) == 3


def test_rotations_no_calendar_feeds_are_whole_gaps(client, people, put_calendar, outbox, tick):
    """The policy's roles name five rotations; only one has a calendar. The others are gaps, loudly."""
    put_calendar(IC, GAPPY)
    tick()
    missing = [r for r in outbox("coverage_gap") if "rotation technical-lead" in r["payload"]["text"]]
    assert len(missing) == 1
    tick(datetime(2026, 3, 2, 12, tzinfo=UTC))
    assert len([r for r in outbox("coverage_gap") if "rotation technical-lead" in r["payload"]["text"]]) == 1
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'herald_rotation_uncovered_seconds{rotation="technical-lead"} 604800.0' in metrics
    # Wed 4 Mar 09:00 - Fri 6 Mar 09:00 within the next 7 days (Mon 2 Mar 12:00 - Mon 9 Mar 12:00): 48 hours
    assert 'herald_rotation_uncovered_seconds{rotation="incident-commander"} 172800.0' in metrics


def test_a_rotation_no_role_uses_warns_and_a_used_one_is_not_deleted_lightly(client, people, put_calendar):
    report = put_calendar("incident-comander", GAPPY)  # a typo
    assert report["warnings"][0].startswith("no role or contact of the policy uses rotation 'incident-comander'")
    assert "'incident-commander'" in report["warnings"][0]
    assert not any("no role" in w for w in put_calendar(IC, GAPPY)["warnings"])
    assert client.delete(f"/api/rotations/{IC}", headers=ADMIN).status_code == 409
    assert client.delete("/api/rotations/incident-comander", headers=ADMIN).status_code == 204
    assert client.delete(f"/api/rotations/{IC}?force=1", headers=ADMIN).status_code == 204


def test_the_board_shows_the_gaps(client, people, put_calendar, token_for):
    from tests.web.test_web_board import sign_in

    put_calendar(IC, GAPPY)
    sign_in(client, token_for("read")["Authorization"].split()[1])
    page = client.get("/board/live").get_data(as_text=True)
    assert "Nobody on call" in page
    assert "“On call: Zed” names nobody Herald knows" in page
    assert "no event in rotation “incident-commander”" in page
    assert "no event in rotation “technical-lead”" in page  # a rotation the policy names but Herald lacks
