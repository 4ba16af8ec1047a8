"""Incidents to inboxes: the dispatcher delivering through SMTP (aiosmtpd) and Microsoft Graph (HTTPS double)."""
from service import db
from service.incidents.models import Incident
from service.notify.outbox import Recipient, notify
from service.wiring import run_tick
from tests.conftest import ADMIN

CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def open_p1(client):
    response = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1",
                                                   "impact": "Nobody can trade"}, headers=ADMIN)
    assert response.status_code == 201
    return response.get_json()


def test_a_p1_reaches_inboxes_over_smtp(client, config, responders, smtp_sink, outbox, frozen_clock):
    sink = smtp_sink()
    config.smtp_url = f"smtp://127.0.0.1:{sink.port}"
    config.mail_from = "herald@example.com"
    config.reply_address = "herald@replies.example.com"
    responders()
    open_p1(client)
    run_tick(frozen_clock.now())

    rows = outbox()
    assert {(n.channel, n.status) for n in rows} == {("email", "sent")}
    received = {m["To"].addresses[0].addr_spec: m for m in sink.messages}
    assert sorted(received) == ["alice@example.com", "bob@example.com", "carol@example.com", "dave@example.com",
                                "stakeholders@example.com"]
    for row in rows:
        mail = received[row.recipient]
        assert mail["Message-ID"] == row.message_id == row.provider_id
        assert mail["Subject"] == row.payload["subject"]
        assert mail["Subject"].startswith("[INC-20260302-1] ")
        if row.kind in ("page", "initial"):  # the stakeholder update's token is its "Got it"
            assert mail["Reply-To"] == f"herald+{row.ack_token}@replies.example.com"
            assert f"http://herald.test/ack/{row.ack_token}" in mail.get_body(("plain",)).get_content()
        else:
            assert mail["Reply-To"] is None
    assert sink.connections == 1  # one connection for the whole burst


def test_an_invitation_carries_its_calendar_part(app, client, config, smtp_sink, frozen_clock):
    sink = smtp_sink()
    config.smtp_url = f"smtp://127.0.0.1:{sink.port}"
    incident_id = open_p1(client)["id"]
    with app.app_context(), db.transaction() as s:
        incident = s.get(Incident, incident_id)
        notify(s, incident=incident, kind="escalation", slot="review", calendar=CALENDAR,
               recipients=[Recipient("email", "ic@example.com", "IC")],
               context={"escalation": {"name": "Review", "reason": "Book the review"}})
    run_tick(frozen_clock.now())
    mail = [m for m in sink.messages if m["To"].addresses[0].addr_spec == "ic@example.com"][0]
    parts = {p.get_content_type(): p for p in mail.iter_parts()}
    assert set(parts) == {"text/plain", "text/html", "text/calendar"}
    assert parts["text/calendar"].get_param("method") == "REQUEST"


def test_a_p1_reaches_inboxes_through_graph(client, config, responders, graph, outbox, frozen_clock):
    config.graph_tenant_id, config.graph_client_id = graph.tenant, graph.client_id
    config.graph_client_secret, config.graph_mailbox = graph.client_secret, graph.mailbox
    config.graph_authority, config.graph_url = graph.authority, graph.graph_url
    config.reply_address = "herald@replies.example.com"
    responders()
    open_p1(client)
    graph.script(429, b'{"error":{"code":"ApplicationThrottled","message":"slow down"}}', {"Retry-After": "5"},
                 path="/sendMail")
    run_tick(frozen_clock.now())
    throttled = [n for n in outbox() if n.status == "failed"]
    assert len(throttled) == 1 and throttled[0].last_error.startswith("Graph sendMail failed: 429")
    frozen_clock.set(throttled[0].next_attempt_at)  # Retry-After: 5, and a little jitter
    run_tick(frozen_clock.now())
    assert {n.status for n in outbox()} == {"sent"}
    assert len(graph.sent) == 5 and graph.token_requests == 1
    page = outbox(kind="page")[0]
    mail = next(m for m in graph.sent if m["Message-ID"] == page.message_id)
    assert mail["Reply-To"] == f"herald+{page.ack_token}@replies.example.com"
    assert page.message_id.endswith("@contoso.example>")  # Graph sends as the mailbox
