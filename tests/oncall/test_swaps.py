"""Swap and cover requests by API, accept link and email reply; "take it now" during an incident."""
from datetime import datetime, timezone
from email.message import EmailMessage

import pytest
from sqlalchemy import select

from service import db
from service.notify.models import Notification
from tests.conftest import ADMIN

from .conftest import weekly

UTC = timezone.utc
IC = "incident-commander"
URL = f"/api/rotations/{IC}/swaps"
REPLY_ADDRESS = "herald@replies.example.com"
RFC822 = {**ADMIN, "Content-Type": "message/rfc822"}


@pytest.fixture
def rota(people, make_person, put_calendar, client):
    """Alice on call Mon 2 - Mon 9 Mar, Bob Mon 9 - Mon 16 Mar (09:00 UTC); Carol covered a day last month;
    Dana is known but not on the rotation."""
    make_person("dana", "Dana Diaz")
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))
    cover = client.post(f"/api/rotations/{IC}/overrides", headers=ADMIN, json={
        "person": "carol", "start": "2026-02-10T09:00:00Z", "end": "2026-02-11T09:00:00Z"})
    assert cover.status_code == 201


def ask(client, **body):
    return client.post(URL, headers=ADMIN, json={"requester": "bob", "start": "2026-03-10T09:00:00Z",
                                                 "end": "2026-03-11T09:00:00Z", **body})


def who(client, at: str) -> str | None:
    owner = client.get(f"/api/oncall?at={at}", headers=ADMIN).get_json()["rotations"][IC]
    return owner["person"] if owner else None


def link_of(row: dict) -> str:
    text = row["payload"]["text"]
    return text[text.index("http://herald.test/swap/"):].split()[0].removeprefix("http://herald.test")


def test_anyone_on_the_rotation_is_asked_and_the_first_to_accept_takes_it(client, rota, outbox):
    created = ask(client, reason="Dentist")
    assert created.status_code == 201, created.get_json()
    swap = created.get_json()
    assert {k: swap[k] for k in ("rotation", "requester", "start", "end", "to", "status")} == {
        "rotation": IC, "requester": "bob", "start": "2026-03-10T09:00:00Z", "end": "2026-03-11T09:00:00Z",
        "to": None, "status": "open"}
    asked = outbox("swap_request")
    assert sorted(r["recipient"] for r in asked) == ["alice@example.com", "carol@example.com"]  # not dana, not bob
    alice_link = link_of(next(r for r in asked if r["recipient"] == "alice@example.com"))
    shown = client.get(alice_link)  # a mail scanner following the link changes nothing
    assert shown.status_code == 200 and "Take this shift" in shown.get_data(as_text=True)
    assert client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()["status"] == "open"

    accepted = client.post(f"{URL}/{swap['id']}/accept", headers=ADMIN, json={"person": "carol"})
    assert accepted.status_code == 200, accepted.get_json()
    assert (accepted.get_json()["status"], accepted.get_json()["accepted_by"]) == ("accepted", "carol")
    assert who(client, "2026-03-10T12:00:00Z") == "carol"
    assert who(client, "2026-03-11T09:00:00Z") == "bob"
    told = [r for r in outbox("swap_request") if r["payload"]["subject"].startswith("✅")]
    assert sorted(r["recipient"] for r in told) == ["bob@example.com", "carol@example.com"]

    late = client.post(alice_link)  # alice, later, through her link
    assert late.status_code == 409 and "already taken by Carol Chen" in late.get_data(as_text=True)
    again = client.post(f"{URL}/{swap['id']}/accept", headers=ADMIN, json={"person": "alice"})
    assert again.status_code == 409
    assert who(client, "2026-03-10T12:00:00Z") == "carol"
    assert [s["id"] for s in client.get(f"{URL}?status=accepted", headers=ADMIN).get_json()] == [swap["id"]]


def test_bad_requests_are_refused_with_the_reason_and_change_nothing(client, rota, outbox):
    assert ask(client, requester="dana").status_code == 403  # not on the rotation
    outside = ask(client, start="2026-03-05T09:00:00Z", end="2026-03-06T09:00:00Z")  # alice's week
    assert outside.status_code == 422 and "alice" in outside.get_json()["message"]
    past = ask(client, start="2026-03-01T09:00:00Z", end="2026-03-01T12:00:00Z", requester="alice")
    assert past.status_code == 422
    assert ask(client, to="zed").status_code == 422
    assert ask(client, to="bob").status_code == 422
    assert ask(client, start="2026-03-10T09:00:00Z", end="2026-03-10T08:00:00Z").status_code == 422
    assert client.post("/api/rotations/nope/swaps", headers=ADMIN,
                       json={"requester": "bob", "end": "2026-03-11T09:00:00Z"}).status_code == 404
    assert client.get(URL, headers=ADMIN).get_json() == [] and outbox("swap_request") == []

    to_alice = ask(client, to="alice").get_json()
    assert [r["recipient"] for r in outbox("swap_request")] == ["alice@example.com"]
    assert client.post(f"{URL}/{to_alice['id']}/accept", headers=ADMIN, json={"person": "carol"}).status_code == 403
    assert client.post(f"{URL}/{to_alice['id']}/cancel", headers=ADMIN).get_json()["status"] == "cancelled"
    assert client.post(f"{URL}/{to_alice['id']}/accept", headers=ADMIN, json={"person": "alice"}).status_code == 409
    assert client.post(f"{URL}/{to_alice['id']}/cancel", headers=ADMIN).status_code == 409
    assert who(client, "2026-03-10T12:00:00Z") == "bob"


def test_a_request_expires_when_its_stretch_starts(client, rota, tick):
    swap = ask(client).get_json()
    tick(datetime(2026, 3, 10, 8, 59, tzinfo=UTC))
    assert client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()["status"] == "open"
    tick(datetime(2026, 3, 10, 9, 0, tzinfo=UTC))
    assert client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()["status"] == "expired"
    assert client.post(f"{URL}/{swap['id']}/accept", headers=ADMIN, json={"person": "alice"}).status_code == 409


def _email(row: Notification, sender: str, body: str, *, thread: bool) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = row.payload["reply_to"] if not thread else REPLY_ADDRESS
    message["Subject"] = "Re: " + row.payload["subject"]
    message["Message-ID"] = f"<reply-{row.id}-{sender}-{thread}@example.com>"
    if thread:
        message["In-Reply-To"] = row.message_id
    message.set_content(f"{body}\n\nOn Mon, 2 Mar 2026, Herald wrote:\n> " + "\n> ".join(row.payload["text"].splitlines()))
    return message.as_bytes()


def test_yes_by_email_takes_the_shift_from_the_right_sender_only(app, client, config, smtp_sink, rota, outbox):
    config.smtp_url = f"smtp://127.0.0.1:{smtp_sink.port}"
    config.reply_address = REPLY_ADDRESS
    swap = ask(client).get_json()
    with app.app_context():
        rows = {r.recipient: r for r in db.session.scalars(select(Notification).where(
            Notification.kind == "swap_request"))}
    alice, carol = rows["alice@example.com"], rows["carol@example.com"]
    assert alice.channel == "email" and alice.payload["reply_to"].startswith("herald+")
    assert 'reply "yes" to this email' in alice.payload["text"]

    spoofed = client.post("/api/inbound/email", headers=RFC822, data=_email(alice, "mallory@example.com", "yes",
                                                                            thread=True))
    assert spoofed.get_json()["outcome"] == "rejected_sender"
    chatter = client.post("/api/inbound/email", headers=RFC822, data=_email(alice, "alice@example.com",
                                                                            "Which day?", thread=True))
    assert chatter.get_json()["outcome"] == "not_a_command"
    assert client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()["status"] == "open"

    yes = client.post("/api/inbound/email", headers=RFC822, data=_email(alice, "alice@example.com", "Yes, mine",
                                                                        thread=False))  # by the plus token
    assert yes.get_json()["outcome"] == "swap_accepted", yes.get_json()
    state = client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()
    assert (state["status"], state["accepted_by"], state["via"]) == ("accepted", "alice", "email")
    assert who(client, "2026-03-10T12:00:00Z") == "alice"

    late = client.post("/api/inbound/email", headers=RFC822, data=_email(carol, "carol@example.com", "yes",
                                                                         thread=True))  # by the thread
    assert late.get_json()["outcome"] == "swap_refused"
    [taken] = [r for r in outbox("swap_request", "carol") if r["payload"]["subject"].startswith("Already taken")]
    assert "Alice Archer took" in taken["payload"]["text"]


def test_take_it_now_during_an_incident_moves_the_role(client, rota, tick):
    incident = client.post("/api/incidents", headers=ADMIN, json={"title": "Orders failing", "severity": "P1"})
    incident = incident.get_json()
    assert incident["roles"]["incident_commander"]["person"] == "alice"
    tick()
    swap = client.post(URL, headers=ADMIN, json={"requester": "alice", "end": "2026-03-09T09:00:00Z",
                                                 "to": "bob", "reason": "I am on a train"})
    assert swap.status_code == 201, swap.get_json()
    swap = swap.get_json()
    assert swap["start"] == "2026-03-02T10:00:00Z"  # now
    tick(datetime(2026, 3, 2, 10, 5, tzinfo=UTC))
    assert client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()["status"] == "open"  # open until its end
    assert client.post(f"{URL}/{swap['id']}/accept", headers=ADMIN, json={"person": "bob"}).status_code == 200
    assert who(client, "2026-03-02T10:05:00Z") == "bob"
    assert who(client, "2026-03-02T10:04:59Z") == "alice"  # the past stays hers
    tick()
    roles = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["person"] == "bob"


def test_the_person_asked_declines_by_link_and_the_requester_hears_it(client, rota, outbox):
    to_alice = ask(client, to="alice").get_json()
    [request] = outbox("swap_request")
    assert "Can't take it?" in request["payload"]["text"]
    link = link_of(request)
    shown = client.get(link).get_data(as_text=True)
    assert "Take this shift" in shown and "I can't take it" in shown

    declined = client.post(link, data={"answer": "decline"})
    assert declined.status_code == 200 and "Declined" in declined.get_data(as_text=True)
    state = client.get(f"{URL}/{to_alice['id']}", headers=ADMIN).get_json()
    assert (state["status"], state["via"], state["accepted_by"]) == ("declined", "link", None)
    [told] = [r for r in outbox("swap_request") if r["payload"]["subject"].startswith("❌")]
    assert told["recipient"] == "bob@example.com" and "Alice Archer declined" in told["payload"]["text"]
    assert who(client, "2026-03-10T12:00:00Z") == "bob"  # still bob's shift

    assert client.post(link).status_code == 409  # a declined request cannot be taken after all
    assert client.post(link, data={"answer": "decline"}).status_code == 409  # nor declined twice
    assert len([r for r in outbox("swap_request") if r["payload"]["subject"].startswith("❌")]) == 1


def test_only_the_person_asked_may_decline_and_only_an_open_request(client, rota, outbox):
    anyone = ask(client).get_json()
    refused = client.post(f"{URL}/{anyone['id']}/decline", headers=ADMIN, json={"person": "alice"})
    assert refused.status_code == 409 and "someone else may still take it" in refused.get_json()["message"]
    [alice_row] = [r for r in outbox("swap_request") if r["recipient"] == "alice@example.com"]
    assert "Can't take it?" not in alice_row["payload"]["text"]
    assert "I can't take it" not in client.get(link_of(alice_row)).get_data(as_text=True)

    to_alice = ask(client, to="alice", start="2026-03-12T09:00:00Z", end="2026-03-13T09:00:00Z").get_json()
    other = client.post(f"{URL}/{to_alice['id']}/decline", headers=ADMIN, json={"person": "carol"})
    assert other.status_code == 403
    assert client.post(f"{URL}/{to_alice['id']}/decline", headers=ADMIN, json={"person": "zed"}).status_code == 422
    assert client.get(f"{URL}/{to_alice['id']}", headers=ADMIN).get_json()["status"] == "open"

    done = client.post(f"{URL}/{to_alice['id']}/decline", headers=ADMIN, json={"person": "alice"})
    assert done.status_code == 200 and (done.get_json()["status"], done.get_json()["via"]) == ("declined", "api")
    assert client.post(f"{URL}/{to_alice['id']}/accept", headers=ADMIN, json={"person": "alice"}).status_code == 409
    assert [s["id"] for s in client.get(f"{URL}?status=declined", headers=ADMIN).get_json()] == [to_alice["id"]]


def test_no_by_email_declines_from_the_person_asked(app, client, config, smtp_sink, rota, outbox):
    config.smtp_url = f"smtp://127.0.0.1:{smtp_sink.port}"
    config.reply_address = REPLY_ADDRESS
    swap = ask(client, to="alice").get_json()
    with app.app_context():
        [row] = db.session.scalars(select(Notification).where(Notification.kind == "swap_request"))
    assert 'Reply "no"' in row.payload["text"]

    spoofed = client.post("/api/inbound/email", headers=RFC822, data=_email(row, "mallory@example.com", "no",
                                                                            thread=True))
    assert spoofed.get_json()["outcome"] == "rejected_sender"
    no = client.post("/api/inbound/email", headers=RFC822, data=_email(row, "alice@example.com",
                                                                       "No, sorry - I am away that day", thread=True))
    assert no.get_json()["outcome"] == "swap_declined", no.get_json()
    state = client.get(f"{URL}/{swap['id']}", headers=ADMIN).get_json()
    assert (state["status"], state["via"]) == ("declined", "email")
    assert [r["recipient"] for r in outbox("swap_request") if r["payload"]["subject"].startswith("❌")] == [
        "bob@example.com"]
    late_yes = client.post("/api/inbound/email", headers=RFC822, data=_email(row, "alice@example.com", "yes",
                                                                             thread=False))
    assert late_yes.get_json()["outcome"] == "swap_refused"
    assert who(client, "2026-03-10T12:00:00Z") == "bob"
