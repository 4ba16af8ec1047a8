"""What the review sends through the dispatch outbox: invitations (iCal REQUEST/CANCEL) and reminders."""
from datetime import date, datetime, timedelta, timezone

import icalendar
from sqlalchemy import select

from service import db
from service.wiring import run_tick
from service.notify.models import Notification
from tests.conftest import ADMIN, START

UTC = timezone.utc


def outbox(app, kind):
    with app.app_context():
        rows = db.session.scalars(select(Notification).where(Notification.kind == kind)
                                  .order_by(Notification.id)).all()
        return [(r.slot, r.recipient, r.payload) for r in rows]


def calendar_of(payload) -> icalendar.Calendar:
    return icalendar.Calendar.from_ical(payload["calendar"])


def attendees(event) -> list[str]:
    found = event.get("ATTENDEE", [])
    return [str(a) for a in (found if isinstance(found, list) else [found])]


def test_resolution_sends_the_invitation_to_every_role_owner(app, client, crew, new_incident, resolve, frozen_clock):
    url = new_incident()
    frozen_clock.advance(minutes=40)
    resolve(url)
    sent = outbox(app, "invite")
    assert [(slot, to) for slot, to, _ in sent] == [("review-request-0", "alice@example.com"),
                                                    ("review-request-0", "bob@example.com")]
    payload = sent[0][2]
    assert payload["subject"] == "[INC-20260302-1] Post-incident review: Orders are failing (Tue 3 Mar 2026 11:00 UTC)"
    cal = calendar_of(payload)
    assert str(cal["METHOD"]) == "REQUEST"
    [event] = cal.walk("VEVENT")
    assert int(event["SEQUENCE"]) == 0
    assert event.decoded("DTSTART") == datetime(2026, 3, 3, 11, tzinfo=UTC)
    assert attendees(event) == ["mailto:alice@example.com", "mailto:bob@example.com"]
    assert str(event["ORGANIZER"]) == "mailto:herald@localhost"
    # The same request again queues nothing new.
    assert client.put(f"{url}/review", json={"start": "2026-03-03T11:00:00Z"}, headers=ADMIN).status_code == 200
    assert len(outbox(app, "invite")) == 2


def test_moving_the_review_resends_with_a_higher_sequence(app, client, crew, new_incident, resolve):
    url = new_incident()
    resolve(url)
    moved = client.put(f"{url}/review", json={"start": "2026-03-03T15:00:00Z", "attendees": ["alice", "carol"]},
                       headers=ADMIN)
    assert moved.status_code == 200
    sent = outbox(app, "invite")[2:]
    assert [(slot, to) for slot, to, _ in sent] == [("review-cancel-1", "bob@example.com"),
                                                    ("review-request-1", "alice@example.com"),
                                                    ("review-request-1", "carol@example.com")]
    cancel, request = calendar_of(sent[0][2]), calendar_of(sent[1][2])
    assert str(cancel["METHOD"]) == "CANCEL"
    [cancelled] = cancel.walk("VEVENT")
    assert str(cancelled["STATUS"]) == "CANCELLED" and int(cancelled["SEQUENCE"]) == 1
    assert attendees(cancelled) == ["mailto:bob@example.com"]
    assert sent[0][2]["subject"] == "[INC-20260302-1] Cancelled: post-incident review: Orders are failing"
    [event] = request.walk("VEVENT")
    assert (int(event["SEQUENCE"]), event.decoded("DTSTART")) == (1, datetime(2026, 3, 3, 15, tzinfo=UTC))
    assert str(event["UID"]) == str(cancelled["UID"]) == "review-inc-20260302-1@herald.test"


def test_reopening_cancels_the_invitation(app, client, crew, new_incident, resolve):
    url = new_incident()
    resolve(url)
    client.patch(url, json={"status": "investigating"}, headers=ADMIN)
    cancels = [(slot, to) for slot, to, p in outbox(app, "invite") if str(calendar_of(p)["METHOD"]) == "CANCEL"]
    assert cancels == [("review-cancel-1", "alice@example.com"), ("review-cancel-1", "bob@example.com")]


def test_a_role_handed_over_after_resolution_is_invited_too(app, client, crew, new_incident, resolve):
    url = new_incident()
    resolve(url)
    handed = client.put(f"{url}/roles/scribe", json={"person": "carol"}, headers=ADMIN)
    assert handed.status_code == 200
    meeting = client.get(f"{url}/review", headers=ADMIN).get_json()
    assert ([a["person"] for a in meeting["attendees"]], meeting["sequence"]) == (["alice", "bob", "carol"], 1)
    assert [(slot, to) for slot, to, _ in outbox(app, "invite")[2:]] == [
        ("review-request-1", "alice@example.com"), ("review-request-1", "bob@example.com"),
        ("review-request-1", "carol@example.com")]


def reminders_to(app):
    return [(to, payload["subject"]) for _, to, payload in outbox(app, "reminder") if "subject" in payload]


def test_incident_commander_reminded_12_hours_before_the_deadline(app, crew, new_incident, resolve):
    url = new_incident()
    resolve(url)  # due Wednesday 10:00
    run_tick(START + timedelta(hours=35, minutes=59))
    assert reminders_to(app) == []
    run_tick(START + timedelta(hours=36))
    assert reminders_to(app) == [("alice@example.com", "[INC-20260302-1] ⏰ Post-mortem due in 12 hours: Orders are failing")]
    run_tick(START + timedelta(hours=40))
    assert len(reminders_to(app)) == 1


def test_closing_stops_the_reminder(app, client, crew, new_incident, resolve, frozen_clock):
    url = new_incident()
    resolve(url)
    frozen_clock.advance(hours=20)
    client.patch(url, json={"status": "closed"}, headers=ADMIN)
    run_tick(START + timedelta(hours=47))
    assert reminders_to(app) == []


def test_action_owner_reminded_the_day_before_and_on_the_day(app, client, crew, new_incident):
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "Alert on missing indexes", "owner": "bob",
                                        "due_date": "2026-03-05"}, headers=ADMIN)
    client.post(f"{url}/actions", json={"action": "Runbook", "owner": "carol", "due_date": "2026-03-05"},
                headers=ADMIN)
    client.patch(f"{url}/actions/2", json={"done": True}, headers=ADMIN)
    run_tick(datetime(2026, 3, 4, 8, 59, tzinfo=UTC))
    assert reminders_to(app) == []
    run_tick(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    assert reminders_to(app) == [("bob@example.com", "[INC-20260302-1] ⏰ Action item 1 is due tomorrow: "
                                                     "Alert on missing indexes")]
    run_tick(datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    assert reminders_to(app)[1] == ("bob@example.com", "[INC-20260302-1] ⏰ Action item 1 is due today: "
                                                       "Alert on missing indexes")
    run_tick(datetime(2026, 3, 6, 9, 0, tzinfo=UTC))
    assert len(reminders_to(app)) == 2


def test_action_reminder_reaches_teams_too(app, client, crew, new_incident, make_person):
    webhook = "https://example.webhook.office.com/workflows/dana?sig=x"
    make_person("dana", "Dana Diaz", teams_webhook=webhook)
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "Alert on missing indexes", "owner": "dana",
                                        "due_date": "2026-03-05"}, headers=ADMIN)
    run_tick(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    [(_, to, message)] = [row for row in outbox(app, "reminder") if row[1] == webhook]
    card = message["attachments"][0]["content"]
    assert card["body"][0]["text"] == "⏰ Action item 1 is due tomorrow"
    assert card["body"][1]["text"] == "Alert on missing indexes"
    assert card["actions"][0]["url"] == "http://herald.test/console/incidents/INC-20260302-1/postmortem#actions"
    assert reminders_to(app) == [("dana@example.com", "[INC-20260302-1] ⏰ Action item 1 is due tomorrow: "
                                                      "Alert on missing indexes")]


def test_a_late_tick_catches_up_once(app, client, crew, new_incident):
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "Alert on missing indexes", "owner": "bob",
                                        "due_date": "2026-03-05"}, headers=ADMIN)
    run_tick(datetime(2026, 3, 5, 12, 0, tzinfo=UTC))  # the worker was down for two days
    assert [subject.split(": ")[0] for _, subject in reminders_to(app)] == [
        "[INC-20260302-1] ⏰ Action item 1 is due today"]


def test_done_before_the_day_means_no_reminder(app, client, crew, new_incident):
    url = new_incident()
    client.post(f"{url}/actions", json={"action": "x", "owner": "bob", "due_date": str(date(2026, 3, 5))},
                headers=ADMIN)
    run_tick(datetime(2026, 3, 4, 9, 0, tzinfo=UTC))
    client.patch(f"{url}/actions/1", json={"done": True}, headers=ADMIN)
    run_tick(datetime(2026, 3, 5, 9, 0, tzinfo=UTC))
    assert len(reminders_to(app)) == 1
