"""/board: token sign-in with CSRF, the session cookie, and what the board shows."""
import hashlib
import re
from datetime import timedelta

import pytest
from sqlalchemy import select

from service import clock, db
from service.auth import ApiToken
from service.incidents.models import Incident
from service.incidents.timeline import record
from service.people.models import Person
from service.rotations.models import Override, Rotation
from service.web.sessions import WebSession
from tests.conftest import ADMIN, START


def csrf_of(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, token: str):
    csrf = csrf_of(client.get("/board/login").get_data(as_text=True))
    return client.post("/board/login", data={"csrf_token": csrf, "token": token})


@pytest.fixture
def reader(token_for):
    return token_for("read")["Authorization"].removeprefix("Bearer ")


def test_board_asks_for_a_token_and_says_where_to_get_one(client):
    response = client.get("/board")
    assert response.status_code == 302 and response.headers["Location"].endswith("/board/login")
    page = client.get("/board/login").get_data(as_text=True)
    assert "herald token create" in page and "--scope read" in page
    assert '<label for="token">' in page and 'name="csrf_token"' in page
    assert client.get("/board/live").status_code == 401


def test_sign_in_refuses_a_post_without_the_forms_csrf_token(client, reader):
    assert client.post("/board/login", data={"token": reader}).status_code == 400
    client.get("/board/login")  # the session now has a CSRF token; a forged form still lacks it
    assert client.post("/board/login", data={"token": reader, "csrf_token": "forged"}).status_code == 400
    assert client.get("/board").status_code == 302


def test_sign_in_checks_the_token_and_its_scope(client, token_for):
    refused = sign_in(client, "hrld_not-a-token")
    assert refused.status_code == 401 and "not valid" in refused.get_data(as_text=True)
    ingest_only = token_for("ingest")["Authorization"].removeprefix("Bearer ")
    lacking = sign_in(client, ingest_only)
    assert lacking.status_code == 403 and "read" in lacking.get_data(as_text=True)
    assert sign_in(client, "  ").status_code == 400
    assert client.get("/board").status_code == 302


def test_signed_in_session_cookie_is_http_only_lax_and_holds_only_an_id(app, client, reader):
    response = sign_in(client, reader)
    assert response.status_code == 303 and response.headers["Location"].endswith("/board")
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    value = cookie.split(";")[0].removeprefix("session=")
    assert "." not in value and len(value) >= 40  # a random id, not signed data
    with app.app_context():
        rows = db.session.scalars(select(WebSession)).all()
    assert len(rows) == 1 and rows[0].id == hashlib.sha256(value.encode()).hexdigest()  # only its digest stored
    assert reader not in repr(rows[0].data) and set(rows[0].data) == {"token_digest", "csrf"}
    page = client.get("/board")
    assert page.status_code == 200 and page.headers["Cache-Control"] == "no-store"
    assert "test-read" in page.get_data(as_text=True)  # whose token signed in


def test_a_tampered_session_cookie_is_ignored(app, client, reader):
    sign_in(client, reader)
    forged = "eyJ0b2tlbl9kaWdlc3QiOiJ4In0.forged.signature"
    client.set_cookie("session", forged)
    assert client.get("/board").status_code == 302


def test_signing_out_ends_the_session_on_the_server_so_a_copied_cookie_stops_working(app, client, reader):
    response = sign_in(client, reader)
    value = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session=")).split(";")[0]
    copy = app.test_client()
    copy.set_cookie("session", value.removeprefix("session="))
    assert copy.get("/board").status_code == 200  # the copied cookie works while the session lasts
    client.post("/board/logout", data={"csrf_token": csrf_of(client.get("/board").get_data(as_text=True))})
    assert copy.get("/board").status_code == 302 and copy.get("/board/live").status_code == 401
    with app.app_context():
        digest = hashlib.sha256(value.removeprefix("session=").encode()).hexdigest()
        assert db.session.get(WebSession, digest) is None


def test_a_session_ends_after_a_day_unused(app, client, reader, frozen_clock):
    sign_in(client, reader)
    frozen_clock.advance(hours=23)
    assert client.get("/board").status_code == 200  # used: the day starts again
    frozen_clock.advance(hours=23)
    assert client.get("/board").status_code == 200
    frozen_clock.advance(hours=24, seconds=1)
    assert client.get("/board").status_code == 302


def test_sign_in_issues_a_new_session_id(client, reader):
    client.get("/board/login")
    before = client.get_cookie("session").value
    sign_in(client, reader)
    assert client.get_cookie("session").value != before


def test_revoking_the_token_ends_the_session(app, client, reader):
    sign_in(client, reader)
    assert client.get("/board/live").status_code == 200
    with app.app_context(), db.transaction() as s:
        for row in s.scalars(select(ApiToken)):
            row.revoked_at = clock.now()
    assert client.get("/board/live").status_code == 401
    assert client.get("/board").status_code == 302


def test_sign_out_needs_the_csrf_token_and_ends_the_session(client, reader):
    sign_in(client, reader)
    page = client.get("/board").get_data(as_text=True)
    assert client.post("/board/logout").status_code == 400
    assert client.get("/board").status_code == 200
    out = client.post("/board/logout", data={"csrf_token": csrf_of(page)})
    assert out.status_code == 303
    assert "You have signed out." in client.get("/board/login").get_data(as_text=True)
    assert client.get("/board").status_code == 302


def test_a_new_session_gets_a_new_csrf_token_on_sign_in(client, reader):
    before = csrf_of(client.get("/board/login").get_data(as_text=True))
    client.post("/board/login", data={"csrf_token": before, "token": reader})
    after = csrf_of(client.get("/board").get_data(as_text=True))
    assert after != before


# ---- what the board shows --------------------------------------------------------------------

def live(client) -> str:
    response = client.get("/board/live")
    assert response.status_code == 200
    return response.get_data(as_text=True)


def row_of(html: str, title: str) -> str:
    match = re.search(rf'<th scope="row">{re.escape(title)}.*?</tr>', html, re.S)
    assert match, f"no row for {title}"
    return re.sub(r"\s+", " ", match.group(0))


def test_board_shows_owners_now_and_next_with_handoff_times(app, client, make_person, put_on_call):
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    make_person("carol", "Carol Chen")
    put_on_call("incident-commander", "alice", START - timedelta(days=1), START + timedelta(hours=8))
    put_on_call("incident-commander", "bob", START + timedelta(hours=8), START + timedelta(days=2))
    # Carol holds two consecutive scribe shifts: her handoff is the end of the second.
    put_on_call("scribe", "carol", START - timedelta(hours=1), START + timedelta(hours=2))
    put_on_call("scribe", "carol", START + timedelta(hours=2), START + timedelta(hours=5))
    put_on_call("scribe", "alice", START + timedelta(hours=5), START + timedelta(hours=9))
    # A technical-lead shift that ends with nobody after it; a shift whose person Herald does not know.
    put_on_call("technical-lead", "bob", START - timedelta(hours=1), START + timedelta(hours=1))
    put_on_call("communications-lead", None, START - timedelta(hours=1), START + timedelta(hours=3))
    sign_in(client, "test-admin-token")

    html = live(client)
    ic = row_of(html, "Incident Commander")
    assert "Alice Archer" in ic and "Bob Baker" in ic
    assert '<time datetime="2026-03-02T18:00:00Z" data-local>Mon 2 Mar 2026 18:00 UTC</time>' in ic
    assert "in 8 hours" in ic
    scribe = row_of(html, "Scribe")
    assert "2026-03-02T15:00:00Z" in scribe and scribe.index("Carol Chen") < scribe.index("Alice Archer")
    tl = row_of(html, "Technical Lead")
    assert "2026-03-02T11:00:00Z" in tl and "Nobody scheduled" in tl
    assert "not in Herald" in row_of(html, "Communications Lead")
    assert "not imported yet" in row_of(html, "On-call Engineer")


def test_an_override_is_a_cover_and_moves_the_handoff(app, client, make_person, put_on_call):
    make_person("alice", "Alice Archer")
    make_person("dave", "Dave Dunn")
    put_on_call("incident-commander", "alice", START - timedelta(days=1), START + timedelta(days=1))
    with app.app_context(), db.transaction() as s:
        rotation = s.scalar(select(Rotation).where(Rotation.name == "incident-commander"))
        dave = s.scalar(select(Person).where(Person.handle == "dave"))
        s.add(Override(rotation_id=rotation.id, person_id=dave.id, start=START + timedelta(hours=2),
                       end=START + timedelta(hours=4), created_at=START))
    sign_in(client, "test-admin-token")
    ic = row_of(live(client), "Incident Commander")
    assert "2026-03-02T12:00:00Z" in ic and ic.index("Alice Archer") < ic.index("Dave Dunn")


def test_board_shows_incidents_with_ack_state_next_update_and_escalations(app, client, frozen_clock, make_person,
                                                                         put_on_call):
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    p3 = client.post("/api/incidents", json={"title": "Search is slow", "severity": "P3"}, headers=ADMIN).get_json()
    p1 = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                     headers=ADMIN).get_json()
    frozen_clock.advance(minutes=4)
    client.post(f"/api/incidents/{p1['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    with app.app_context(), db.transaction() as s:
        row = s.get(Incident, p1["id"])
        row.next_update_due_at = START + timedelta(minutes=15)
        record(s, row, "escalated", "Escalated to Engineering Manager: P1 not acknowledged", actor="herald",
               at=START + timedelta(minutes=3))
        record(s, row, "paged_again", "Paged again (1 of 5): Bob Baker has not acknowledged", actor="herald",
               at=START + timedelta(minutes=4))
    sign_in(client, "test-admin-token")

    html = live(client)
    assert html.index("Orders are failing") < html.index("Search is slow")  # most severe first
    card = re.sub(r"\s+", " ", html[html.index('id="' + p1["number"] + '"'):html.index('id="' + p3["number"] + '"')])
    assert "P1 · Critical" in card and "Investigating" in card
    ic, tl = row_of(card, "Incident Commander"), row_of(card, "Technical Lead")
    assert "Alice Archer" in ic and "Acknowledged" in ic and "2026-03-02T10:04:00Z" in ic and "via api" in ic
    assert "Bob Baker" in tl and "Not acknowledged" in tl and "paged" in tl
    assert "waiting for 1 acknowledgement" in card
    assert "Next update due" in card and "2026-03-02T10:15:00Z" in card and "in 11 minutes" in card
    assert "(in 5 days 23 hours)" in html  # the technical lead's handoff: two units are enough
    assert "Escalated to Engineering Manager: P1 not acknowledged" in card
    assert "Paged again" not in card  # a repeat page is no escalation
    assert "On-call Engineer" not in card  # neither paged nor notified at P1, and held by nobody

    frozen_clock.advance(minutes=20)
    with app.app_context(), db.transaction() as s:
        record(s, s.get(Incident, p1["id"]), "not_assembled",
               "Team not assembled within 10 minutes: Technical Lead (Bob Baker) has not acknowledged",
               actor="herald")
    card = re.sub(r"\s+", " ", live(client))
    assert card.index("Escalated to Engineering Manager") < card.index("Team not assembled within 10 minutes")
    assert "overdue by 9 minutes" in card
    assert "missed by" not in card.split(p3["number"])[0]  # the P1 was acknowledged in time

    client.post(f"/api/incidents/{p1['id']}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    assert "Orders are failing" not in live(client)


def test_a_paged_role_with_nobody_on_call_is_called_out(client):
    client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"}, headers=ADMIN)
    sign_in(client, "test-admin-token")
    html = re.sub(r"\s+", " ", live(client))
    assert "Nobody on call to page" in html and "2 paged roles without anyone on call" in html


def card_of(html: str, number: str) -> str:
    start = html.index(f'id="{number}"')
    end = html.find('<article', start + 1)
    return re.sub(r"\s+", " ", html[start:end if end != -1 else len(html)])


def test_board_says_whether_each_page_reached_its_person(app, client, frozen_clock, make_person, put_on_call):
    from service.notify.models import Notification
    from service.wiring import run_tick

    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                           headers=ADMIN).get_json()
    with app.app_context():
        run_tick(frozen_clock.now())  # the dispatcher sends the pages (no channel configured: the log)
    with app.app_context(), db.transaction() as s:
        bob = s.scalar(select(Person).where(Person.handle == "bob"))
        page = s.scalar(select(Notification).where(Notification.kind == "page", Notification.person_id == bob.id))
        page.status, page.last_error = "failed", "SMTP 451 4.7.0 mailbox busy, try later"
        page.next_attempt_at = START + timedelta(minutes=2)
    sign_in(client, "test-admin-token")

    card = card_of(live(client), incident["number"])
    ic, tl = row_of(card, "Incident Commander"), row_of(card, "Technical Lead")
    assert "Paged <time datetime=\"2026-03-02T10:00:00Z\"" in ic and "the log only (no channel configured)" in ic
    assert "Page not delivered yet" in tl and "SMTP 451 4.7.0 mailbox busy" in tl
    assert 'retrying <time datetime="2026-03-02T10:02:00Z"' in tl

    with app.app_context(), db.transaction() as s:
        s.scalar(select(Notification).where(Notification.kind == "page",
                                            Notification.person_id == bob.id)).status = "dead"
    assert "Page could not be delivered" in row_of(card_of(live(client), incident["number"]), "Technical Lead")

    client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "alice"}, headers=ADMIN)
    assert "Paged" not in row_of(card_of(live(client), incident["number"]), "Incident Commander")


def test_board_says_notified_only_when_a_notice_was_sent(app, client, frozen_clock, make_person, put_on_call):
    from service.notify.models import Notification
    from service.wiring import run_tick

    for handle, name in (("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Chen"), ("dan", "Dan Diaz")):
        make_person(handle, name)
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("communications-lead", "bob", START - timedelta(days=1))
    put_on_call("scribe", "carol", START - timedelta(days=1))
    put_on_call("on-call-engineer", "dan", START - timedelta(days=1))  # a P1 neither pages nor notifies it
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                           headers=ADMIN).get_json()
    sign_in(client, "test-admin-token")
    before = card_of(live(client), incident["number"])
    assert "Notified" not in row_of(before, "Communications Lead")  # written to the outbox, not sent yet
    assert "Notice being sent" in row_of(before, "Communications Lead")
    with app.app_context():
        run_tick(frozen_clock.now())  # the dispatcher sends (no channel configured: the log)
    with app.app_context(), db.transaction() as s:
        carol = s.scalar(select(Person).where(Person.handle == "carol"))
        notice = s.scalar(select(Notification).where(Notification.kind == "notice", Notification.person_id == carol.id))
        notice.status, notice.last_error = "dead", "SMTP 550 5.1.1 no such mailbox"

    card = card_of(live(client), incident["number"])
    assert "Notified <time datetime=\"2026-03-02T10:00:00Z\"" in row_of(card, "Communications Lead")
    assert "no acknowledgement needed" in row_of(card, "Communications Lead")
    scribe = row_of(card, "Scribe")
    assert "Notified" not in scribe and "Notice could not be delivered" in scribe and "550 5.1.1" in scribe
    engineer = row_of(card, "On-call Engineer")
    assert "Notified" not in engineer and "Not notified at P1" in engineer


def test_board_shows_each_update_seen_by_n_of_m(app, client, frozen_clock):
    """With no mail configured the stakeholder update goes to the log, still with its Got it link."""
    from service.notify.models import Notification

    p1 = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                     headers=ADMIN).get_json()
    sign_in(client, "test-admin-token")
    card = re.sub(r"\s+", " ", live(client))
    assert "Stakeholder updates" in card and '🔴 INCIDENT · <span class="seen">seen by 0 of 1</span>' in card

    with app.app_context():
        token = db.session.scalar(select(Notification.ack_token).where(Notification.kind == "initial"))
    frozen_clock.advance(minutes=2)
    assert client.post(f"/ack/{token}").status_code == 200
    card = re.sub(r"\s+", " ", live(client))
    assert "seen by 1 of 1" in card and "(Stakeholders)" in card
    client.post(f"/api/incidents/{p1['id']}/updates", json={"status": "identified"}, headers=ADMIN)
    card = re.sub(r"\s+", " ", live(client))
    assert '🟡 UPDATE · <span class="seen">seen by 0 of 1</span>' in card
