"""The status page and the on-call board in headless Chromium, against a real server and database.

Runs on SQLite only: the HTTP tests beside it cover both databases; this covers the browser.
"""
from datetime import timedelta
from xml.etree import ElementTree as ET

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect
from sqlalchemy import select

from service import clock, db
from service.auth import ApiToken, create_token
from service.incidents.models import Incident
from service.incidents.timeline import record
from service.wiring import run_tick
from tests.conftest import ADMIN, START

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PHONE = {"width": 390, "height": 844}


def assert_accessible(page) -> None:
    """axe-core's WCAG checks (landmarks, labels, contrast, names, ARIA) find nothing on the page."""
    results = Axe().run(page)
    assert results.violations_count == 0, results.generate_report()


def api(server: str, method: str, path: str, **body) -> dict:
    response = requests.request(method, f"{server}/api{path}", json=body, headers=ADMIN, timeout=10)
    assert response.status_code in (200, 201), response.text
    return response.json()


@pytest.fixture
def scripted(app, frozen_clock, make_person, put_on_call):
    """People on call and a P1 whose internal details are private, with two public updates."""
    make_person("zq-alice", "Alice Archer", "alice.archer@corp-internal.example")
    make_person("zq-bob", "Bob Baker", "bob.baker@corp-internal.example")
    put_on_call("incident-commander", "zq-alice", START - timedelta(days=1), START + timedelta(hours=8))
    put_on_call("incident-commander", "zq-bob", START + timedelta(hours=8), START + timedelta(days=3))
    put_on_call("technical-lead", "zq-bob", START - timedelta(days=1), START + timedelta(days=3))
    client = app.test_client()
    incident = client.post("/api/incidents", headers=ADMIN, json={
        "title": "Orders are failing", "severity": "P1", "impact": "Nobody can place orders",
        "description": "INTERNAL: primary database ran out of disk"}).get_json()
    frozen_clock.advance(minutes=20)
    client.post(f"/api/incidents/{incident['id']}/updates", headers=ADMIN,
                json={"status": "identified", "learned": "A disk on the primary database is full.",
                      "doing": "We are failing over to the replica."})
    with app.app_context():
        run_tick(clock.now())  # the dispatcher sends the pages and updates (to the log: no channel configured)
    with app.app_context(), db.transaction() as s:
        row = s.get(Incident, incident["id"])
        row.next_update_due_at = clock.now() + timedelta(minutes=15)
        record(s, row, "escalated", "Escalated to Engineering Manager: P1 not acknowledged", actor="herald")
    return incident


def test_status_page_shows_the_incident_and_its_updates_in_order(chromium, live_server, scripted, artifacts):
    earlier = api(live_server, "POST", "/incidents", title="Search results are stale", severity="P3",
                  impact="Search shows results up to an hour old")
    api(live_server, "POST", f"/incidents/{earlier['id']}/resolve", root_cause="A stuck indexing job.",
        resolution="Restarted the indexer and reindexed.")
    context = chromium.new_context(timezone_id="Europe/Berlin", locale="en-GB")
    page = context.new_page()
    page.goto(f"{live_server}/status")
    assert page.title() == "Major outage — Service status"
    assert page.get_by_role("heading", name="Orders are failing").is_visible()
    texts = page.locator("#" + scripted["number"] + " .update-text").all_inner_texts()
    assert [t.splitlines()[0] for t in texts] == ["🟡 UPDATE: Orders are failing", "🔴 INCIDENT: Orders are failing"]
    # Times are rewritten into the viewer's zone (Berlin is UTC+1 in March); the UTC text stays as a tooltip.
    started = page.locator("#" + scripted["number"] + " dd time").first
    assert "11:00" in started.inner_text()
    assert started.get_attribute("title") == "Mon 2 Mar 2026 10:00 UTC"
    history = page.locator("#" + earlier["number"])
    assert "🟢 RESOLVED: Search results are stale" in history.inner_text()
    assert history.locator("summary").inner_text() == "Earlier updates (1)"
    assert not history.get_by_text("🔴 INCIDENT: Search results are stale").is_visible()
    visible = page.locator("body").inner_text()
    for private in ("Alice", "Bob", "corp-internal", "zq-", "INTERNAL", "Escalated"):
        assert private not in visible
    assert_accessible(page)
    page.screenshot(path=str(artifacts / "status.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(artifacts / "status-phone.png"), full_page=True)
    page.emulate_media(color_scheme="dark")
    assert_accessible(page)
    page.screenshot(path=str(artifacts / "status-phone-dark.png"), full_page=True)
    context.close()

    feed = requests.get(f"{live_server}/status.atom", timeout=10)
    assert feed.headers["Content-Type"].startswith("application/atom+xml")
    root = ET.fromstring(feed.content)
    assert len(root.findall("{http://www.w3.org/2005/Atom}entry")) == 4


def test_board_signs_in_shows_owners_and_updates_when_acknowledged(app, chromium, live_server, scripted,
                                                                   artifacts):
    app.config["BOARD_REFRESH_SECONDS"] = 0.3
    with app.app_context(), db.transaction() as s:
        token = create_token(s, "wall display", ["read"])
    context = chromium.new_context(timezone_id="America/New_York", locale="en-US")
    page = context.new_page()
    page.goto(f"{live_server}/board")
    assert page.url.endswith("/board/login")
    assert "herald token create" in page.locator("main").inner_text()
    assert_accessible(page)
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/board")

    owners = page.get_by_role("region", name="On call now")
    ic = owners.get_by_role("row", name="Incident Commander")
    assert "Alice Archer" in ic.inner_text() and "Bob Baker" in ic.inner_text()
    # The 18:00 UTC handoff in the viewer's zone: 1 PM in New York (EST) on that Monday.
    handoff = ic.locator("time")
    assert handoff.get_attribute("datetime") == "2026-03-02T18:00:00Z"
    assert "01:00 PM" in handoff.inner_text() and "EST" in handoff.inner_text()
    assert page.locator("[data-viewer-zone]").inner_text() == "America/New_York"

    card = page.locator("#" + scripted["number"])
    responder = card.get_by_role("row", name="Incident Commander")
    assert "Not acknowledged" in responder.inner_text() and "Paged" in responder.inner_text()
    assert "Escalated to Engineering Manager: P1 not acknowledged" in card.inner_text()
    assert "Next update due" in card.inner_text()
    assert_accessible(page)
    page.screenshot(path=str(artifacts / "board.png"), full_page=True)

    # Acknowledge through the API while the page is open: the board updates itself, without a reload.
    page.evaluate("window.notReloaded = true")
    api(live_server, "POST", f"/incidents/{scripted['id']}/acknowledgements", person="zq-alice")
    expect(responder).to_contain_text("Acknowledged", timeout=10000)
    assert "Not acknowledged" not in responder.inner_text() and "via api" in responder.inner_text()
    assert page.evaluate("window.notReloaded") is True
    assert "Board updated at" in page.locator("#refresh-state").inner_text()
    page.set_viewport_size(PHONE)
    page.emulate_media(color_scheme="dark")
    assert_accessible(page)
    page.screenshot(path=str(artifacts / "board-phone-dark.png"), full_page=True)

    # Revoking the token stops the board and says so.
    with app.app_context(), db.transaction() as s:
        s.scalar(select(ApiToken).where(ApiToken.name == "wall display")).revoked_at = clock.now()
    expect(page.locator("#refresh-state")).to_contain_text("Your session has ended", timeout=10000)
    page.get_by_role("link", name="Sign in again").click()
    page.wait_for_url(f"{live_server}/board/login")
    context.close()


def test_board_says_when_it_cannot_refresh_and_signs_out(app, chromium, live_server, scripted):
    app.config["BOARD_REFRESH_SECONDS"] = 0.3
    context = chromium.new_context()
    page = context.new_page()
    page.goto(f"{live_server}/board/login")
    page.get_by_label("API token").fill("test-admin-token")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{live_server}/board")

    state = page.locator("#refresh-state")
    page.route("**/board/live", lambda route: route.abort())  # the network drops
    expect(state).to_contain_text("what you see may be stale", timeout=10000)
    page.unroute("**/board/live")
    expect(state).not_to_contain_text("stale", timeout=10000)  # "Board is current again" or "Board updated at"
    expect(state).not_to_have_class("error")
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/board/login")
    assert "You have signed out." in page.locator("main").inner_text()
    page.goto(f"{live_server}/board")
    assert page.url.endswith("/board/login")
    context.close()
