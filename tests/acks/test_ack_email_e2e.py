"""End to end over loopback: a page leaves by SMTP, the reply comes back by SMTP, the role is acknowledged."""
import smtplib
from email.message import EmailMessage

import pytest

from service.acks import smtp as inbound_smtp
from service.wiring import run_tick
from tests.conftest import ADMIN


@pytest.fixture
def listener(app, config, mail, monkeypatch):
    monkeypatch.setattr(inbound_smtp, "MAX_MESSAGE_BYTES", 64 * 1024)
    config.inbound_smtp = "127.0.0.1:0"
    controller = inbound_smtp.start_listener(app)
    yield controller
    inbound_smtp.stop_listener(controller)


def sent_page(sink, address):
    for (_sender, recipients), message in zip(sink.envelopes, sink.messages):
        if address in recipients and "PAGE" in message["Subject"]:
            return message
    raise AssertionError(f"no page was sent to {address}")


def test_page_out_reply_in_role_acknowledged(app, client, incident, mail, listener, frozen_clock):
    run_tick(frozen_clock.now())  # the dispatcher sends the pages through SMTP
    page = sent_page(mail, "alice@example.com")
    assert page["Reply-To"].startswith("herald+") and page["Reply-To"].endswith("@replies.example.com")

    reply = EmailMessage()
    reply["From"] = "Alice Archer <alice@example.com>"
    reply["To"] = page["Reply-To"]
    reply["Subject"] = "RE: " + page["Subject"]
    reply["Message-ID"] = "<reply-e2e-1@example.com>"
    reply["In-Reply-To"] = page["Message-ID"]
    reply["References"] = page["Message-ID"]
    quoted = "\n".join("> " + line for line in page.get_body(("plain",)).get_content().splitlines())
    reply.set_content(f"Ack, on it.\n\nSent from my iPhone\n\n> On 2 Mar 2026, Herald wrote:\n{quoted}\n")
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        refused = server.send_message(reply, from_addr="alice@example.com", to_addrs=[page["Reply-To"]])
    assert refused == {}

    roles = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]
    assert roles["incident_commander"]["acknowledged_via"] == "email"
    assert roles["technical_lead"]["acknowledged_at"] is None


def test_listener_relays_nothing_and_caps_the_size(listener):
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        with pytest.raises(smtplib.SMTPRecipientsRefused) as refused:
            server.sendmail("spammer@example.org", ["victim@elsewhere.example.org"], b"Subject: hi\r\n\r\nhi\r\n")
        assert refused.value.recipients["victim@elsewhere.example.org"][0] == 550
    big = b"From: alice@example.com\r\nSubject: Re: x\r\n\r\n" + b"ack " * 20000
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        with pytest.raises(smtplib.SMTPException) as too_big:
            server.sendmail("alice@example.com", ["herald@replies.example.com"], big)
        assert getattr(too_big.value, "smtp_code", None) == 552


def test_herald_worker_runs_the_listener(tmp_path):
    """`herald worker` with HERALD_INBOUND_SMTP takes replies for the reply domain and refuses to relay."""
    import os
    import re
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    from service.config import PROJECT_ROOT

    herald = Path(sys.executable).with_name("herald")
    env = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    env.update(HERALD_DATABASE_URL=f"sqlite:///{tmp_path / 'herald.db'}", HERALD_VAR_DIR=str(tmp_path),
               HERALD_POLICY=str(PROJECT_ROOT / "schedules" / "policy.toml"), HERALD_TICK_SECONDS="0.5",
               HERALD_REPLY_ADDRESS="herald@replies.example.com", HERALD_INBOUND_SMTP="127.0.0.1:0")
    subprocess.run([str(herald), "db", "upgrade"], env=env, check=True, cwd=tmp_path, capture_output=True)
    worker = subprocess.Popen([str(herald), "worker"], env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
    try:
        seen, port, deadline = [], None, time.monotonic() + 60
        while port is None and time.monotonic() < deadline:
            line = worker.stdout.readline()
            if not line:
                break
            seen.append(line)
            found = re.search(r"accepting replies for @replies\.example\.com over SMTP on 127\.0\.0\.1:(\d+)", line)
            port = int(found.group(1)) if found else None
        assert port, "".join(seen)
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as server:
            assert server.sendmail("alice@example.com", ["herald+x@replies.example.com"],
                                   b"From: alice@example.com\r\nSubject: hello\r\n\r\nack\r\n") == {}
            with pytest.raises(smtplib.SMTPRecipientsRefused):
                server.sendmail("alice@example.com", ["bob@example.org"], b"Subject: x\r\n\r\nx\r\n")
    finally:
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=30)
    assert worker.returncode == 0, output


def test_a_message_that_can_never_be_read_is_refused_for_good(listener):
    """Beyond the header limits (or unparseable) is a 5xx: a 451 would make the sender retry it for days."""
    many_fields = b"From: alice@example.com\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(2000)) + b"\r\nack\r\n"
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        with pytest.raises(smtplib.SMTPDataError) as refused:
            server.sendmail("alice@example.com", ["herald@replies.example.com"], many_fields)
    assert refused.value.smtp_code == 554
    assert b"header fields" in refused.value.smtp_error


def _reply(to: str, original, body: str, message_id: str, sender: str = "Sam Stakeholder <stakeholders@example.com>"):
    reply = EmailMessage()
    reply["From"] = sender
    reply["To"] = to
    reply["Subject"] = "Re: " + original["Subject"]
    reply["Message-ID"] = message_id
    reply["In-Reply-To"] = original["Message-ID"]
    reply["References"] = original["Message-ID"]
    quoted = "\n".join("> " + line for line in original.get_body(("plain",)).get_content().splitlines())
    reply.set_content(f"{body}\n\n> On 2 Mar 2026, Herald wrote:\n{quoted}\n")
    return reply


def test_stakeholder_update_out_got_it_and_a_question_back_over_smtp(app, client, incident, mail, listener,
                                                                    frozen_clock):
    """The 🔴 INCIDENT email leaves by SMTP with its Got it link and Reply-To; "ack" comes back by SMTP and is
    a receipt; a question comes back and reaches the Communications Lead's stand-in (the IC) by SMTP."""
    run_tick(frozen_clock.now())
    update = next(m for (_sender, rcpts), m in zip(mail.envelopes, mail.messages)
                  if "stakeholders@example.com" in rcpts and "INCIDENT" in m["Subject"])
    reply_to = update["Reply-To"]
    assert reply_to.startswith("herald+") and reply_to.endswith("@replies.example.com")
    token = reply_to[len("herald+"):].split("@")[0]
    assert f"http://herald.test/ack/{token}" in update.get_body(("plain",)).get_content()

    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        assert server.send_message(_reply(reply_to, update, "Ack, thanks", "<sam-1@example.com>"),
                                   from_addr="stakeholders@example.com", to_addrs=[reply_to]) == {}
        assert server.send_message(_reply(reply_to, update, "Ack", "<mallory-1@example.com>",
                                          sender="mallory@example.com"),
                                   from_addr="mallory@example.com", to_addrs=[reply_to]) == {}
        assert server.send_message(_reply(reply_to, update, "Will the EU shop be affected?", "<sam-2@example.com>"),
                                   from_addr="stakeholders@example.com", to_addrs=[reply_to]) == {}

    [initial] = client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN).get_json()
    assert [(a["address"], a["via"]) for a in initial["acknowledged_by"]] == [("stakeholders@example.com", "email")]
    assert initial["seen"] == {"count": 1, "of": 1}
    roles = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]
    assert all(r["acknowledged_at"] is None for r in roles.values())  # a receipt acknowledges no page
    texts = [e["text"] for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()]
    assert any(t.startswith("Rejected acknowledgement from mallory@example.com") for t in texts)
    assert any(t.startswith("Question from Sam Stakeholder <stakeholders@example.com> on the 🔴 INCIDENT")
               for t in texts)

    before = len(mail.messages)
    run_tick(frozen_clock.now())  # no Communications Lead on call here: the Incident Commander (Alice) hears it
    told = [m for m in mail.messages[before:] if "Stakeholder question" in m["Subject"]]
    assert [m["To"].addresses[0].addr_spec for m in told] == ["alice@example.com"]
    assert "Will the EU shop be affected?" in told[0].get_body(("plain",)).get_content()
