"""/status, /status.json and /status.atom: public updates in order, the banner, history, and no private field."""
import json
from datetime import timedelta
from xml.etree import ElementTree as ET


from service import db
from service.incidents.models import Incident
from service.incidents.timeline import record
from tests.conftest import ADMIN, START

ATOM = "{http://www.w3.org/2005/Atom}"


def open_incident(client, title="Orders are failing", severity="P1", **body):
    response = client.post("/api/incidents", json={"title": title, "severity": severity,
                                                   "impact": "Nobody can place orders", **body}, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_status_page_shows_open_incident_and_its_updates_newest_first(client, frozen_clock):
    incident = open_incident(client)
    frozen_clock.advance(minutes=20)
    client.post(f"/api/incidents/{incident['id']}/updates",
                json={"status": "identified", "learned": "A disk is full.", "doing": "Failing over."}, headers=ADMIN)
    frozen_clock.advance(minutes=15)
    client.post(f"/api/incidents/{incident['id']}/updates",
                json={"status": "monitoring", "learned": "Failover done.", "doing": "Watching error rates."},
                headers=ADMIN)

    page = client.get("/status")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Orders are failing" in html and "P1 · Critical" in html and "Monitoring" in html
    texts = ["Watching error rates.", "Failing over.", "We are aware of the issue and actively investigating."]
    positions = [html.index(t) for t in texts]
    assert positions == sorted(positions), "updates must be newest first"
    assert "Some systems degraded" in html  # a P1 in monitoring is mitigated

    body = client.get("/status.json").get_json()
    assert body["status"] == {"indicator": "degraded", "description": "Some systems degraded"}
    (shown,) = body["incidents"]
    assert shown["number"] == incident["number"] and shown["status"] == "monitoring"
    assert [u["kind"] for u in shown["updates"]] == ["progress", "progress", "initial"]
    assert [u["posted_at"] for u in shown["updates"]] == [
        "2026-03-02T10:35:00Z", "2026-03-02T10:20:00Z", "2026-03-02T10:00:00Z"]
    assert shown["updates"][1]["text"].splitlines()[:5] == [
        "🟡 UPDATE: Orders are failing", "", "Status: Identified", "Impact: Nobody can place orders",
        "Duration: 20 minutes"]
    assert body["resolved"] == []


def test_an_update_is_public_the_moment_it_is_posted(client, frozen_clock):
    incident = open_incident(client, severity="P2")
    before = client.get("/status.json").get_json()["incidents"][0]["updates"]
    frozen_clock.advance(minutes=5)
    client.post(f"/api/incidents/{incident['id']}/updates", json={"status": "identified", "learned": "Found it."},
                headers=ADMIN)
    after = client.get("/status.json").get_json()["incidents"][0]["updates"]
    assert len(after) == len(before) + 1 and "Found it." in after[0]["text"]


def test_banner_goes_from_operational_to_major_outage_and_back(client):
    assert client.get("/status.json").get_json()["status"]["indicator"] == "operational"
    assert "All systems operational" in client.get("/status").get_data(as_text=True)
    p3 = open_incident(client, "Slow search", "P3")
    assert client.get("/status.json").get_json()["status"]["indicator"] == "degraded"
    p1 = open_incident(client)
    body = client.get("/status.json").get_json()
    assert body["status"]["indicator"] == "major_outage"
    assert [i["severity"] for i in body["incidents"]] == ["P1", "P3"]  # most severe first
    for incident in (p1, p3):
        client.post(f"/api/incidents/{incident['id']}/resolve", json={"root_cause": "x", "resolution": "y"},
                    headers=ADMIN)
    body = client.get("/status.json").get_json()
    assert body["status"]["indicator"] == "operational" and body["incidents"] == []
    assert {i["title"] for i in body["resolved"]} == {"Orders are failing", "Slow search"}


def test_history_keeps_ninety_days_of_resolved_incidents(client, frozen_clock):
    old = open_incident(client, "Old outage")
    client.post(f"/api/incidents/{old['id']}/resolve", json={"root_cause": "a", "resolution": "b"}, headers=ADMIN)
    frozen_clock.advance(days=30)
    recent = open_incident(client, "Recent outage", "P2")
    client.post(f"/api/incidents/{recent['id']}/resolve", json={"root_cause": "c", "resolution": "d"},
                headers=ADMIN)
    client.patch(f"/api/incidents/{recent['id']}", json={"status": "closed"}, headers=ADMIN)

    frozen_clock.advance(days=59, hours=23)  # the old one resolved 89 days 23 hours ago
    titles = [i["title"] for i in client.get("/status.json").get_json()["resolved"]]
    assert titles == ["Recent outage", "Old outage"]
    frozen_clock.advance(hours=2)
    resolved = client.get("/status.json").get_json()["resolved"]
    assert [i["title"] for i in resolved] == ["Recent outage"]
    assert resolved[0]["status"] == "resolved"  # closed is internal: the public sees resolved
    assert resolved[0]["updates"][0]["text"].startswith("🟢 RESOLVED: Recent outage")


def test_atom_feed_parses_and_has_the_required_elements(client, frozen_clock):
    empty = ET.fromstring(client.get("/status.atom").data)
    assert empty.tag == f"{ATOM}feed" and empty.findall(f"{ATOM}entry") == []
    assert empty.findtext(f"{ATOM}updated") == "2026-03-02T10:00:00Z"

    incident = open_incident(client)
    frozen_clock.advance(minutes=10)
    client.post(f"/api/incidents/{incident['id']}/updates", json={"status": "identified", "learned": "Found it."},
                headers=ADMIN)
    response = client.get("/status.atom")
    assert response.mimetype == "application/atom+xml"
    feed = ET.fromstring(response.data)
    for tag in ("id", "title", "updated"):
        assert feed.findtext(f"{ATOM}{tag}"), tag
    assert feed.findtext(f"{ATOM}author/{ATOM}name") == "Herald"
    self_link = [link for link in feed.findall(f"{ATOM}link") if link.get("rel") == "self"]
    assert self_link and self_link[0].get("href") == "http://herald.test/status.atom"
    assert feed.findtext(f"{ATOM}updated") == "2026-03-02T10:10:00Z"

    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 2
    for entry in entries:
        for tag in ("id", "title", "updated", "content"):
            assert entry.findtext(f"{ATOM}{tag}"), tag
        assert entry.findtext(f"{ATOM}id").startswith("urn:uuid:")
        assert entry.find(f"{ATOM}content").get("type") == "text"
        assert entry.find(f"{ATOM}link").get("href") == f"http://herald.test/status#{incident['number']}"
    assert len({e.findtext(f"{ATOM}id") for e in entries}) == 2
    assert [e.findtext(f"{ATOM}updated") for e in entries] == ["2026-03-02T10:10:00Z", "2026-03-02T10:00:00Z"]
    assert entries[0].findtext(f"{ATOM}title") == f"{incident['number']}: 🟡 UPDATE: Orders are failing"
    assert "Found it." in entries[0].findtext(f"{ATOM}content")
    # Entry ids are permanent: the same update keeps its id as the feed grows.
    first_ids = [e.findtext(f"{ATOM}id") for e in entries]
    client.post(f"/api/incidents/{incident['id']}/updates", json={"status": "mitigating"}, headers=ADMIN)
    again = ET.fromstring(client.get("/status.atom").data).findall(f"{ATOM}entry")
    assert [e.findtext(f"{ATOM}id") for e in again][1:] == first_ids


def test_public_responses_are_fresh_and_shareable(client):
    page = client.get("/status")
    assert page.headers["Cache-Control"] == "no-cache"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert page.headers["X-Content-Type-Options"] == "nosniff"
    assert client.get("/status.json").headers["Access-Control-Allow-Origin"] == "*"
    assert client.get("/status.atom").headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Origin" not in page.headers
    assert '<link rel="alternate" type="application/atom+xml"' in page.get_data(as_text=True)


def test_no_private_field_leaks_into_the_public_pages(app, client, frozen_clock, make_person, put_on_call,
                                                      token_for):
    """A scripted incident full of people, internal notes and alert labels; none of it may be public."""
    people = [("zq-ivanka", "Ivanka Quillfeather", "ivanka.quillfeather@corp-internal.example"),
              ("zq-bartholomew", "Bartholomew Oyelaran", "b.oyelaran@corp-internal.example"),
              ("zq-comms", "Cosima Vandersloot", "cosima@corp-internal.example")]
    for handle, name, email in people:
        make_person(handle, name, email, aliases=[f"{handle}-alias"])
    put_on_call("incident-commander", "zq-ivanka", START - timedelta(days=1))
    put_on_call("technical-lead", "zq-bartholomew", START - timedelta(days=1))
    put_on_call("communications-lead", "zq-comms", START - timedelta(days=1))
    writer = token_for("read", "write")
    incident = client.post("/api/incidents", headers=writer, json={
        "title": "Checkout errors", "severity": "P1", "impact": "Some customers cannot pay",
        "description": "INTERNAL-NOTE: db-primary-7 credentials rotated by hand", "financial_impact": 12345.0,
        "data_breach_suspected": True}).get_json()
    url = f"/api/incidents/{incident['id']}"
    frozen_clock.advance(minutes=3)
    client.post(f"{url}/acknowledgements", json={"person": "zq-ivanka"}, headers=writer)
    client.put(f"{url}/roles/technical_lead", json={"person": "zq-comms"}, headers=writer)
    frozen_clock.advance(minutes=12)
    client.post(f"{url}/updates", headers=writer,
                json={"status": "identified", "learned": "Payments time out.", "doing": "Rolling back."})
    with app.app_context(), db.transaction() as s:
        row = s.get(Incident, incident["id"])
        row.links = {"labels": {"alertname": "PaymentsLatencyHigh", "pod": "payments-7f9c-zq", "team": "zq-team"},
                     "generator": "http://prometheus.internal:9090/graph?g0.expr=zq_secret"}
        record(s, row, "escalated", "Escalated to Engineering Manager (eng-manager@example.com): P1 not acknowledged",
               actor="herald", contacts=["engineering_manager"])
        record(s, row, "note", "INTERNAL-TIMELINE: suspect the zq-secret feature flag", actor="token:zq-writer")
    frozen_clock.advance(minutes=40)
    client.post(f"{url}/resolve", headers=writer, json={"root_cause": "A bad release.", "resolution": "Rolled back."})

    timeline = client.get(f"{url}/timeline", headers=ADMIN).get_json()
    private = [value for person in people for value in person]
    private += [f"{handle}-alias" for handle, _, _ in people]
    private += ["Ivanka", "Quillfeather", "Oyelaran", "Vandersloot", "corp-internal", "INTERNAL", "12345",
                "PaymentsLatencyHigh", "payments-7f9c", "prometheus.internal", "zq_secret", "zq-team",
                "eng-manager@example.com", "test-read-write", "token:", "data_breach", "breach"]
    # Every internal timeline text, except the root cause, which the resolution update publishes on purpose.
    private += [entry["text"] for entry in timeline if entry["kind"] not in ("update", "root_cause")]
    assert any("Acknowledged by Ivanka" in t for t in private)  # the timeline really holds private text

    responses = {path: client.get(path) for path in ("/status", "/status.json", "/status.atom")}
    for path, response in responses.items():
        assert response.status_code == 200
        body = response.get_data(as_text=True)
        if path == "/status.json":
            body = json.dumps(response.get_json(), ensure_ascii=False)
        assert "Checkout errors" in body and "Rolling back." in body  # the public parts are there
        leaks = [value for value in private if value.lower() in body.lower()]
        assert leaks == [], f"{path} leaks {leaks}"


def test_the_stylesheet_and_script_are_served(client):
    css = client.get("/static/herald.css")
    assert css.status_code == 200 and css.mimetype == "text/css" and b".sev-P1" in css.data
    script = client.get("/static/herald.js")
    assert script.status_code == 200 and "javascript" in script.mimetype and b"Intl.DateTimeFormat" in script.data


def test_atom_feed_stays_valid_xml_whatever_a_title_holds(app, client, frozen_clock):
    """Control characters and U+FFFF in a stored title (older data, or a path that did not clean it): the
    feed still parses, with those characters left out or replaced."""
    incident = open_incident(client)
    with app.app_context(), db.transaction() as s:
        row = s.get(Incident, incident["id"])
        row.title = "Orders\x08 are\x07 failing\x1b[31m \x9b\uffff now"
    frozen_clock.advance(minutes=5)
    client.post(f"/api/incidents/{incident['id']}/updates", json={"status": "identified", "learned": "Found it."},
                headers=ADMIN)
    response = client.get("/status.atom")
    assert response.status_code == 200
    feed = ET.fromstring(response.data)
    titles = [e.findtext(f"{ATOM}title") for e in feed.findall(f"{ATOM}entry")]
    assert any("UPDATE: Orders are failing[31m \ufffd now" in t for t in titles), titles
