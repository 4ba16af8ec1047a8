"""A person's Teams webhook is a URL Herald does not own: the calendar subscriptions' address policy applies.

Refused at once when set (loopback, private, link-local such as 169.254.169.254), and again before
every send and on the connected socket; the error kept is the status, never a body; and `sig=`, the
Workflows URL's credential, is shown to admin tokens only.
"""
import pytest
import requests

from service.netguard import AddressPolicy, redact_url
from service.notify.channels import Outgoing, PermanentError, RetryableError
from service.notify.channels.teams import TeamsChannel
from service.wiring import run_tick
from tests.conftest import ADMIN
from tests.notify.test_outbox import open_incident
from tests.rotations.test_subscriptions import AnswerChangesAfterTheCheck  # DNS rebinding
from tests.web.test_web_board import sign_in


@pytest.mark.parametrize("url", [
    "http://169.254.169.254/latest/meta-data/", "http://127.0.0.1:8080/api/incidents", "http://10.1.2.3/hook",
    "https://[::1]/hook", "http://[::ffff:192.168.0.1]/hook", "http://0.0.0.0/", "http://localhost:5432/",
    "ftp://example.com/hook", "https://user:pw@example.com/hook",
])
def test_a_persons_webhook_must_be_public(client, url):
    response = client.post("/api/people", headers=ADMIN, json={"handle": "mallory", "name": "Mallory",
                                                                "email": "m@example.com", "teams_webhook": url})
    assert response.status_code == 422, response.get_json()
    assert "teams_webhook" in response.get_json()["errors"]
    assert client.get("/api/people/mallory", headers=ADMIN).status_code == 404
    client.post("/api/people", headers=ADMIN, json={"handle": "mallory", "name": "Mallory", "email": "m@example.com"})
    assert client.patch("/api/people/mallory", headers=ADMIN, json={"teams_webhook": url}).status_code == 422


def test_private_webhooks_are_allowed_with_the_escape_hatch(client, config):
    config.allow_private_urls = True
    response = client.post("/api/people", headers=ADMIN, json={
        "handle": "lab", "name": "Lab", "email": "lab@example.com", "teams_webhook": "http://10.1.2.3/hook"})
    assert response.status_code == 201


def test_a_webhook_that_turned_private_is_refused_at_send_and_nothing_is_posted(client, config, responders, teams,
                                                                                outbox, frozen_clock):
    responders(bob_webhook=teams.url + "&person=bob")  # accepted while private URLs were allowed...
    config.allow_private_urls = False  # ...then the escape hatch is closed
    open_incident(client)
    run_tick(frozen_clock.now())
    [row] = outbox(channel="teams", recipient_name="Bob Baker")
    assert row.status == "dead" and row.attempts == 1
    assert "loopback" in row.last_error and teams.sig not in row.last_error
    assert teams.messages == []


def message(url: str) -> Outgoing:
    return Outgoing(id=1, kind="page", channel="teams", recipient=url, recipient_name="Bob",
                    payload={"type": "message", "attachments": []})


def test_the_connected_socket_is_checked_too(teams):
    channel = TeamsChannel(AnswerChangesAfterTheCheck())
    with pytest.raises(PermanentError, match="connected to a loopback address"):
        channel.send(message(teams.url))
    assert teams.messages == [] and teams.requests == []
    channel.close()


def test_the_operators_own_webhook_is_not_guarded(teams):
    channel = TeamsChannel(AddressPolicy(), owned=frozenset([teams.url]))
    with pytest.raises(RetryableError, match="answered 400$"):  # reached the double, which checks the shape
        channel.send(message(teams.url))
    channel.close()


def test_errors_keep_the_status_and_never_the_body_or_the_sig(teams):
    channel = TeamsChannel(AddressPolicy(allow_private=True))
    teams.script(500, b'{"error": "echo of http://10.0.0.5/internal?sig=abc and secrets"}')
    with pytest.raises(RetryableError) as error:
        channel.send(message(teams.url))
    assert str(error.value) == "Teams webhook answered 500"
    dead_port = teams.url.replace(teams.base_url, "http://127.0.0.1:9")
    with pytest.raises(RetryableError) as error:
        channel.send(message(dead_port))
    assert "sig" not in str(error.value) and "/workflows/" not in str(error.value)
    assert str(error.value).startswith("Teams webhook at 127.0.0.1 unreachable: ConnectionRefusedError")
    channel.close()


def test_read_tokens_never_see_a_workflows_sig(client, config, responders, teams, token_for, frozen_clock):
    config.teams_webhook_url = teams.url
    responders(bob_webhook=teams.url + "&person=bob")
    incident = open_incident(client)
    teams.script(500, b"nope")
    run_tick(frozen_clock.now())
    for headers in (token_for("read"), token_for("read", "write")):
        bob = client.get("/api/people/bob", headers=headers).get_json()
        assert teams.sig not in bob["teams_webhook"] and "sig=REDACTED" in bob["teams_webhook"]
        assert all(teams.sig not in (p.get("teams_webhook") or "") for p in
                   client.get("/api/people", headers=headers).get_json())
        rows = client.get(f"/api/incidents/{incident['id']}/notifications?channel=teams", headers=headers).get_json()
        assert rows and all(teams.sig not in r["recipient"] for r in rows)
    sign_in(client, token_for("read")["Authorization"].removeprefix("Bearer "))
    board = client.get("/board/live")
    assert board.status_code == 200 and "Orders are failing" in board.get_data(as_text=True)
    assert teams.sig not in board.get_data(as_text=True)
    assert teams.sig in client.get("/api/people/bob", headers=ADMIN).get_json()["teams_webhook"]


def test_redaction_keeps_the_rest_of_the_url():
    assert redact_url("https://x.example/invoke?api-version=1&sig=abc-DEF_1&sv=1.0") == \
        "https://x.example/invoke?api-version=1&sig=REDACTED&sv=1.0"
    assert redact_url(None) is None
