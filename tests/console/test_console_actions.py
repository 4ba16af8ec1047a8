"""The console's forms over the domain functions: who may do what (the bot's rules), CSRF on every form,
and what the API shows afterwards."""
from service import db
from service.notify.models import Notification
from tests.conftest import ADMIN

from .conftest import csrf_of


def api(client, path):
    response = client.get(f"/api{path}", headers=ADMIN)
    assert response.status_code == 200, response.get_data(as_text=True)
    return response.get_json()


def test_every_page_renders_for_a_responder_and_an_admin(client, as_person, p1):
    number = p1["number"]
    for email in ("alice@example.com", "ada@example.com"):
        person, _ = as_person(email)
        for path in ("/console", "/console?status=all&severity=P1", "/console/incidents/new",
                     f"/console/incidents/{number}", f"/console/incidents/{number}/postmortem",
                     "/console/rotations", "/console/rotations/incident-commander", "/console/people",
                     "/console/people/alice", "/console/me"):
            response = person.get(path, follow_redirects=True)
            assert response.status_code == 200, (email, path, response.get_data(as_text=True)[:500])
            assert response.headers["Cache-Control"] == "no-store"


def test_every_form_needs_the_csrf_token(client, as_person, p1):
    alice, csrf = as_person("alice@example.com")
    number = p1["number"]
    forms = [(f"/console/incidents/{number}/acknowledge", {"role": "incident_commander"}),
             (f"/console/incidents/{number}/updates", {"status": "identified", "action": "send"}),
             (f"/console/incidents/{number}/resolve", {"root_cause": "x", "resolution": "y"}),
             (f"/console/incidents/{number}/roles/technical_lead", {"person": "carol"}),
             ("/console/incidents/new", {"title": "t", "severity": "P3"}),
             ("/console/rotations/incident-commander/overrides", {"person": "alice"}),
             ("/console/people", {"handle": "zed", "name": "Zed", "email": "zed@example.com"})]
    for path, data in forms:
        assert alice.post(path, data=data).status_code == 400, path
        assert alice.post(path, data={**data, "csrf_token": "forged"}).status_code == 400, path
    incident = api(client, f"/incidents/{number}")
    assert incident["status"] == "investigating" and incident["acknowledged_at"] is None
    assert incident["roles"]["technical_lead"]["person"] == "bob"
    assert len(api(client, "/incidents")) == 1
    assert client.post("/console/incidents/new", data={"title": "t"}).status_code == 401  # not signed in


def test_only_the_paged_person_acknowledges_and_only_role_holders_update(client, as_person, p1):
    number = p1["number"]
    ada, ada_csrf = as_person("ada@example.com")  # an admin, but holds no role
    refused = ada.post(f"/console/incidents/{number}/acknowledge",
                       data={"role": "incident_commander", "csrf_token": ada_csrf})
    assert refused.status_code == 403 and "not paged" in refused.get_data(as_text=True)
    refused = ada.post(f"/console/incidents/{number}/updates",
                       data={"status": "identified", "learned": "x", "action": "send", "csrf_token": ada_csrf})
    assert refused.status_code == 403 and "role" in refused.get_data(as_text=True)
    bob, bob_csrf = as_person("bob@example.com")  # technical lead: cannot acknowledge Alice's role
    assert bob.post(f"/console/incidents/{number}/acknowledge",
                    data={"role": "incident_commander", "csrf_token": bob_csrf}).status_code == 403
    assert api(client, f"/incidents/{number}")["acknowledged_at"] is None

    alice, csrf = as_person("alice@example.com")
    done = alice.post(f"/console/incidents/{number}/acknowledge", data={"role": "incident_commander",
                                                                         "csrf_token": csrf})
    assert done.status_code == 303
    roles = api(client, f"/incidents/{number}")["roles"]
    assert roles["incident_commander"]["acknowledged_at"] is not None
    assert roles["incident_commander"]["acknowledged_via"] == "console"


def test_hand_over_by_the_holder_or_the_commander_only(client, as_person, p1):
    number = p1["number"]
    carol, csrf = as_person("carol@example.com")  # communications lead
    assert carol.post(f"/console/incidents/{number}/roles/technical_lead",
                      data={"person": "carol", "csrf_token": csrf}).status_code == 403
    alice, csrf = as_person("alice@example.com")  # the commander may hand any role over
    assert alice.post(f"/console/incidents/{number}/roles/technical_lead",
                      data={"person": "dave", "csrf_token": csrf}).status_code == 303
    assert api(client, f"/incidents/{number}")["roles"]["technical_lead"]["person"] == "dave"


def test_a_read_token_reads_but_cannot_act(client, token_for, p1):
    reader = token_for("read")["Authorization"].removeprefix("Bearer ")
    page = client.get("/auth/sign-in").get_data(as_text=True)
    client.post("/auth/token", data={"csrf_token": csrf_of(page), "token": reader})
    page = client.get(f"/console/incidents/{p1['number']}").get_data(as_text=True)
    assert "Orders are failing" in page and "may only read" in page
    refused = client.post(f"/console/incidents/{p1['number']}/resolve",
                          data={"root_cause": "x", "resolution": "y", "csrf_token": csrf_of(page)})
    assert refused.status_code == 403
    assert api(client, f"/incidents/{p1['number']}")["status"] == "investigating"


def test_the_update_preview_is_the_message_that_goes_out_and_stores_nothing(app, client, as_person, p1):
    number = p1["number"]
    alice, csrf = as_person("alice@example.com")
    form = {"status": "identified", "impact": "Orders fail for EU users", "learned": "A disk is full",
            "doing": "Failing over", "csrf_token": csrf}
    preview = alice.post(f"/console/incidents/{number}/updates", data={**form, "action": "preview"})
    html = preview.get_data(as_text=True)
    assert preview.status_code == 200 and "🟡 UPDATE: Orders are failing" in html
    assert "What we&#39;ve learned: A disk is full" in html and "Next update in 15 minutes." in html
    assert len(api(client, f"/incidents/{number}/updates")) == 1  # only the initial one
    sent = alice.post(f"/console/incidents/{number}/updates", data={**form, "action": "send"})
    assert sent.status_code == 303
    updates = api(client, f"/incidents/{number}/updates")
    assert [u["kind"] for u in updates] == ["initial", "progress"] and updates[1]["learned"] == "A disk is full"
    with app.app_context():
        progress = db.session.query(Notification).filter_by(kind="progress").first()
    # The same text, with each recipient's own Got it token where the preview shows "…".
    expected = progress.payload["text"].replace(progress.ack_token, "…").strip()
    assert expected in html.replace("&#39;", "'").replace("&amp;", "&")


def test_bad_input_is_a_422_with_the_field_marked_and_nothing_changed(client, as_person, p1):
    alice, csrf = as_person("alice@example.com")
    bad = alice.post(f"/console/incidents/{p1['number']}/resolve",
                     data={"root_cause": "", "resolution": "", "csrf_token": csrf})
    assert bad.status_code == 422 and 'aria-invalid="true"' in bad.get_data(as_text=True)
    bad = alice.post("/console/incidents/new", data={"title": "", "severity": "P9", "csrf_token": csrf})
    assert bad.status_code == 422
    assert api(client, f"/incidents/{p1['number']}")["status"] == "investigating"
    assert len(api(client, "/incidents")) == 1


def test_a_dead_message_can_be_sent_again_by_a_role_holder(app, client, as_person, p1):
    with app.app_context():
        row = db.session.query(Notification).filter_by(kind="page").first()
        row.status, row.last_error = "dead", "550 mailbox unavailable"
        db.session.commit()
        row_id = row.id
    page = client.get(f"/console/incidents/{p1['number']}")
    dave, csrf = as_person("dave@example.com")  # the scribe holds a role
    assert "Send again" in dave.get(f"/console/incidents/{p1['number']}").get_data(as_text=True)
    assert dave.post(f"/console/notifications/{row_id}/retry", data={"csrf_token": csrf}).status_code == 303
    assert api(client, f"/notifications/{row_id}")["status"] == "pending"
    assert page.status_code == 302


def test_links_in_messages_open_console_pages_after_sign_in(app, client, as_person, p1):
    """The page email's incident link, and the post-mortem link Herald sends later, open console pages."""
    with app.app_context():
        page = db.session.query(Notification).filter_by(kind="page", channel="log").first()
        text = page.payload["text"]
    incident_link = f"http://herald.test/console/incidents/{p1['number']}"
    assert incident_link in text and "/api/" not in text.replace("/api/incidents/", "")
    path = incident_link.removeprefix("http://herald.test")
    stranger = client.get(path)
    assert stranger.status_code == 302 and "next=/console/incidents/" in stranger.headers["Location"]
    alice, _ = as_person("alice@example.com")
    assert alice.get(path).status_code == 200
    assert alice.get(path + "/postmortem").status_code == 200


def test_the_review_post_mortem_actions_and_meeting(client, as_person, p1, frozen_clock):
    number = p1["number"]
    alice, csrf = as_person("alice@example.com")
    alice.post(f"/console/incidents/{number}/resolve",
               data={"root_cause": "Disk full", "resolution": "Rotated logs", "csrf_token": csrf})
    assert api(client, f"/incidents/{number}")["status"] == "resolved"
    page = alice.get(f"/console/incidents/{number}/postmortem").get_data(as_text=True)
    assert "Draft filled from the timeline" in page and "Root cause" in page

    preview = alice.post(f"/console/incidents/{number}/postmortem",
                         data={"markdown": "# PM\n\n<script>alert(1)</script> **bold**", "action": "preview",
                               "csrf_token": csrf}).get_data(as_text=True)
    assert "<strong>bold</strong>" in preview and "<script>alert" not in preview
    assert client.get(f"/api/incidents/{number}/postmortem", headers=ADMIN).headers["Herald-Postmortem"] == "draft"
    assert alice.post(f"/console/incidents/{number}/postmortem",
                      data={"markdown": " ", "action": "save", "csrf_token": csrf}).status_code == 422
    alice.post(f"/console/incidents/{number}/postmortem",
               data={"markdown": "# PM\n\nEdited.", "action": "save", "csrf_token": csrf})
    stored = client.get(f"/api/incidents/{number}/postmortem", headers=ADMIN)
    assert stored.headers["Herald-Postmortem"] == "edited" and stored.get_data(as_text=True) == "# PM\n\nEdited."
    alice.post(f"/console/incidents/{number}/postmortem", data={"action": "discard", "csrf_token": csrf})
    assert client.get(f"/api/incidents/{number}/postmortem", headers=ADMIN).headers["Herald-Postmortem"] == "draft"

    alice.post(f"/console/incidents/{number}/actions",
               data={"action": "Alert on disk usage", "owner": "bob", "due_date": "2026-03-09", "csrf_token": csrf})
    item = api(client, f"/incidents/{number}/actions")[0]
    assert (item["owner"], item["due_date"], item["done"]) == ("bob", "2026-03-09", False)
    carol, carol_csrf = as_person("carol@example.com")  # holds a role: may review
    ada_client, ada_csrf = as_person("ada@example.com")
    bob, bob_csrf = as_person("bob@example.com")  # the owner ticks it off
    assert bob.post(f"/console/incidents/{number}/actions/1",
                    data={"owner": "bob", "due_date": "2026-03-09", "done": "1", "csrf_token": bob_csrf}
                    ).status_code == 303
    assert api(client, f"/incidents/{number}/actions")[0]["done"] is True

    meeting = api(client, f"/incidents/{number}/review")
    moved = carol.post(f"/console/incidents/{number}/review",
                       data={"start": "2026-03-03T14:00", "minutes": "45", "attendees": ["alice", "carol"],
                             "csrf_token": carol_csrf})
    assert moved.status_code == 303
    after = api(client, f"/incidents/{number}/review")
    assert (after["start"], after["end"]) == ("2026-03-03T14:00:00Z", "2026-03-03T14:45:00Z")
    assert [a["person"] for a in after["attendees"]] == ["alice", "carol"]
    assert after["sequence"] == meeting["sequence"] + 1
    past = carol.post(f"/console/incidents/{number}/review",
                      data={"start": "2026-03-01T14:00", "minutes": "45", "csrf_token": carol_csrf})
    assert past.status_code == 422
    assert ada_client.get(f"/console/incidents/{number}/postmortem").status_code == 200


def test_the_incident_page_shows_who_has_seen_each_update_and_the_questions(app, client, as_person, p1, config):
    """seen by N of M per update, who said Got it, and the stakeholders' questions for the Communications Lead."""
    from sqlalchemy import select

    from service.notify import receipts
    from service.incidents.models import Incident, IncidentUpdate

    with app.app_context():
        token = db.session.scalar(select(Notification.ack_token).where(Notification.kind == "initial"))
    assert client.post(f"/ack/{token}").status_code == 200  # the stakeholder list's Got it (a log message here)
    with app.app_context(), db.transaction() as s:
        incident = s.get(Incident, p1["id"])
        update = s.scalar(select(IncidentUpdate).where(IncidentUpdate.incident_id == incident.id))
        receipts.ask(s, incident, update, sender="cfo@example.com", name="Chris <b>Finance</b>",
                     text="Are refunds <script>affected</script>?", via="email", key="console-test")
    carol, _ = as_person("carol@example.com")
    html = carol.get(f"/console/incidents/{p1['number']}").get_data(as_text=True)
    assert 'seen by 1 of 1</span>' in html
    assert "Who said Got it (1)" in html and "Stakeholders &lt;stakeholders@example.com&gt;" in html and "via link" in html
    assert "Stakeholder questions" in html
    assert "Are refunds &lt;script&gt;affected&lt;/script&gt;?" in html and "<script>affected" not in html
