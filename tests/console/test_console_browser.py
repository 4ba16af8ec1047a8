"""A responder runs a P1 from the console in headless Chromium, signed in through the Entra double:
open, acknowledge, update (preview, then send), hand over, resolve, post-mortem, override — each checked
against what the API then shows. axe finds no serious problem on any page; screenshots at phone and
desktop width go to tests/artifacts/.

Runs on SQLite only: the HTTP tests beside it cover both databases; this covers the browser.
"""
from datetime import timedelta

import pytest
import requests
from axe_playwright_python.sync_playwright import Axe

from service import clock
from tests.conftest import ADMIN, START

from .conftest import CALLBACK

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
SERIOUS = ("serious", "critical")


def check_page(page, artifacts, name: str) -> None:
    """axe-core's WCAG checks find nothing serious, in light and dark; screenshots at both widths."""
    for scheme in ("light", "dark"):
        page.emulate_media(color_scheme=scheme)
        results = Axe().run(page)
        serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS]
        assert not serious, f"{name} ({scheme}): {results.generate_report()}"
    page.emulate_media(color_scheme="light")
    page.set_viewport_size(DESKTOP)
    page.screenshot(path=str(artifacts / f"console-{name}.png"), full_page=True)
    page.set_viewport_size(PHONE)
    page.screenshot(path=str(artifacts / f"console-{name}-phone.png"), full_page=True)
    page.set_viewport_size(DESKTOP)


def api(server: str, path: str):
    response = requests.get(f"{server}/api{path}", headers=ADMIN, timeout=10)
    assert response.status_code == 200, response.text
    return response


def test_a_responder_runs_a_p1_from_the_console(app, config, entra, team, chromium, live_server, artifacts):
    config.base_url = live_server  # links and the sign-in redirect point at the running server
    entra.redirect_uris.add(live_server + CALLBACK)
    entra.person(name="Alice Archer", preferred_username="alice@example.com")
    context = chromium.new_context(ignore_https_errors=True, locale="en-GB", timezone_id="UTC")  # the double's cert
    page = context.new_page()

    # Sign in with Microsoft: the console sends strangers to the sign-in page, Entra sends them back.
    page.goto(f"{live_server}/console")
    assert "/auth/sign-in" in page.url
    check_page(page, artifacts, "sign-in")
    page.get_by_role("link", name="Sign in with Microsoft").click()
    page.wait_for_url(f"{live_server}/console")
    assert page.get_by_role("heading", name="Incidents").is_visible()
    assert "Alice Archer" in page.locator("header").inner_text()

    # Open a P1: the form explains each severity in the guide's words.
    page.get_by_role("link", name="Open an incident").click()
    assert "Complete outage, data loss risk" in page.locator("main").inner_text()
    check_page(page, artifacts, "open-incident")
    page.get_by_label("What is wrong?").fill("Orders are failing")
    page.get_by_label("P1 · Critical").check()
    page.get_by_label("Impact (what users notice)").fill("Nobody can place orders")
    page.get_by_role("button", name="Open incident").click()
    page.wait_for_url(f"{live_server}/console/incidents/INC-*")
    number = page.url.rsplit("/", 1)[1]
    incident = api(live_server, f"/incidents/{number}").json()
    assert incident["severity"] == "P1" and incident["roles"]["incident_commander"]["person"] == "alice"

    # Acknowledge my own page.
    page.get_by_role("row", name="Incident Commander").get_by_role("button", name="Acknowledge").click()
    page.wait_for_load_state()
    assert "Acknowledged" in page.get_by_role("row", name="Incident Commander").inner_text()
    incident = api(live_server, f"/incidents/{number}").json()
    assert incident["roles"]["incident_commander"]["acknowledged_via"] == "console"
    assert incident["acknowledged_at"] is not None

    # Post an update: the preview is the message that goes out; sending puts it in the outbox.
    page.get_by_label("Status", exact=True).first.select_option("identified")
    page.get_by_label("What we've learned").fill("A disk on the primary database is full.")
    page.get_by_label("What we're doing").fill("Failing over to the replica.")
    page.get_by_role("button", name="Preview").click()
    preview = page.locator("#preview")
    assert "🟡 UPDATE: Orders are failing" in preview.inner_text()
    assert "What we've learned: A disk on the primary database is full." in preview.inner_text()
    assert len(api(live_server, f"/incidents/{number}/updates").json()) == 1
    check_page(page, artifacts, "incident-preview")
    page.get_by_role("button", name="Send update").click()
    page.wait_for_load_state()
    updates = api(live_server, f"/incidents/{number}/updates").json()
    assert updates[-1]["kind"] == "progress" and updates[-1]["status"] == "identified"
    outbox = api(live_server, f"/incidents/{number}/notifications?kind=progress").json()
    assert outbox and "A disk on the primary database is full." in outbox[0]["payload"]["text"]
    assert "What we've learned" in page.locator("#updates").inner_text() or "Learned:" in page.locator(
        "#updates").inner_text()

    # Hand the Technical Lead role over (as the commander).
    page.get_by_label("Hand Technical Lead over to").select_option("carol")
    page.get_by_role("row", name="Technical Lead").get_by_role("button", name="Hand over").click()
    page.wait_for_load_state()
    assert api(live_server, f"/incidents/{number}").json()["roles"]["technical_lead"]["person"] == "carol"

    # Resolve.
    page.get_by_label("Root cause").fill("The primary's disk filled with logs.")
    page.get_by_label("Resolution").fill("Failed over and rotated the logs.")
    page.get_by_role("button", name="Resolve incident").click()
    page.wait_for_load_state()
    assert api(live_server, f"/incidents/{number}").json()["status"] == "resolved"
    check_page(page, artifacts, "incident")

    # The post-mortem: edit the draft, preview it, save it.
    page.get_by_role("link", name="Post-mortem, action items and review meeting").click()
    editor = page.get_by_label("Post-mortem (Markdown)")
    draft = editor.input_value()
    assert "# Incident Post-Mortem: Orders are failing" in draft
    editor.fill(draft + "\n\n## Notes\n\nThe replica took **40 seconds** to promote.\n")
    page.get_by_role("button", name="Preview").click()
    assert page.locator("#preview strong", has_text="40 seconds").is_visible()
    page.get_by_role("button", name="Save", exact=True).click()
    page.wait_for_load_state()
    stored = api(live_server, f"/incidents/{number}/postmortem")
    assert stored.headers["Herald-Postmortem"] == "edited" and "40 seconds" in stored.text
    page.get_by_label("Action", exact=True).fill("Alert on disk usage above 80%")
    page.get_by_label("Owner", exact=True).select_option("bob")
    page.get_by_role("button", name="Add action item").click()
    page.wait_for_load_state()
    items = api(live_server, f"/incidents/{number}/actions").json()
    assert items[0]["action"] == "Alert on disk usage above 80%" and items[0]["owner"] == "bob"
    check_page(page, artifacts, "postmortem")

    # An override: Alice covers the Technical Lead rotation for the afternoon.
    page.get_by_role("link", name="On call").click()
    check_page(page, artifacts, "on-call")
    page.get_by_role("link", name="technical-lead").first.click()
    start, end = clock.now() + timedelta(hours=1), clock.now() + timedelta(hours=5)
    page.get_by_label("Who is on call").select_option("alice")
    page.get_by_label("From").fill(start.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_label("Until").fill(end.strftime("%Y-%m-%dT%H:%M"))
    page.get_by_role("button", name="Add override").click()
    page.wait_for_load_state()
    overrides = api(live_server, "/rotations/technical-lead/overrides").json()
    assert [(o["person"], o["start"], o["end"]) for o in overrides] == [
        ("alice", start.strftime("%Y-%m-%dT%H:%M:00Z"), end.strftime("%Y-%m-%dT%H:%M:00Z"))]
    assert "override" in page.locator("#calendar").inner_text()
    check_page(page, artifacts, "rotation")

    page.get_by_role("link", name="People").click()
    check_page(page, artifacts, "people")

    # Signing out ends the session: the console asks to sign in again.
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(f"{live_server}/auth/sign-in")
    page.goto(f"{live_server}/console")
    assert "/auth/sign-in" in page.url
    context.close()
    assert START  # the clock never moved: every time above is the frozen test clock's
