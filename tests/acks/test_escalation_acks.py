"""Acknowledging an escalation from outside: the ack link, and email replies through POST /api/inbound/email.

The example policy escalates an unacknowledged P1 to the Engineering Manager (eng-manager@example.com)
after 15 minutes; the assemble check tells the Incident Commander (Alice) after 10 minutes. Both are
escalations, each message with its own token.
"""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service import db
from service.ack_tokens import make_token
from service.acks.models import InboundMessage
from service.escalation.models import EscalationRecipient
from service.notify.models import Notification
from service.wiring import run_tick
from tests.acks.conftest import REPLY_ADDRESS, reply_to, timeline
from tests.acks.test_ack_replies import REPLIES
from tests.conftest import ADMIN, START

MAIL = Path(__file__).parent / "mail"
RFC822 = {**ADMIN, "Content-Type": "message/rfc822"}
MANAGER = "eng-manager@example.com"
RULE = "P1 not acknowledged"


def tick_at(app, frozen_clock, minutes):
    frozen_clock.set(START + timedelta(minutes=minutes))
    with app.app_context():
        run_tick(frozen_clock.now())


def escalation_mail(app, incident, recipient=MANAGER, slot=f"rule:{RULE}") -> Notification:
    with app.app_context():
        row = db.session.scalar(select(Notification).where(
            Notification.incident_id == incident["id"], Notification.kind == "escalation",
            Notification.slot == slot, Notification.recipient == recipient, Notification.channel == "email"))
        assert row is not None, f"no escalation {slot} to {recipient}"
        db.session.expunge(row)
        return row


def escalations(client, incident, rule=RULE):
    return [e for e in client.get(f"/api/incidents/{incident['id']}/escalations", headers=ADMIN).get_json()
            if e["rule"] == rule]


def post(client, raw: bytes):
    response = client.post("/api/inbound/email", data=raw, headers=RFC822)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


@pytest.fixture
def escalated(app, client, incident, frozen_clock):
    """The P1 has gone unacknowledged for 15 minutes: the Engineering Manager was told by email."""
    tick_at(app, frozen_clock, 15)
    return incident


# ---- what the message carries ------------------------------------------------------------------

def test_escalation_email_carries_its_token_link_and_reply_to(app, escalated, mail):
    message = escalation_mail(app, escalated)
    token = message.ack_token
    assert token and message.payload["reply_to"] == f"herald+{token}@replies.example.com"
    assert f"http://herald.test/ack/{token}" in message.payload["text"]
    assert 'reply "ack" to this email' in message.payload["text"]
    assert "within 15 minutes" in message.payload["text"]
    assert f"http://herald.test/ack/{token}" in message.payload["html"]
    sent = [m for m in mail.messages if "ESCALATION" in m["Subject"]]
    assert sent and sent[0]["Reply-To"] == f"herald+{token}@replies.example.com"


# ---- the link --------------------------------------------------------------------------------------

def test_get_shows_the_escalation_and_changes_nothing(app, client, escalated):
    token = escalation_mail(app, escalated).ack_token
    page = client.get(f"/ack/{token}")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert RULE in html and escalated["number"] in html and "Engineering Manager" in html
    assert '<form method="post">' in html
    assert page.headers["Cache-Control"].startswith("private") or "no-store" in page.headers["Cache-Control"]
    assert escalations(client, escalated)[0]["acknowledged_at"] is None


def test_post_acknowledges_once(app, client, escalated, frozen_clock):
    token = escalation_mail(app, escalated).ack_token
    frozen_clock.set(START + timedelta(minutes=17))
    first = client.post(f"/ack/{token}")
    assert first.status_code == 200 and "Acknowledged" in first.get_data(as_text=True)
    frozen_clock.set(START + timedelta(minutes=18))
    again = client.post(f"/ack/{token}")
    assert again.status_code == 200 and "Already acknowledged" in again.get_data(as_text=True)
    [step] = escalations(client, escalated)
    assert (step["acknowledged_at"], step["acknowledged_by"], step["via"]) == ("2026-03-02T10:17:00Z", MANAGER, "link")
    assert step["recipients"][0]["acknowledged_at"] == "2026-03-02T10:17:00Z"
    acks = [e["text"] for e in timeline(client, escalated["id"]) if e["kind"] == "escalation_acknowledged"]
    assert acks == [f"Escalation '{RULE}' (step 1) acknowledged by Engineering Manager <{MANAGER}> via link"]
    # An escalation acknowledged is not the incident acknowledged: the roles still are not.
    roles = client.get(f"/api/incidents/{escalated['id']}", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["acknowledged_at"] is None


def test_tampered_expired_and_foreign_tokens_are_refused(app, client, escalated, frozen_clock):
    token = escalation_mail(app, escalated).ack_token
    for bad in (token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB"), "W" + token[1:], "nonsense"):
        for method in (client.get, client.post):
            answer = method(f"/ack/{bad}")
            assert answer.status_code == 403 and "not valid" in answer.get_data(as_text=True)
    # Signed with the right key, but naming another incident than the message's own.
    other = client.post("/api/incidents", json={"title": "Another", "severity": "P3"}, headers=ADMIN).get_json()
    with app.app_context():
        foreign = make_token("escalation", other["id"], escalation_mail(app, escalated).id)
    assert client.post(f"/ack/{foreign}").status_code == 403
    # A message that is not an escalation step's.
    with app.app_context():
        page_id = db.session.scalar(select(Notification.id).where(Notification.kind == "page"))
        stray = make_token("escalation", escalated["id"], page_id)
    assert client.post(f"/ack/{stray}").status_code == 404
    frozen_clock.advance(days=31)
    assert client.get(f"/ack/{token}").status_code == 403
    assert client.post(f"/ack/{token}").status_code == 403
    assert escalations(client, escalated)[0]["acknowledged_at"] is None


# ---- email replies -----------------------------------------------------------------------------------

def test_reply_in_the_thread_acknowledges(app, client, escalated):
    message = escalation_mail(app, escalated)
    answer = post(client, reply_to(message, sender=f"Erica Manager <{MANAGER.upper()}>", token=False))
    assert answer == {"outcome": "acknowledged", "detail": f"escalation '{RULE}' (step 1)",
                      "incident": escalated["number"], "duplicate": False}
    [step] = escalations(client, escalated)
    assert (step["acknowledged_by"], step["via"]) == (MANAGER, "email")
    assert f"Escalation '{RULE}' (step 1) acknowledged by Engineering Manager <{MANAGER}> via email" in [
        e["text"] for e in timeline(client, escalated["id"])]


def test_the_plus_address_token_alone_is_enough(app, client, escalated):
    message = escalation_mail(app, escalated)
    assert post(client, reply_to(message, sender=MANAGER, thread=False, subject="ack"))["outcome"] == "acknowledged"


def test_a_reply_from_an_address_the_escalation_did_not_go_to_changes_nothing(app, client, escalated):
    message = escalation_mail(app, escalated)
    # Alice holds a role on the incident, but the escalation went to the manager, not to her.
    answer = post(client, reply_to(message, sender="alice@example.com"))
    assert answer["outcome"] == "rejected_sender"
    assert escalations(client, escalated)[0]["acknowledged_at"] is None
    roles = client.get(f"/api/incidents/{escalated['id']}", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["acknowledged_at"] is None
    last = timeline(client, escalated["id"])[-1]
    assert (last["kind"], last["text"]) == ("ack_rejected", f"Rejected acknowledgement of escalation '{RULE}' "
                                            "(step 1) from alice@example.com: the escalation was not sent to that "
                                            "address")
    with app.app_context():
        row = db.session.scalar(select(InboundMessage).order_by(InboundMessage.id.desc()))
        assert (row.outcome, row.incident_id) == ("rejected_sender", escalated["id"])


def test_not_a_command_auto_replies_and_duplicates(app, client, escalated):
    message = escalation_mail(app, escalated)
    assert post(client, reply_to(message, sender=MANAGER, body="Who is on this?"))["outcome"] == "not_a_command"
    auto = reply_to(message, sender=MANAGER, body="ACK (away)", headers={"Auto-Submitted": "auto-replied"})
    assert post(client, auto)["outcome"] == "automatic"
    assert escalations(client, escalated)[0]["acknowledged_at"] is None
    texts = [e["text"] for e in timeline(client, escalated["id"])]
    assert f"Reply from {MANAGER} to escalation '{RULE}' (step 1) (not an acknowledgement): Who is on this?" in texts
    ack = reply_to(message, sender=MANAGER)
    assert post(client, ack)["outcome"] == "acknowledged"
    again = post(client, ack)
    assert (again["outcome"], again["duplicate"]) == ("acknowledged", True)
    second = post(client, reply_to(message, sender=MANAGER, body="ok, ack"))
    assert second["outcome"] == "already_acknowledged"
    assert sum(e["kind"] == "escalation_acknowledged" for e in timeline(client, escalated["id"])) == 1


def _client_reply(name: str, message: Notification, sender: str, as_address: str) -> bytes:
    """A recorded client's reply, rethreaded onto `message` and written from `as_address`."""
    raw = (MAIL / name).read_bytes()
    raw = re.sub(rb"<page\.\d+\.\w+@herald\.example\.com>", message.message_id.encode(), raw)
    raw = raw.replace(b"TOKEN", message.ack_token.encode())
    return re.sub(re.escape(sender.encode()), as_address.encode(), raw, flags=re.IGNORECASE)


@pytest.mark.parametrize("name", sorted(REPLIES))
def test_replies_from_every_real_world_client(app, client, escalated, name):
    word, acknowledges, automatic, sender = REPLIES[name]
    message = escalation_mail(app, escalated)
    answer = post(client, _client_reply(name, message, sender, MANAGER))
    expected = "automatic" if automatic else ("acknowledged" if acknowledges else "not_a_command")
    assert answer["outcome"] == expected, answer
    step = escalations(client, escalated)[0]
    assert (step["acknowledged_at"] is not None) == (expected == "acknowledged")
    if expected == "acknowledged":
        assert step["via"] == "email"


@pytest.mark.parametrize("name", ["outlook_desktop.eml", "gmail.eml", "iphone.eml"])
def test_real_world_replies_from_someone_else_are_rejected(app, client, escalated, name):
    word, acknowledges, automatic, sender = REPLIES[name]
    answer = post(client, _client_reply(name, escalation_mail(app, escalated), sender, "intruder@example.org"))
    assert answer["outcome"] == "rejected_sender"
    assert escalations(client, escalated)[0]["acknowledged_at"] is None


# ---- an escalation that reached a person ---------------------------------------------------------------

def test_a_person_acknowledges_from_any_of_their_addresses(app, client, incident, frozen_clock):
    """The assemble check tells Alice (the IC) at 10 minutes; she replies from her Gmail alias."""
    tick_at(app, frozen_clock, 10)
    message = escalation_mail(app, incident, "alice@example.com", slot="assemble")
    assert message.ack_token and message.payload["reply_to"].startswith("herald+")
    answer = post(client, reply_to(message, sender="Alice <alice.archer@gmail.com>"))
    assert answer["outcome"] == "acknowledged"
    [step] = escalations(client, incident, rule="Team not assembled")
    assert (step["step"], step["contacts"], step["acknowledged_by"], step["via"]) == (
        0, ["incident_commander"], "alice", "email")
    assert "Escalation 'Team not assembled' (step 1) acknowledged by Alice Archer via email" in [
        e["text"] for e in timeline(client, incident["id"])]
    # Bob holds a role too, but the message was not his.
    bob = post(client, reply_to(message, sender="bob@example.com", body="ack too"))
    assert bob["outcome"] == "rejected_sender"


def test_the_recipient_record_holds_every_message(app, client, escalated):
    with app.app_context():
        rows = db.session.scalars(select(EscalationRecipient)).all()
        assert [(r.channel, r.address) for r in rows if r.step.rule == RULE] == [("email", MANAGER)]
    [step] = escalations(client, escalated)
    assert step["recipients"] == [{"address": MANAGER, "channel": "email", "sent_at": step["fired_at"],
                                   "acknowledged_at": None}]
    assert REPLY_ADDRESS.endswith("replies.example.com")
