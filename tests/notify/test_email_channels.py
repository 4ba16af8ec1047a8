"""Email over SMTP (aiosmtpd on loopback: plain, STARTTLS, SMTPS, AUTH) and over Microsoft Graph (HTTPS double)."""
import base64
import socket

import pytest

from service.config import Config
from service.microsoft import DeltaExpired, GraphError, Microsoft, TokenError
from service.notify.channels import Outgoing, PermanentError, RetryableError
from service.notify.channels.graph import GraphMailChannel
from service.notify.channels.smtp import SmtpChannel, SmtpSettings

CALENDAR = "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nMETHOD:REQUEST\r\nEND:VCALENDAR\r\n"


def outgoing(n=1, to="alice@example.com", **payload):
    body = {"subject": "[INC-20260302-1] 🚨 PAGE P1: Orders are failing", "text": "Acknowledge: …\n",
            "html": "<p>Acknowledge</p>", **payload}
    return Outgoing(id=n, kind="page", channel="email", recipient=to, recipient_name="Alice Archer", payload=body,
                    message_id=f"<1.2.herald.{n}@example.com>")


def test_smtp_url_forms():
    plain = SmtpSettings.from_url("smtp://mail.example.com")
    assert (plain.host, plain.port, plain.implicit_tls, plain.starttls, plain.username) == \
        ("mail.example.com", 25, False, False, None)
    tls = SmtpSettings.from_url("smtp://u%40x:p%3Aw@mail.example.com:587?starttls=1&timeout=5")
    assert (tls.port, tls.starttls, tls.username, tls.password, tls.timeout) == (587, True, "u@x", "p:w", 5.0)
    assert SmtpSettings.from_url("smtps://mail.example.com").port == 465
    with pytest.raises(ValueError):
        SmtpSettings.from_url("http://mail.example.com")


def test_smtp_sends_multipart_with_our_headers_and_reuses_the_connection(smtp_sink):
    sink = smtp_sink()
    channel = SmtpChannel(f"smtp://127.0.0.1:{sink.port}", "herald@example.com")
    receipt = channel.send(outgoing(1, reply_to="herald+TOKEN@replies.example.com"))
    channel.send(outgoing(2, to="bob@example.com", calendar=CALENDAR))
    channel.close()
    assert sink.connections == 1
    assert receipt.provider_id == "<1.2.herald.1@example.com>"
    assert sink.envelopes == [("herald@example.com", ["alice@example.com"]),
                              ("herald@example.com", ["bob@example.com"])]
    first, second = sink.messages
    assert first["Subject"] == "[INC-20260302-1] 🚨 PAGE P1: Orders are failing"
    assert first["From"] == "Herald <herald@example.com>"
    assert first["To"] == "Alice Archer <alice@example.com>"
    assert first["Message-ID"] == "<1.2.herald.1@example.com>"
    assert first["Reply-To"] == "herald+TOKEN@replies.example.com"
    assert first["Auto-Submitted"] == "auto-generated"
    assert first["X-Auto-Response-Suppress"] == "OOF, AutoReply"
    assert first.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in first.iter_parts()] == ["text/plain", "text/html"]
    assert first.get_body(("plain",)).get_content().replace("\r\n", "\n") == "Acknowledge: …\n"
    assert second["Reply-To"] is None
    calendar = [p for p in second.iter_parts() if p.get_content_type() == "text/calendar"]
    assert len(calendar) == 1 and calendar[0].get_param("method") == "REQUEST"
    assert "METHOD:REQUEST" in calendar[0].get_content()


def test_a_cancellation_is_labelled_cancel(smtp_sink):
    sink = smtp_sink()
    channel = SmtpChannel(f"smtp://127.0.0.1:{sink.port}", "herald@example.com")
    channel.send(outgoing(3, to="bob@example.com", calendar=CALENDAR.replace("METHOD:REQUEST", "METHOD:CANCEL")))
    channel.close()
    calendar = [p for p in sink.messages[0].iter_parts() if p.get_content_type() == "text/calendar"]
    assert calendar[0].get_param("method") == "CANCEL"


def test_starttls_with_login(smtp_sink, certificate):
    sink = smtp_sink(starttls=certificate, login=("herald", "pw"))
    url = f"smtp://herald:pw@127.0.0.1:{sink.port}?starttls=1&cafile={certificate.cert_file}"
    SmtpChannel(url, "herald@example.com").send(outgoing())
    assert len(sink.messages) == 1
    wrong = f"smtp://herald:nope@127.0.0.1:{sink.port}?starttls=1&cafile={certificate.cert_file}"
    with pytest.raises(RetryableError, match="SMTP login failed: 535"):
        SmtpChannel(wrong, "herald@example.com").send(outgoing())
    untrusted = f"smtp://herald:pw@127.0.0.1:{sink.port}?starttls=1"
    with pytest.raises(RetryableError, match="CERTIFICATE_VERIFY_FAILED"):
        SmtpChannel(untrusted, "herald@example.com").send(outgoing())


@pytest.mark.filterwarnings("ignore:Requiring AUTH while not requiring TLS")  # aiosmtpd cannot see SMTPS is TLS
def test_smtps_with_login(smtp_sink, certificate):
    sink = smtp_sink(smtps=certificate, login=("herald", "pw"))
    channel = SmtpChannel(f"smtps://herald:pw@127.0.0.1:{sink.port}?cafile={certificate.cert_file}",
                          "herald@example.com")
    channel.send(outgoing(1))
    channel.send(outgoing(2))
    assert len(sink.messages) == 2 and sink.connections == 1


def test_refusals_are_permanent_or_retryable_by_code_and_the_connection_survives(smtp_sink):
    sink = smtp_sink()
    sink.refuse["ghost@example.com"] = "550 5.1.1 No such user"
    sink.refuse["busy@example.com"] = "452 4.2.2 Mailbox full"
    channel = SmtpChannel(f"smtp://127.0.0.1:{sink.port}", "herald@example.com")
    with pytest.raises(PermanentError, match="550 5.1.1 No such user"):
        channel.send(outgoing(to="ghost@example.com"))
    with pytest.raises(RetryableError, match="452"):
        channel.send(outgoing(to="busy@example.com"))
    channel.send(outgoing())
    assert len(sink.messages) == 1 and sink.connections == 1


def test_a_dropped_connection_fails_once_then_reconnects(smtp_sink):
    sink = smtp_sink()
    channel = SmtpChannel(f"smtp://127.0.0.1:{sink.port}", "herald@example.com")
    channel.send(outgoing(1))
    channel._local.connection.smtp.sock.shutdown(socket.SHUT_RDWR)  # the server (or a NAT) dropped it
    with pytest.raises(RetryableError, match="SMTP connection failed"):
        channel.send(outgoing(2))
    channel.send(outgoing(2))
    assert len(sink.messages) == 2 and sink.connections == 2


def test_nobody_listening_is_retryable():
    with pytest.raises(RetryableError, match="ConnectionRefusedError"):
        SmtpChannel("smtp://127.0.0.1:1", "herald@example.com").send(outgoing())


def graph_config(graph, **overrides) -> Config:
    return Config(graph_tenant_id=graph.tenant, graph_client_id=graph.client_id,
                  graph_client_secret=overrides.get("secret", graph.client_secret), graph_mailbox=graph.mailbox,
                  graph_authority=graph.authority, graph_url=graph.graph_url)


def test_graph_send_mail_with_mime_keeps_our_headers_and_caches_the_token(graph):
    channel = GraphMailChannel(graph_config(graph))
    receipts = [channel.send(outgoing(n, reply_to="herald+T@replies.example.com")) for n in (1, 2, 3)]
    assert [r.provider_id for r in receipts] == ["req-1", "req-2", "req-3"]
    assert graph.token_requests == 1  # one msal application, one cached token
    sent = graph.sent[0]
    assert sent["Message-ID"] == "<1.2.herald.1@example.com>"
    assert sent["Reply-To"] == "herald+T@replies.example.com"
    assert sent["From"] == f"Herald <{graph.mailbox}>"
    assert sent["Auto-Submitted"] == "auto-generated"
    request = [r for r in graph.requests if r.path.endswith("/sendMail")][0]
    assert request.headers["Content-Type"] == "text/plain"
    assert base64.b64decode(request.body).startswith(b"Subject: ")


def test_graph_throttling_and_failures_reach_the_outbox_as_retryable(graph):
    channel = GraphMailChannel(graph_config(graph))
    graph.script(429, b'{"error":{"code":"TooManyRequests","message":"Slow down"}}', {"Retry-After": "7"},
                 path="/sendMail")
    with pytest.raises(RetryableError) as throttled:
        channel.send(outgoing(2))
    assert throttled.value.retry_after == 7.0 and "TooManyRequests" in str(throttled.value)
    graph.script(500, b'{"error":{"code":"InternalServerError","message":"oops"}}', path="/sendMail")
    with pytest.raises(RetryableError, match="500 InternalServerError"):
        channel.send(outgoing(3))
    graph.script(400, b'{"error":{"code":"ErrorMimeContentInvalid","message":"bad"}}', path="/sendMail")
    with pytest.raises(PermanentError, match="ErrorMimeContentInvalid"):
        channel.send(outgoing(4))


def test_a_wrong_client_secret_is_a_clear_retryable_error(graph):
    with pytest.raises(RetryableError, match="invalid_client"):
        GraphMailChannel(graph_config(graph, secret="wrong")).send(outgoing())
    assert graph.sent == []


def test_graph_client_delta_paging_new_changes_and_expiry(graph):
    client = Microsoft(tenant_id=graph.tenant, client_id=graph.client_id, client_secret=graph.client_secret,
                       authority=graph.authority, graph_url=graph.graph_url)
    for n in range(3):
        graph.deliver_to_inbox({"id": f"m{n}", "internetMessageId": f"<m{n}@example.com>"})
    inbox = f"/users/{graph.mailbox}/mailFolders/inbox/messages/delta"
    items, link = client.delta(inbox, params={"$select": "internetMessageId"})
    assert [m["id"] for m in items] == ["m0", "m1", "m2"] and "$deltatoken=" in link
    items, link = client.delta(link)
    assert items == []  # nothing new since the last round
    graph.deliver_to_inbox({"id": "m3"})
    items, link = client.delta(link)
    assert [m["id"] for m in items] == ["m3"]
    graph.expire_delta_tokens()
    with pytest.raises(DeltaExpired) as expired:
        client.delta(link)
    assert expired.value.status == 410


def test_graph_client_waits_out_short_throttling(graph):
    client = Microsoft(tenant_id=graph.tenant, client_id=graph.client_id, client_secret=graph.client_secret,
                       authority=graph.authority, graph_url=graph.graph_url)
    inbox = f"/users/{graph.mailbox}/mailFolders/inbox/messages/delta"
    graph.script(429, b"{}", {"Retry-After": "0"}, path="/delta")
    assert client.get(inbox, retries=1)["value"] == []
    graph.script(429, b"{}", {"Retry-After": "120"}, path="/delta")
    with pytest.raises(GraphError) as throttled:
        client.get(inbox, retries=3, max_wait=30)  # too long to wait in place: the caller reschedules
    assert throttled.value.throttled and throttled.value.retry_after == 120


def test_an_unreachable_authority_is_a_token_error(trust):
    client = Microsoft(tenant_id="t", client_id="c", client_secret="s", authority="https://127.0.0.1:1/t",
                       graph_url="https://127.0.0.1:1/v1.0")
    with pytest.raises(TokenError):
        client.token()


def test_a_revoked_token_is_replaced_once(graph):
    client = Microsoft(tenant_id=graph.tenant, client_id=graph.client_id, client_secret=graph.client_secret,
                       authority=graph.authority, graph_url=graph.graph_url)
    inbox = f"/users/{graph.mailbox}/mailFolders/inbox/messages/delta"
    client.get(inbox)
    graph.revoke_tokens()  # msal still holds a token it believes fresh
    assert client.get(inbox)["value"] == []
    assert graph.token_requests == 2
    graph.revoke_tokens()
    with pytest.raises(GraphError) as refused:
        client.get(inbox, retries=0)  # the outbox's calls: no second try in place, the row is retried
    assert refused.value.status == 401
    assert client.get(inbox, retries=0)["value"] == []  # the retry gets a new token
    assert graph.token_requests == 3
