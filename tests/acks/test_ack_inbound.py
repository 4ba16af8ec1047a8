"""Replies to pages, through POST /api/inbound/email: matched three ways, checked, acted on once."""
from pathlib import Path

import pytest
from sqlalchemy import select

from service import db
from service.acks.models import InboundMessage
from service.notify.models import Notification
from tests.acks.conftest import email_page, reply_to, timeline
from tests.conftest import ADMIN

MAIL = Path(__file__).parent / "mail"
RFC822 = {**ADMIN, "Content-Type": "message/rfc822"}


def post(client, raw: bytes, headers=RFC822):
    return client.post("/api/inbound/email", data=raw, headers=headers)


def roles(client, incident):
    return client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]


def help_mails(app, incident):
    with app.app_context():
        return db.session.scalars(select(Notification).where(
            Notification.incident_id == incident["id"], Notification.kind == "help")).all()


def test_reply_in_the_thread_acknowledges_the_paged_role(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    answer = post(client, reply_to(page, sender="Alice Archer <Alice@Example.com>", token=False))
    assert answer.status_code == 200
    assert answer.get_json() == {"outcome": "acknowledged", "detail": "incident_commander",
                                 "incident": incident["number"], "duplicate": False}
    now = roles(client, incident)
    assert now["incident_commander"]["acknowledged_at"] == "2026-03-02T10:00:00Z"
    assert now["incident_commander"]["acknowledged_via"] == "email"
    assert now["technical_lead"]["acknowledged_at"] is None
    texts = [e["text"] for e in timeline(client, incident["id"])]
    assert "Acknowledged by Alice Archer (Incident Commander) via email" in texts
    assert "Response time met" in texts


def test_plus_address_token_alone_is_enough(app, client, incident):
    page = email_page(app, incident["id"], "bob")
    answer = post(client, reply_to(page, sender="bob@example.com", thread=False, subject="ack"))
    assert answer.get_json()["outcome"] == "acknowledged"
    assert roles(client, incident)["technical_lead"]["acknowledged_via"] == "email"


def test_subject_tag_with_the_sender_when_thread_and_token_are_lost(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    raw = reply_to(page, sender="alice.archer@gmail.com", thread=False, token=False,
                   subject=f"AW: [{incident['number']}] P1 page")
    assert post(client, raw).get_json()["outcome"] == "acknowledged"
    assert roles(client, incident)["incident_commander"]["acknowledged_at"] is not None


def test_tampered_token_falls_back_to_the_subject(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    page.ack_token = page.ack_token[:-3] + ("AAA" if not page.ack_token.endswith("AAA") else "BBB")
    raw = reply_to(page, sender="alice@example.com", thread=False)
    assert post(client, raw).get_json()["outcome"] == "acknowledged"


def test_spoofed_from_is_rejected_and_changes_nothing(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    answer = post(client, reply_to(page, sender="Alice Archer <alice@evil.example.net>")).get_json()
    assert answer["outcome"] == "rejected_sender"
    assert roles(client, incident)["incident_commander"]["acknowledged_at"] is None
    entry = timeline(client, incident["id"])[-1]
    assert entry["text"] == "Rejected acknowledgement from alice@evil.example.net: the page was for Alice Archer"
    assert help_mails(app, incident) == []  # never answer an unchecked sender


def test_reply_to_someone_elses_page_acknowledges_nobody(app, client, incident):
    alices_page = email_page(app, incident["id"], "alice")
    answer = post(client, reply_to(alices_page, sender="bob@example.com")).get_json()
    assert answer["outcome"] == "rejected_sender"
    now = roles(client, incident)
    assert now["incident_commander"]["acknowledged_at"] is None
    assert now["technical_lead"]["acknowledged_at"] is None
    assert timeline(client, incident["id"])[-1]["text"].startswith("Rejected acknowledgement from bob@example.com")


def test_unknown_sender_naming_the_incident_is_rejected(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    raw = reply_to(page, sender="mallory@example.com", thread=False, token=False)
    assert post(client, raw).get_json()["outcome"] == "rejected_sender"
    assert roles(client, incident)["incident_commander"]["acknowledged_at"] is None


@pytest.mark.parametrize("fixture", ["exchange_out_of_office.eml", "gmail_vacation.eml"])
def test_auto_replies_are_noted_and_ignored(app, client, incident, fixture):
    page = email_page(app, incident["id"], "alice")
    raw = (MAIL / fixture).read_bytes().replace(b"<page.1.alice@herald.example.com>", page.message_id.encode())
    answer = post(client, raw).get_json()
    assert answer["outcome"] == "automatic"
    assert roles(client, incident)["incident_commander"]["acknowledged_at"] is None
    assert timeline(client, incident["id"])[-1]["text"].startswith("Automatic reply from Alice Archer (Auto-Submitted")
    assert help_mails(app, incident) == []


@pytest.mark.parametrize("fixture, sender", [("outlook_desktop.eml", "alice.archer@example.com"),
                                             ("gmail.eml", "alice.archer@gmail.com"),
                                             ("iphone.eml", "bob@example.com"),
                                             ("owa_html_only.eml", "bob@example.com")])
def test_real_client_replies_acknowledge(app, client, incident, fixture, sender):
    handle = "bob" if sender.startswith("bob") else "alice"
    page = email_page(app, incident["id"], handle)
    raw = ((MAIL / fixture).read_bytes()
           .replace(b"<page.1.alice@herald.example.com>", page.message_id.encode())
           .replace(b"<page.2.bob@herald.example.com>", page.message_id.encode())
           .replace(b"INC-20260302-1", incident["number"].encode()))
    if sender == "alice.archer@example.com":  # Outlook's fixture writes from a work alias Alice has not got
        with app.app_context():
            client.patch("/api/people/alice", json={"aliases": ["alice.archer@example.com"]}, headers=ADMIN)
    answer = post(client, raw).get_json()
    assert answer["outcome"] == "acknowledged", answer


def test_anything_else_is_recorded_and_answered_with_help(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    answer = post(client, reply_to(page, sender="alice@example.com", body="Who else is on this?")).get_json()
    assert answer["outcome"] == "not_a_command"
    assert roles(client, incident)["incident_commander"]["acknowledged_at"] is None
    assert timeline(client, incident["id"])[-1]["text"] == (
        "Reply from Alice Archer by email (not an acknowledgement): Who else is on this?")
    [help_mail] = help_mails(app, incident)
    assert help_mail.recipient == "alice@example.com" and help_mail.channel == "email"
    assert "ack" in help_mail.payload["text"] and "Who else is on this?" in help_mail.payload["text"]
    assert help_mail.payload["subject"].startswith(f"[{incident['number']}]")


def test_the_same_message_twice_counts_once(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    raw = reply_to(page, sender="alice@example.com", body="still looking")
    first = post(client, raw).get_json()
    entries = len(timeline(client, incident["id"]))
    second = post(client, raw).get_json()
    assert second == {**first, "duplicate": True}
    assert len(timeline(client, incident["id"])) == entries
    assert len(help_mails(app, incident)) == 1
    with app.app_context():
        assert db.session.scalar(select(InboundMessage.outcome)) == "not_a_command"


def test_second_ack_changes_nothing(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    assert post(client, reply_to(page, sender="alice@example.com")).get_json()["outcome"] == "acknowledged"
    again = post(client, reply_to(page, sender="alice@example.com", body="ack!")).get_json()
    assert again["outcome"] == "already_acknowledged"


def test_ack_on_a_closed_incident_is_explained(app, client, incident):
    url = f"/api/incidents/{incident['id']}"
    client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    client.patch(url, json={"status": "closed"}, headers=ADMIN)
    page = email_page(app, incident["id"], "alice")
    answer = post(client, reply_to(page, sender="alice@example.com")).get_json()
    assert answer["outcome"] == "not_applied"
    assert "closed" in answer["detail"]
    [help_mail] = help_mails(app, incident)
    assert "closed" in help_mail.payload["text"]


def test_unmatched_mail_is_kept_but_touches_no_incident(app, client, incident):
    raw = b"From: someone@example.org\r\nSubject: hello\r\nMessage-ID: <x1@example.org>\r\n\r\nack\r\n"
    assert post(client, raw).get_json() == {"outcome": "unmatched", "detail": "no page, token or incident tag matched",
                                            "incident": None, "duplicate": False}


def test_mail_from_herald_itself_is_never_acted_on(app, client, incident):
    page = email_page(app, incident["id"], "alice")
    assert post(client, reply_to(page, sender="herald@example.com")).get_json()["outcome"] == "automatic"


def test_inbound_api_checks_its_input(client, token_for, incident):
    raw = b"From: a@example.com\r\n\r\nack\r\n"
    assert post(client, raw, headers={"Content-Type": "message/rfc822"}).status_code == 401
    assert post(client, raw, headers={**token_for("read"), "Content-Type": "message/rfc822"}).status_code == 403
    assert post(client, raw, headers={**token_for("ingest"), "Content-Type": "message/rfc822"}).status_code == 200
    wrong = client.post("/api/inbound/email", json={"from": "a@example.com"}, headers=ADMIN)
    assert wrong.status_code == 415 and wrong.get_json()["code"] == "unsupported_media_type"
    empty = post(client, b"just some words without any header\r\n")
    assert empty.status_code == 400 and "no header" in empty.get_json()["message"]
    huge = post(client, b"From: a@example.com\r\n\r\n" + b"x" * (11 * 1024 * 1024))
    assert huge.status_code == 413
