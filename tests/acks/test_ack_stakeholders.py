"""Stakeholders say "Got it" to status updates: by replying "ack" (every real-world client the page tests
use), by the link, never twice; other replies are questions for the Communications Lead."""
from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from service import db
from service.ack_tokens import InvalidAckToken, make_token, read_token
from service.acks.models import InboundMessage
from service.config import PROJECT_ROOT
from service.incidents.models import Incident
from service.notify import receipts
from service.notify.models import Notification, UpdateReceipt
from tests.acks.conftest import REPLY_ADDRESS, reply_to, timeline
from tests.conftest import ADMIN, START

MAIL = Path(__file__).parent / "mail"
RFC822 = {**ADMIN, "Content-Type": "message/rfc822"}
# The stakeholder contact's addresses: every sender of the real-world replies in tests/acks/mail, and the CFO.
STAKEHOLDERS = ["cfo@example.com", "alice@example.com", "alice.archer@example.com", "alice.archer@gmail.com",
                "bob@example.com", "juergen.mueller@example.de"]


@pytest.fixture
def config(config, database_url, tmp_path):
    """The example policy with the stakeholder contact reaching STAKEHOLDERS."""
    text = (PROJECT_ROOT / "schedules" / "policy.toml").read_text()
    original = 'email = ["stakeholders@example.com"]'
    assert original in text
    path = tmp_path / "policy.toml"
    path.write_text(text.replace(original, "email = " + json.dumps(STAKEHOLDERS)))
    config.policy_path = str(path)
    return config


@pytest.fixture
def team(make_person, put_on_call):
    """Ivan commands, Carol is the Communications Lead; Mallory is known to Herald but no stakeholder."""
    make_person("ivan", "Ivan Ives", "ivan@example.com")
    make_person("carol", "Carol Clark", "carol@example.com")
    make_person("mallory", "Mallory Moe", "mallory@example.com")
    put_on_call("incident-commander", "ivan", START - timedelta(days=1))
    put_on_call("communications-lead", "carol", START - timedelta(days=1))


@pytest.fixture
def incident(client, team, mail):
    response = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def update_mail(app, incident_id: int, address: str, kind: str = "initial") -> Notification:
    """The stakeholder email of `kind` Herald queued for `address`."""
    with app.app_context():
        row = db.session.scalar(select(Notification).where(
            Notification.incident_id == incident_id, Notification.kind == kind, Notification.channel == "email",
            Notification.recipient == address).order_by(Notification.id.desc()))
        db.session.expunge(row)
        return row


def post(client, raw: bytes):
    answer = client.post("/api/inbound/email", data=raw, headers=RFC822)
    assert answer.status_code == 200, answer.get_data(as_text=True)
    return answer.get_json()


def updates(client, incident) -> list[dict]:
    answer = client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN)
    assert answer.status_code == 200, answer.get_json()
    return answer.get_json()


def receipt_rows(app) -> list[UpdateReceipt]:
    with app.app_context():
        return list(db.session.scalars(select(UpdateReceipt).order_by(UpdateReceipt.id)))


def messages(app, incident, kind: str) -> list[Notification]:
    with app.app_context():
        return list(db.session.scalars(select(Notification).where(
            Notification.incident_id == incident["id"], Notification.kind == kind).order_by(Notification.id)))


# ---- the message ----------------------------------------------------------------------------------

def test_every_stakeholder_email_carries_its_own_got_it(app, client, incident):
    sent = messages(app, incident, "initial")
    assert sorted(n.recipient for n in sent) == sorted(STAKEHOLDERS)
    tokens = {n.ack_token for n in sent}
    assert len(tokens) == len(sent)
    local, _, domain = REPLY_ADDRESS.partition("@")
    for n in sent:
        assert n.payload["reply_to"] == f"{local}+{n.ack_token}@{domain}"
        assert f"http://herald.test/ack/{n.ack_token}" in n.payload["text"]
        assert f'href="http://herald.test/ack/{n.ack_token}"' in n.payload["html"]
        assert ">Got it</a>" in n.payload["html"]
    [initial] = updates(client, incident)
    assert initial["kind"] == "initial" and initial["text"].startswith("🔴 INCIDENT: Orders are failing")
    assert initial["seen"] == {"count": 0, "of": len(STAKEHOLDERS)}
    assert initial["acknowledged_by"] == []
    assert {r["address"] for r in initial["recipients"]} == set(STAKEHOLDERS)
    assert all(r["channel"] == "email" and r["acknowledged_at"] is None for r in initial["recipients"])


def test_an_update_token_is_of_its_own_kind(app, client, incident):
    """Signed apart from pages (its own salt): it reads as kind "update", never as a page."""
    from service.ack_tokens import read_ack_token

    stakeholder = update_mail(app, incident["id"], "cfo@example.com")
    with app.app_context():
        found = read_token(stakeholder.ack_token)
        assert (found.kind, found.incident_id, found.notification_id) == ("update", incident["id"], stakeholder.id)
        with pytest.raises(InvalidAckToken):
            read_ack_token(stakeholder.ack_token)


# ---- replies ------------------------------------------------------------------------------------

def test_reply_ack_in_the_thread_is_a_receipt_and_nothing_else(app, client, incident):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    answer = post(client, reply_to(mail, sender="Chris Finance <CFO@example.com>", token=False))
    assert answer == {"outcome": "acknowledged", "detail": "seen: the 🔴 INCIDENT of 10:00 UTC",
                      "incident": incident["number"], "duplicate": False}
    [initial] = updates(client, incident)
    assert initial["acknowledged_by"] == [{"address": "cfo@example.com", "name": "Chris Finance",
                                           "at": "2026-03-02T10:00:00Z", "via": "email"}]
    assert initial["seen"] == {"count": 1, "of": len(STAKEHOLDERS)}
    cfo = next(r for r in initial["recipients"] if r["address"] == "cfo@example.com")
    assert cfo["acknowledged_at"] == "2026-03-02T10:00:00Z"
    # A receipt is not a page: no role is acknowledged, nothing on the timeline, no help email.
    roles = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["acknowledged_at"] is None
    assert not [e for e in timeline(client, incident["id"]) if "cfo@" in e["text"]]
    assert messages(app, incident, "help") == []


def test_the_token_alone_or_the_subject_with_the_sender_find_the_update(app, client, incident):
    cfo = update_mail(app, incident["id"], "cfo@example.com")
    assert post(client, reply_to(cfo, sender="cfo@example.com", thread=False, subject="ack"))["outcome"] \
        == "acknowledged"
    bob = update_mail(app, incident["id"], "bob@example.com")
    raw = reply_to(bob, sender="bob@example.com", thread=False, token=False,
                   subject=f"AW: [{incident['number']}] 🔴 INCIDENT")
    assert post(client, raw)["outcome"] == "acknowledged"
    assert {(r.address, r.via) for r in receipt_rows(app)} == {("cfo@example.com", "email"),
                                                              ("bob@example.com", "email")}


def test_acknowledging_twice_counts_once(app, client, incident):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    assert post(client, reply_to(mail, sender="cfo@example.com"))["outcome"] == "acknowledged"
    again = post(client, reply_to(mail, sender="cfo@example.com", body="ok"))
    assert again["outcome"] == "already_acknowledged" and not again["duplicate"]
    assert post(client, reply_to(mail, sender="cfo@example.com", body="ok"))["duplicate"] is True
    assert client.post(f"/ack/{mail.ack_token}").status_code == 200
    assert [(r.address, r.via) for r in receipt_rows(app)] == [("cfo@example.com", "email")]
    assert updates(client, incident)[0]["seen"]["count"] == 1


def test_a_reply_from_an_address_the_update_was_not_sent_to_changes_nothing(app, client, incident):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    answer = post(client, reply_to(mail, sender="mallory@example.com"))
    assert answer["outcome"] == "rejected_sender"
    assert answer["detail"] == "mallory@example.com is not an address the 🔴 INCIDENT of 10:00 UTC was sent to"
    assert receipt_rows(app) == []
    assert timeline(client, incident["id"])[-1]["text"] == \
        "Rejected acknowledgement from mallory@example.com: the 🔴 INCIDENT of 10:00 UTC was not sent to them"
    # Nor does the subject tag let a stranger in.
    raw = reply_to(mail, sender="mallory@example.com", thread=False, token=False,
                   subject=f"Re: [{incident['number']}] x")
    assert post(client, raw)["outcome"] == "rejected_sender"
    assert receipt_rows(app) == [] and messages(app, incident, "question") == []


def test_a_question_goes_on_the_timeline_and_to_the_communications_lead(app, client, incident):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    answer = post(client, reply_to(mail, sender="Chris Finance <cfo@example.com>",
                                   body="Are card payments affected too?\n\nChris"))
    assert answer["outcome"] == "question"
    entry = timeline(client, incident["id"])[-1]
    assert entry["kind"] == "stakeholder_question"
    assert entry["text"] == ("Question from Chris Finance <cfo@example.com> on the 🔴 INCIDENT of 10:00 UTC: "
                             "Are card payments affected too? Chris")
    [told] = messages(app, incident, "question")
    assert (told.recipient, told.channel, told.recipient_name) == ("carol@example.com", "email", "Carol Clark")
    assert told.payload["subject"] == f"[{incident['number']}] ❓ Stakeholder question: Orders are failing"
    assert "Are card payments affected too? Chris" in told.payload["text"]
    assert "They wrote from cfo@example.com" in told.payload["text"]
    assert receipt_rows(app) == []            # a question is not a Got it
    assert messages(app, incident, "help") == []  # and the stakeholder gets no help email


def test_without_a_communications_lead_the_commander_hears_the_question(app, client, incident):
    with app.app_context(), db.transaction() as s:
        slot = s.get(Incident, incident["id"]).role("communications_lead")
        slot.person_id = None
    mail = update_mail(app, incident["id"], "cfo@example.com")
    assert post(client, reply_to(mail, sender="cfo@example.com", body="When will it be back?"))["outcome"] \
        == "question"
    assert [n.recipient for n in messages(app, incident, "question")] == ["ivan@example.com"]


def test_a_reply_to_a_progress_update_is_a_receipt_for_that_update(app, client, incident):
    posted = client.post(f"/api/incidents/{incident['id']}/updates",
                         json={"status": "identified", "learned": "A bad deploy", "doing": "Rolling back"},
                         headers=ADMIN)
    assert posted.status_code == 201
    mail = update_mail(app, incident["id"], "cfo@example.com", kind="progress")
    assert post(client, reply_to(mail, sender="cfo@example.com"))["outcome"] == "acknowledged"
    initial, progress = updates(client, incident)
    assert initial["acknowledged_by"] == [] and initial["seen"]["count"] == 0
    assert [a["address"] for a in progress["acknowledged_by"]] == ["cfo@example.com"]
    assert progress["id"] == posted.get_json()["id"] and progress["learned"] == "A bad deploy"
    assert "What we've learned: A bad deploy" in progress["text"]


def test_the_pages_still_answer_to_their_own_replies(app, client, incident):
    """Ivan, paged and no stakeholder: his "ack" to his page acknowledges his role; to an update, it is refused."""
    with app.app_context():
        page = db.session.scalar(select(Notification).where(Notification.kind == "page",
                                                            Notification.channel == "email"))
        db.session.expunge(page)
    assert post(client, reply_to(page, sender="ivan@example.com"))["outcome"] == "acknowledged"
    mail = update_mail(app, incident["id"], "cfo@example.com")
    assert post(client, reply_to(mail, sender="ivan@example.com"))["outcome"] == "rejected_sender"
    assert receipt_rows(app) == []


@pytest.mark.parametrize("fixture", ["exchange_out_of_office.eml", "gmail_vacation.eml", "mailing_list.eml",
                                     "x_autoreply.eml", "read_receipt.eml"])
def test_automatic_replies_are_ignored(app, client, incident, fixture):
    answer = post(client, _fixture_reply(app, incident, fixture))
    assert answer["outcome"] == "automatic"
    assert receipt_rows(app) == [] and messages(app, incident, "question") == []


# file -> (outcome, the stakeholder address it counts for)
CLIENTS = {
    "outlook_desktop.eml": ("acknowledged", "alice.archer@example.com"),
    "owa_html_only.eml": ("acknowledged", "bob@example.com"),
    "gmail.eml": ("acknowledged", "alice.archer@gmail.com"),
    "gmail_html_only.eml": ("acknowledged", "alice.archer@gmail.com"),
    "apple_mail.eml": ("acknowledged", "alice@example.com"),
    "iphone.eml": ("acknowledged", "bob@example.com"),
    "outlook_german.eml": ("acknowledged", "juergen.mueller@example.de"),
    "signature_ack.eml": ("acknowledged", "alice@example.com"),
    "auto_submitted_no.eml": ("acknowledged", "alice@example.com"),
    "top_posting_not_ack.eml": ("question", None),
    "quoted_only.eml": ("not_a_command", None),
}


def _fixture_reply(app, incident, fixture: str) -> bytes:
    """A real client's reply turned into a reply to the initial update its sender got."""
    raw = (MAIL / fixture).read_bytes()
    sender = re.search(rb"^From:.*?<?([\w.+-]+@[\w.-]+)>?\s*$", raw, re.MULTILINE | re.IGNORECASE).group(1)
    mail = update_mail(app, incident["id"], sender.decode().lower())
    return (re.sub(rb"<page\.\d\.\w+@herald\.example\.com>", mail.message_id.encode(), raw)
            .replace(b"TOKEN", mail.ack_token.encode())
            .replace(b"INC-20260302-1", incident["number"].encode()))


@pytest.mark.parametrize("fixture", sorted(CLIENTS))
def test_replies_from_every_real_client(app, client, incident, fixture):
    outcome, address = CLIENTS[fixture]
    answer = post(client, _fixture_reply(app, incident, fixture))
    assert answer["outcome"] == outcome, answer
    if address:
        assert [(r.address, r.via) for r in receipt_rows(app)] == [(address, "email")]
    else:
        assert receipt_rows(app) == []
    assert len(messages(app, incident, "question")) == (outcome == "question")


# ---- the link ------------------------------------------------------------------------------------

def test_the_link_shows_on_get_and_acknowledges_on_post(app, client, incident, frozen_clock):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    shown = client.get(f"/ack/{mail.ack_token}")
    assert shown.status_code == 200
    page = shown.get_data(as_text=True)
    assert "Seen this update?" in page and '<button type="submit">Got it</button>' in page
    assert incident["number"] in page and "the 🔴 INCIDENT of 10:00 UTC" in page
    assert receipt_rows(app) == []  # mail scanners follow links: a GET changes nothing

    frozen_clock.advance(timedelta(minutes=3))
    done = client.post(f"/ack/{mail.ack_token}")
    assert done.status_code == 200 and "Thank you" in done.get_data(as_text=True)
    [receipt] = updates(client, incident)[0]["acknowledged_by"]
    assert receipt == {"address": "cfo@example.com", "name": "Stakeholders", "at": "2026-03-02T10:03:00Z",
                       "via": "link"}
    again = client.post(f"/ack/{mail.ack_token}")
    assert again.status_code == 200 and "Already noted" in again.get_data(as_text=True)
    assert "You said Got it at 10:03 UTC (link)" in client.get(f"/ack/{mail.ack_token}").get_data(as_text=True)
    assert len(receipt_rows(app)) == 1


def test_bad_links_get_a_403_page_and_change_nothing(app, client, incident, frozen_clock):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    tampered = mail.ack_token[:-2] + ("AA" if not mail.ack_token.endswith("AA") else "BB")
    other = client.post("/api/incidents", json={"title": "Another", "severity": "P3"}, headers=ADMIN).get_json()
    with app.app_context():
        # Signed by Herald, but naming this update's message under another incident.
        crossed = make_token("update", other["id"], mail.id)
    for token in (tampered, crossed, "not-a-token"):
        for method in (client.get, client.post):
            answer = method(f"/ack/{token}")
            assert answer.status_code == 403, (token, answer.status_code)
            assert "not valid" in answer.get_data(as_text=True) or "does not belong" in answer.get_data(as_text=True)
    frozen_clock.advance(timedelta(days=31))
    assert client.post(f"/ack/{mail.ack_token}").status_code == 403  # expired
    assert receipt_rows(app) == []


def test_a_message_that_is_no_update_is_no_receipt(app, client, incident):
    """A receipt token for a page's message (forged with Herald's key) names no update: 403."""
    with app.app_context():
        page = db.session.scalar(select(Notification).where(Notification.kind == "page"))
        token = make_token("update", incident["id"], page.id)
    assert client.post(f"/ack/{token}").status_code == 403
    assert receipt_rows(app) == []


def test_receipts_read_model_is_pure():
    """seen by N of M: M counts the messages that can answer back; a channel card counts once anyone said it."""
    from datetime import datetime, timezone
    from types import SimpleNamespace as N

    t = datetime(2026, 3, 2, 10, 5, tzinfo=timezone.utc)
    sent = [N(id=1, channel="email", recipient="a@x", recipient_name="A", status="sent", sent_at=t),
            N(id=2, channel="email", recipient="b@x", recipient_name="B", status="dead", sent_at=None),
            N(id=3, channel="teams", recipient="https://hook", recipient_name="Channel", status="sent", sent_at=t),
            N(id=4, channel="teams_bot", recipient="19:c", recipient_name="Channel (bot)", status="sent", sent_at=t),
            N(id=5, channel="email", recipient="c@x", recipient_name="C", status="cancelled", sent_at=None)]
    got = [N(id=1, address="a@x", name="A", at=t, via="link", notification_id=1),
           N(id=2, address="teams:1", name="Zed", at=t + timedelta(minutes=1), via="teams", notification_id=4),
           N(id=3, address="teams:2", name="Yan", at=t, via="teams", notification_id=4)]
    result = receipts.summarise(sent, got)
    assert [r.address for r in result.recipients] == ["a@x", "b@x", "https://hook", "19:c"]
    assert (result.seen, result.of) == (2, 3)
    assert [s.name for s in result.acknowledged_by] == ["A", "Yan", "Zed"]
    assert result.recipients[3].acknowledged_at == t


def test_inbound_rows_say_what_happened(app, client, incident):
    mail = update_mail(app, incident["id"], "cfo@example.com")
    post(client, reply_to(mail, sender="cfo@example.com", body="Is the API down too?"))
    with app.app_context():
        row = db.session.scalar(select(InboundMessage))
        assert (row.outcome, row.incident_id, row.notification_id) == ("question", incident["id"], mail.id)
