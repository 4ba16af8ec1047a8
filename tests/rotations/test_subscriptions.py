"""Subscriptions against real HTTP servers on loopback: conditional GETs, failures that keep the last good
shifts, the size cap, timeouts, and the SSRF guard (loopback refused unless HERALD_ALLOW_PRIVATE_URLS=1)."""
import pytest

from service.rotations import background, fetch
from service.rotations.fetch import AddressPolicy, FetchError, UnsafeURL, fetch_calendar
from service.wiring import run_tick
from tests.conftest import ADMIN

from .calendar_server import CalendarServer
from .helpers import fixture_text

GOOGLE = fixture_text("google_berlin.ics")
LAST_MODIFIED = "Sun, 01 Mar 2026 16:20:01 GMT"


def subscribe(client, url, refresh_every="1m", name="incident-commander"):
    return client.post("/api/rotations", json={"name": name, "url": url, "refresh_every": refresh_every}, headers=ADMIN)


def rotation(client, name="incident-commander"):
    return client.get(f"/api/rotations/{name}", headers=ADMIN).get_json()


def test_subscribe_fetches_at_once_with_a_user_agent(client, team, allow_private, calendar_server):
    url = calendar_server.serve("/cal.ics", GOOGLE, etag='"v1"', last_modified=LAST_MODIFIED)
    response = subscribe(client, url)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert (body["kind"], body["url"], body["refresh_every"]) == ("subscription", url, "1m")
    assert body["last_refreshed_at"] == "2026-03-02T10:00:00Z"
    assert body["next_refresh_at"] == "2026-03-02T10:01:00Z"
    assert body["last_error"] is None
    assert body["report"]["people"] == ["alice", "bob", "carol"]
    assert body["on_call"]["person"] == "alice"
    path, headers = calendar_server.requests[0]
    assert headers["User-Agent"].startswith("Herald/")
    assert "If-None-Match" not in headers


def test_ticks_refresh_when_due_with_if_none_match_and_if_modified_since(client, team, allow_private,
                                                                         calendar_server, frozen_clock):
    url = calendar_server.serve("/cal.ics", GOOGLE, etag='"v1"', last_modified=LAST_MODIFIED)
    subscribe(client, url)
    frozen_clock.advance(seconds=30)
    run_tick(frozen_clock.now())
    assert len(calendar_server.requests) == 1  # not due yet

    frozen_clock.advance(seconds=30)
    run_tick(frozen_clock.now())
    assert len(calendar_server.requests) == 2
    headers = calendar_server.requests[1][1]
    assert headers["If-None-Match"] == '"v1"'
    assert headers["If-Modified-Since"] == LAST_MODIFIED
    assert rotation(client)["last_refreshed_at"] == "2026-03-02T10:01:00Z"  # 304: checked, unchanged

    calendar_server.serve("/cal.ics", GOOGLE.replace("Alice Archer", "Bob Baker"), etag='"v2"')
    frozen_clock.advance(minutes=5)  # a late tick fetches once, not five times
    run_tick(frozen_clock.now())
    run_tick(frozen_clock.now())
    assert len(calendar_server.requests) == 3
    assert client.get("/api/oncall", headers=ADMIN).get_json()["rotations"]["incident-commander"]["person"] == "bob"
    assert rotation(client)["next_refresh_at"] == "2026-03-02T10:07:00Z"


def test_failures_keep_the_last_good_shifts_and_are_visible(client, team, allow_private, calendar_server,
                                                             frozen_clock):
    url = calendar_server.serve("/cal.ics", GOOGLE)
    subscribe(client, url)
    good = client.get("/api/rotations/incident-commander/shifts?from=2026-03-01T00:00:00Z&to=2026-06-01T00:00:00Z",
                      headers=ADMIN).get_json()

    for route, expected in (({"status": 500, "body": b"oops"}, "answered HTTP 500"),
                            ({"body": b"<html>Please sign in</html>"}, "cannot be read"),
                            ({"body": GOOGLE.replace("DTSTART;TZID=Europe/Berlin:20260302T090000", "")},
                             "has no DTSTART")):
        calendar_server.serve("/cal.ics", **route)
        frozen_clock.advance(minutes=1)
        run_tick(frozen_clock.now())
        state = rotation(client)
        assert expected in state["last_error"]
        assert state["last_refreshed_at"] == "2026-03-02T10:00:00Z"
        assert client.get("/api/rotations/incident-commander/shifts?from=2026-03-01T00:00:00Z&to=2026-06-01T00:00:00Z",
                          headers=ADMIN).get_json() == good

    calendar_server.serve("/cal.ics", GOOGLE)
    frozen_clock.advance(minutes=1)
    run_tick(frozen_clock.now())
    assert rotation(client)["last_error"] is None


def test_refresh_now(client, team, allow_private, calendar_server, put_calendar):
    url = calendar_server.serve("/cal.ics", GOOGLE, etag='"v1"')
    subscribe(client, url, refresh_every="1h")
    unchanged = client.post("/api/rotations/incident-commander/refresh", headers=ADMIN)
    assert unchanged.status_code == 200 and unchanged.get_json()["status"] == "unchanged"
    calendar_server.serve("/cal.ics", GOOGLE, etag='"v2"')
    imported = client.post("/api/rotations/incident-commander/refresh", headers=ADMIN).get_json()
    assert imported["status"] == "imported" and imported["report"]["events"] == 4

    calendar_server.serve("/cal.ics", status=503)
    failed = client.post("/api/rotations/incident-commander/refresh", headers=ADMIN)
    assert failed.status_code == 502
    assert "503" in failed.get_json()["message"]
    calendar_server.serve("/cal.ics", "garbage")
    assert client.post("/api/rotations/incident-commander/refresh", headers=ADMIN).status_code == 422

    put_calendar("scribe", GOOGLE)
    assert client.post("/api/rotations/scribe/refresh", headers=ADMIN).status_code == 409
    assert client.post("/api/rotations/nope/refresh", headers=ADMIN).status_code == 404


def test_uploading_a_calendar_ends_a_subscription(client, team, allow_private, calendar_server, put_calendar):
    subscribe(client, calendar_server.serve("/cal.ics", GOOGLE))
    report = put_calendar("incident-commander", GOOGLE).get_json()
    assert "no longer follows" in report["warnings"][0]
    assert rotation(client)["kind"] == "upload" and rotation(client)["url"] is None


def test_subscription_input_is_checked(client):
    for body, field in (({"name": "x"}, "url"), ({"url": "https://example.com/a.ics"}, "name"),
                        ({"name": "x", "url": "https://example.com/a.ics", "refresh_every": "soon"}, "refresh_every"),
                        ({"name": "x", "url": "https://example.com/a.ics", "refresh_every": 0}, "refresh_every")):
        response = client.post("/api/rotations", json=body, headers=ADMIN)
        assert response.status_code == 422 and field in response.get_json()["errors"], body


@pytest.mark.parametrize("url, reason", [
    ("ftp://example.com/cal.ics", "only http and https"),
    ("file:///etc/passwd", "only http and https"),
    ("http://127.0.0.1:9/cal.ics", "loopback"),
    ("http://localhost:9/cal.ics", "loopback"),
    ("http://[::1]:9/cal.ics", "loopback"),
    ("http://10.1.2.3/cal.ics", "private"),
    ("http://192.168.1.10/cal.ics", "private"),
    ("http://169.254.169.254/latest/meta-data/", "link-local"),
    ("http://224.0.0.1/cal.ics", "multicast"),
    ("http://240.0.0.1/cal.ics", "reserved"),
    ("http://100.64.0.1/cal.ics", "non-public"),
    ("http://user:pw@calendar.example.com/cal.ics", "credentials"),
])
def test_unsafe_urls_are_refused_at_once(client, url, reason):
    response = client.post("/api/rotations", json={"name": "x", "url": url}, headers=ADMIN)
    assert response.status_code == 422
    assert reason in response.get_json()["errors"]["url"][0]
    assert client.get("/api/rotations/x", headers=ADMIN).status_code == 404


def test_loopback_is_refused_without_allow_private_even_when_a_server_listens(calendar_server):
    url = calendar_server.serve("/cal.ics", GOOGLE)
    with pytest.raises(UnsafeURL, match="loopback"):
        fetch_calendar(url, AddressPolicy(allow_private=False))
    assert calendar_server.requests == []
    assert fetch_calendar(url, AddressPolicy(allow_private=True)).status == 200


class OnlyThisAddress(AddressPolicy):
    """Stands in for 'public': only 127.0.0.1 counts as reachable, so 127.0.0.2 plays a private host."""

    def refusal(self, ip):
        return None if ip == "127.0.0.1" else f"a private address ({ip})"


def test_every_redirect_is_checked_again():
    public, private = CalendarServer("127.0.0.1"), CalendarServer("127.0.0.2")
    try:
        private.serve("/secret.ics", GOOGLE)
        url = public.serve("/cal.ics", location=private.url("/secret.ics"))
        with pytest.raises(UnsafeURL, match="127.0.0.2"):
            fetch_calendar(url, OnlyThisAddress())
        assert private.requests == []
        followed = fetch_calendar(url, AddressPolicy(allow_private=True))
        assert followed.status == 200 and followed.url == private.url("/secret.ics")
    finally:
        public.close()
        private.close()


class AnswerChangesAfterTheCheck(AddressPolicy):
    """DNS rebinding: the name looked public when checked, the socket reached something else."""

    def __init__(self):
        super().__init__()
        object.__setattr__(self, "checks", [])

    def refusal(self, ip):
        self.checks.append(ip)
        return None if len(self.checks) == 1 else f"a loopback address ({ip})"


def test_the_connected_peer_is_checked_too(calendar_server):
    url = calendar_server.serve("/cal.ics", GOOGLE)
    with pytest.raises(UnsafeURL, match="connected to a loopback address"):
        fetch_calendar(url, AnswerChangesAfterTheCheck())
    assert calendar_server.requests == []


def test_body_cap_with_and_without_content_length(calendar_server):
    policy = AddressPolicy(allow_private=True)
    with pytest.raises(FetchError, match="at most 1,000 are accepted"):
        fetch_calendar(calendar_server.serve("/big.ics", b"x" * 1001), policy, max_bytes=1000)
    with pytest.raises(FetchError, match="larger than 1,000 bytes"):
        fetch_calendar(calendar_server.serve("/chunked.ics", b"x" * 200_000, chunked=True), policy, max_bytes=1000)
    assert fetch_calendar(calendar_server.serve("/ok.ics", b"x" * 1000), policy, max_bytes=1000).body == b"x" * 1000


def test_a_server_that_never_answers_times_out(calendar_server, monkeypatch):
    monkeypatch.setattr(fetch, "READ_TIMEOUT", 0.2)
    with pytest.raises(FetchError, match="did not answer"):
        fetch_calendar(calendar_server.serve("/slow.ics", stall=True), AddressPolicy(allow_private=True))


def test_an_unreachable_server_is_a_clear_error():
    with pytest.raises(FetchError, match="cannot connect"):
        fetch_calendar("http://127.0.0.1:9/cal.ics", AddressPolicy(allow_private=True))


def test_under_serve_refreshes_run_beside_the_ticker(app, client, team, allow_private, calendar_server, frozen_clock):
    subscribe(client, calendar_server.serve("/cal.ics", GOOGLE))
    calendar_server.serve("/cal.ics", GOOGLE.replace("Alice Archer", "Bob Baker"))
    handle = background.start(app)
    try:
        frozen_clock.advance(minutes=1)
        run_tick(frozen_clock.now())
    finally:
        background.stop(handle)  # waits for the fetch it was given
    assert len(calendar_server.requests) == 2
    assert client.get("/api/oncall", headers=ADMIN).get_json()["rotations"]["incident-commander"]["person"] == "bob"
