import pytest

from tests.conftest import ADMIN

from .helpers import fixture_text


@pytest.fixture
def put_calendar(client):
    """PUT a calendar (fixture file name or text) into a rotation; returns the response."""

    def put(name: str, calendar: str | bytes, headers: dict | None = None):
        if isinstance(calendar, str) and calendar.endswith(".ics"):
            calendar = fixture_text(calendar)
        body = calendar.encode() if isinstance(calendar, str) else calendar
        return client.put(f"/api/rotations/{name}/calendar", data=body,
                          headers={**(ADMIN if headers is None else headers), "Content-Type": "text/calendar"})

    return put


@pytest.fixture
def team(make_person):
    """The people the Google fixture names."""
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    make_person("carol", "Carol Chen")


@pytest.fixture
def calendar_server():
    from .calendar_server import CalendarServer

    server = CalendarServer()
    yield server
    server.close()


@pytest.fixture
def allow_private(app):
    """Let subscriptions reach the loopback test servers (HERALD_ALLOW_PRIVATE_URLS=1)."""
    app.config["HERALD"].allow_private_urls = True
