"""Deadlines, the review meeting and its invitation, driven through the incident lifecycle."""
from datetime import datetime, timezone

import icalendar
import pytest

from service import db
from service.incidents.models import Incident
from service.reviews import review
from service.reviews.invitation import to_ical
from tests.conftest import ADMIN

UTC = timezone.utc


@pytest.fixture
def open_and_resolve(new_incident, resolve, frozen_clock):
    """An incident of `severity` resolved 40 minutes after it opened (Monday 10:40)."""
    def run(severity: str = "P1"):
        url = new_incident(severity)
        frozen_clock.advance(minutes=40)
        return url, resolve(url)

    return run


def test_p1_resolution_sets_the_deadline_and_books_the_review(client, crew, open_and_resolve):
    url, incident = open_and_resolve()
    assert incident["postmortem_due_at"] == "2026-03-04T10:40:00Z"  # 48 h
    meeting = client.get(f"{url}/review", headers=ADMIN).get_json()
    assert meeting["start"] == "2026-03-03T11:00:00Z"
    assert meeting["end"] == "2026-03-03T12:00:00Z"
    assert meeting["sequence"] == 0
    assert meeting["status"] == "scheduled" and meeting["done"] is False
    assert meeting["within_deadline"] is True
    assert meeting["uid"] == "review-inc-20260302-1@herald.test"
    assert [a["person"] for a in meeting["attendees"]] == ["alice", "bob"]  # alice holds two roles: once


def test_p2_deadline_is_a_week(crew, open_and_resolve):
    url, incident = open_and_resolve("P2")
    assert incident["postmortem_due_at"] == "2026-03-09T10:40:00Z"


@pytest.mark.parametrize("severity", ["P3", "P4"])
def test_p3_p4_review_is_optional(client, crew, severity, open_and_resolve):
    url, incident = open_and_resolve(severity)
    assert incident["postmortem_due_at"] is None
    assert client.get(f"{url}/review", headers=ADMIN).status_code == 404
    # ...but can be booked by hand.
    booked = client.put(f"{url}/review", json={"start": "2026-03-05T14:00:00Z"}, headers=ADMIN)
    assert booked.status_code == 200, booked.get_json()
    assert booked.get_json()["end"] == "2026-03-05T15:00:00Z"
    assert booked.get_json()["within_deadline"] is True


def test_invitation_parsed_back_field_by_field(app, crew, frozen_clock, open_and_resolve):
    url, incident = open_and_resolve()
    with app.app_context():
        s = db.session
        row = s.get(Incident, incident["id"])
        meeting = review.meeting_of(s, row)
        ics = to_ical(review.invitation_for(row, meeting, review.attendees_of(s, meeting)),
                      stamp=frozen_clock.now())
    cal = icalendar.Calendar.from_ical(ics)
    assert str(cal["METHOD"]) == "REQUEST"
    assert str(cal["VERSION"]) == "2.0"
    assert str(cal["PRODID"]).startswith("-//Herald//")
    [event] = cal.walk("VEVENT")
    assert str(event["UID"]) == "review-inc-20260302-1@herald.test"
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == datetime(2026, 3, 3, 11, tzinfo=UTC)
    assert event.decoded("DTEND") == datetime(2026, 3, 3, 12, tzinfo=UTC)
    assert event.decoded("DTSTAMP") == datetime(2026, 3, 2, 10, 40, tzinfo=UTC)
    assert str(event["SUMMARY"]) == "Post-incident review: INC-20260302-1 Orders are failing"
    assert "Post-mortem due by 2026-03-04 10:40 UTC." in str(event["DESCRIPTION"])
    assert str(event["URL"]) == "http://herald.test/console/incidents/INC-20260302-1/postmortem"
    assert str(event["STATUS"]) == "CONFIRMED"
    organizer = event["ORGANIZER"]
    assert str(organizer) == "mailto:herald@localhost"
    assert organizer.params["CN"] == "Herald"
    attendees = event["ATTENDEE"]
    assert [str(a) for a in attendees] == ["mailto:alice@example.com", "mailto:bob@example.com"]
    assert [a.params["CN"] for a in attendees] == ["Alice Archer", "Bob Baker"]
    for attendee in attendees:
        assert attendee.params["ROLE"] == "REQ-PARTICIPANT"
        assert attendee.params["PARTSTAT"] == "NEEDS-ACTION"
        assert attendee.params["RSVP"] == "TRUE"


def test_put_review_moves_it_and_raises_the_sequence(client, crew, token_for, open_and_resolve):
    url, _ = open_and_resolve()
    writer = token_for("read", "write")
    moved = client.put(f"{url}/review", json={"start": "2026-03-03T15:00:00Z", "end": "2026-03-03T15:30:00Z"},
                       headers=writer)
    assert moved.status_code == 200, moved.get_json()
    body = moved.get_json()
    assert (body["start"], body["end"], body["sequence"]) == ("2026-03-03T15:00:00Z", "2026-03-03T15:30:00Z", 1)
    assert body["uid"] == "review-inc-20260302-1@herald.test"
    assert body["booked_by"] == "token:test-read-write"
    # The same time again changes nothing.
    assert client.put(f"{url}/review", json={"start": "2026-03-03T15:00:00Z", "end": "2026-03-03T15:30:00Z"},
                      headers=writer).get_json()["sequence"] == 1
    invited = client.put(f"{url}/review", json={"start": "2026-03-03T15:00:00Z", "end": "2026-03-03T15:30:00Z",
                                                "attendees": ["alice", "carol"]}, headers=writer).get_json()
    assert [a["person"] for a in invited["attendees"]] == ["alice", "carol"]
    assert invited["sequence"] == 2
    late = client.put(f"{url}/review", json={"start": "2026-03-05T09:00:00Z"}, headers=writer).get_json()
    assert late["within_deadline"] is False and late["sequence"] == 3
    kinds = [e["kind"] for e in client.get(f"{url}/timeline", headers=ADMIN).get_json()]
    assert kinds.count("review_moved") == 3


def test_bad_review_requests_change_nothing(client, crew, open_and_resolve):
    url, _ = open_and_resolve()
    before = client.get(f"{url}/review", headers=ADMIN).get_json()
    for body, field in (({"start": "2026-03-02T09:00:00Z"}, "start"),
                        ({"start": "2026-03-03T15:00:00Z", "end": "2026-03-03T14:00:00Z"}, "end"),
                        ({"start": "2026-03-03T09:00:00Z", "end": "2026-03-03T18:00:00Z"}, "end"),
                        ({"start": "2026-03-03T15:00:00Z", "attendees": ["zed"]}, "attendees"),
                        ({"start": "not a time"}, "start"),
                        ({"start": "2026-03-03T15:00:00Z", "sequence": 9}, "sequence")):
        response = client.put(f"{url}/review", json=body, headers=ADMIN)
        assert response.status_code == 422, body
        assert field in response.get_json()["errors"], response.get_json()
    assert client.get(f"{url}/review", headers=ADMIN).get_json() == before


def test_review_of_an_open_incident_is_a_conflict(client, crew):
    incident = client.post("/api/incidents", json={"title": "x", "severity": "P1"}, headers=ADMIN).get_json()
    url = f"/api/incidents/{incident['id']}/review"
    assert client.get(url, headers=ADMIN).status_code == 404
    response = client.put(url, json={"start": "2026-03-03T15:00:00Z"}, headers=ADMIN)
    assert response.status_code == 409
    assert "resolve it first" in response.get_json()["message"]


def test_reopen_withdraws_and_resolving_again_rebooks(client, crew, frozen_clock, open_and_resolve):
    url, _ = open_and_resolve()
    reopened = client.patch(url, json={"status": "investigating"}, headers=ADMIN).get_json()
    assert reopened["postmortem_due_at"] is None
    cancelled = client.get(f"{url}/review", headers=ADMIN).get_json()
    assert (cancelled["status"], cancelled["sequence"]) == ("cancelled", 1)

    frozen_clock.advance(days=1)  # Tuesday 10:40
    client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    again = client.get(f"{url}/review", headers=ADMIN).get_json()
    assert (again["status"], again["sequence"]) == ("scheduled", 2)
    assert again["start"] == "2026-03-04T11:00:00Z"
    assert again["postmortem_due_at"] == "2026-03-05T10:40:00Z"


def test_severity_raised_after_resolution_tightens_the_deadline(client, crew, open_and_resolve):
    url, _ = open_and_resolve("P2")
    assert client.get(f"{url}/review", headers=ADMIN).get_json()["start"] == "2026-03-03T11:00:00Z"
    raised = client.patch(url, json={"severity": "P1"}, headers=ADMIN).get_json()
    assert raised["postmortem_due_at"] == "2026-03-04T10:40:00Z"
    # The booked meeting still ends before the new deadline: it stays where it is.
    assert client.get(f"{url}/review", headers=ADMIN).get_json()["sequence"] == 0


def test_closing_records_the_review_as_done(client, crew, frozen_clock, open_and_resolve):
    url, _ = open_and_resolve()
    frozen_clock.advance(days=1, hours=3)
    closed = client.patch(url, json={"status": "closed"}, headers=ADMIN).get_json()
    meeting = client.get(f"{url}/review", headers=ADMIN).get_json()
    assert meeting["done"] is True and meeting["status"] == "done"
    assert meeting["done_at"] == closed["closed_at"]
    texts = [e["text"] for e in client.get(f"{url}/timeline", headers=ADMIN).get_json()]
    assert texts[-1] == "Post-incident review recorded as done"
    conflict = client.put(f"{url}/review", json={"start": "2026-03-05T15:00:00Z"}, headers=ADMIN)
    assert conflict.status_code == 409
