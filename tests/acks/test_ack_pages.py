"""The ack link: GET only shows, POST acknowledges; forged, foreign and stale tokens get a clear page."""
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import select

from service import db
from service.ack_tokens import SALT
from service.incidents.models import Incident
from service.notify.models import Notification
from tests.acks.conftest import email_page, timeline
from tests.conftest import ADMIN


def ic(client, incident):
    return client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]["incident_commander"]


def test_get_shows_the_page_and_changes_nothing(app, client, incident):
    token = email_page(app, incident["id"], "alice").ack_token
    before = timeline(client, incident["id"])
    for _ in range(3):  # mail scanners and link previews fetch links, sometimes repeatedly
        page = client.get(f"/ack/{token}")
        assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert incident["number"] in html and "Orders are failing" in html
    assert "P1" in html and "Critical" in html and "Incident Commander" in html
    assert '<form method="post">' in html
    assert page.headers["Cache-Control"] == "no-store"
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert ic(client, incident)["acknowledged_at"] is None
    assert timeline(client, incident["id"]) == before


def test_post_acknowledges_once(app, client, incident, frozen_clock):
    token = email_page(app, incident["id"], "alice").ack_token
    frozen_clock.advance(minutes=3)
    done = client.post(f"/ack/{token}")
    assert done.status_code == 200
    assert "<h1>Acknowledged</h1>" in done.get_data(as_text=True)
    role = ic(client, incident)
    assert role["acknowledged_at"] == "2026-03-02T10:03:00Z" and role["acknowledged_via"] == "link"
    assert "Acknowledged by Alice Archer (Incident Commander) via link" in [
        e["text"] for e in timeline(client, incident["id"])]
    again = client.post(f"/ack/{token}")
    assert again.status_code == 200 and "Already acknowledged" in again.get_data(as_text=True)
    assert "You have acknowledged already" in client.get(f"/ack/{token}").get_data(as_text=True)


def test_a_teams_button_acknowledges_via_teams(app, client, incident):
    with app.app_context():
        page = db.session.scalar(select(Notification).where(Notification.kind == "page",
                                                            Notification.person_id.is_not(None)))
        page.channel = "teams"
        db.session.commit()
        token, person_id = page.ack_token, page.person_id
    assert client.post(f"/ack/{token}").status_code == 200
    roles = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["roles"]
    assert "teams" in {r["acknowledged_via"] for r in roles.values()}
    assert person_id is not None


def test_tampered_and_foreign_tokens_are_refused(app, client, incident):
    token = email_page(app, incident["id"], "alice").ack_token
    tampered = token[:-2] + ("xy" if not token.endswith("xy") else "zz")
    for bad in (tampered, "not-a-token", URLSafeTimedSerializer("another-key", salt=SALT).dumps([1, 1, 1])):
        for method in (client.get, client.post):
            answer = method(f"/ack/{bad}")
            assert answer.status_code == 403
            assert "This link is not valid" in answer.get_data(as_text=True)
    assert ic(client, incident)["acknowledged_at"] is None


def test_token_for_an_incident_that_is_gone_is_404(app, client, incident):
    token = email_page(app, incident["id"], "alice").ack_token
    with app.app_context():
        db.session.delete(db.session.get(Incident, incident["id"]))
        db.session.commit()
    answer = client.get(f"/ack/{token}")
    assert answer.status_code == 404 and "Page not found" in answer.get_data(as_text=True)


def test_closed_incident_cannot_be_acknowledged(app, client, incident):
    url = f"/api/incidents/{incident['id']}"
    client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN)
    client.patch(url, json={"status": "closed"}, headers=ADMIN)
    token = email_page(app, incident["id"], "alice").ack_token
    assert '<form method="post">' not in client.get(f"/ack/{token}").get_data(as_text=True)
    answer = client.post(f"/ack/{token}")
    assert answer.status_code == 409 and "closed" in answer.get_data(as_text=True)
