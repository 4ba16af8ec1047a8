"""End to end over loopback SMTP: an escalation leaves by SMTP, the manager's reply comes back by SMTP,
the step is acknowledged and the chain goes no further."""
import smtplib
from datetime import timedelta
from email.message import EmailMessage

from service.wiring import run_tick
from tests.acks.test_ack_email_e2e import listener  # noqa: F401  (fixture)
from tests.conftest import ADMIN, START

MANAGER = "eng-manager@example.com"


def sent_to(sink, address, marker):
    for (_sender, recipients), message in zip(sink.envelopes, sink.messages):
        if address in recipients and marker in message["Subject"]:
            return message
    raise AssertionError(f"nothing with {marker!r} was sent to {address}")


def reply(original, sender, text, message_id):
    message = EmailMessage()
    message["From"] = sender
    message["To"] = original["Reply-To"]
    message["Subject"] = "RE: " + original["Subject"]
    message["Message-ID"] = message_id
    message["In-Reply-To"] = original["Message-ID"]
    message["References"] = original["Message-ID"]
    quoted = "\n".join("> " + line for line in original.get_body(("plain",)).get_content().splitlines())
    message.set_content(f"{text}\n\n-- \nErica, Engineering Manager\n\n> On 2 Mar 2026, Herald wrote:\n{quoted}\n")
    return message


def test_escalation_out_reply_in_chain_stopped(app, client, incident, mail, listener, frozen_clock):  # noqa: F811
    frozen_clock.set(START + timedelta(minutes=15))
    run_tick(frozen_clock.now())
    escalation = sent_to(mail, MANAGER, "ESCALATION")
    assert escalation["Reply-To"].startswith("herald+") and escalation["Reply-To"].endswith("@replies.example.com")
    token = escalation["Reply-To"][len("herald+"):].split("@")[0]
    assert f"http://herald.test/ack/{token}" in escalation.get_body(("plain",)).get_content()

    # Someone the escalation did not go to answers first: recorded, nothing changes.
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        refused = server.send_message(reply(escalation, "Mallory <mallory@example.com>", "ack", "<e2e-1@example.com>"),
                                      from_addr="mallory@example.com", to_addrs=[escalation["Reply-To"]])
    assert refused == {}
    steps = client.get(f"/api/incidents/{incident['id']}/escalations", headers=ADMIN).get_json()
    assert steps[0]["acknowledged_at"] is None

    frozen_clock.set(START + timedelta(minutes=18))
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as server:
        refused = server.send_message(reply(escalation, f"Erica <{MANAGER}>", "Ack - looking now", "<e2e-2@example.com>"),
                                      from_addr=MANAGER, to_addrs=[escalation["Reply-To"]])
    assert refused == {}
    [step] = [s for s in client.get(f"/api/incidents/{incident['id']}/escalations", headers=ADMIN).get_json()
              if s["rule"] == "P1 not acknowledged"]
    assert (step["acknowledged_at"], step["acknowledged_by"], step["via"]) == ("2026-03-02T10:18:00Z", MANAGER, "email")
    assert step["recipients"] == [{"address": MANAGER, "channel": "email", "sent_at": "2026-03-02T10:15:00Z",
                                   "acknowledged_at": "2026-03-02T10:18:00Z"}]
    texts = [e["text"] for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()]
    assert any(t.startswith("Rejected acknowledgement of escalation 'P1 not acknowledged'") for t in texts)

    frozen_clock.set(START + timedelta(minutes=31))
    run_tick(frozen_clock.now())
    assert not [m for m in mail.messages if "vp-engineering@example.com" in str(m["To"])
                and "not acknowledged" in str(m["Subject"]).lower()]
