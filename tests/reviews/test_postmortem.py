"""The post-mortem draft for a scripted incident, compared line for line with the guide's template."""
from datetime import timedelta

from tests.conftest import ADMIN, START

EXPECTED = """\
# Incident Post-Mortem: Orders are failing

## Summary
- **Date**: 2026-03-02
- **Duration**: 1 hour 40 minutes
- **Severity**: P1
- **Impact**: Nobody can place orders

## Timeline
| Time (UTC) | Event |
|------------|-------|
| 10:00 | Incident opened: Orders are failing (P1 - Critical) |
| 10:00 | Incident Commander assigned: Alice Archer (on call) |
| 10:00 | Technical Lead assigned: Bob Baker (on call) |
| 10:00 | Initial status update posted (status investigating) |
| 10:00 | Paged Alice Archer as Incident Commander |
| 10:00 | Paged Bob Baker as Technical Lead |
| 10:04 | Acknowledged by Alice Archer (Incident Commander) via api |
| 10:04 | Response time met |
| 10:25 | Status changed from investigating to identified |
| 10:25 | Progress update (status identified) — learned: A bad index \\| slow joins; doing: Rebuilding it |
| 10:50 | Status changed from identified to monitoring |
| 10:50 | Impact mitigated |
| 10:50 | Financial impact set to 12,500.00 |
| 11:40 | Root cause identified: Index dropped by a migration |
| 11:40 | Incident resolved: Restored the index |
| 11:40 | Resolution update posted |

## Root Cause
Index dropped by a migration

## Resolution
Restored the index

## Impact
- Users affected: [X]
- Revenue impact: $12,500
- Data loss: [Yes/No]

## Lessons Learned
### What went well
- [Item 1]
- [Item 2]

### What could be improved
- [Item 1]
- [Item 2]

## Action Items
| Action | Owner | Due Date |
|--------|-------|----------|
| Alert when an index disappears | @bob | 2026-03-09 |
| Review migrations (done) | @alice | YYYY-MM-DD |
| Runbook for index rebuilds | @person | YYYY-MM-DD |
"""


def scripted_incident(client, make_person, put_on_call, clock):
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1",
                                                   "impact": "Nobody can place orders"}, headers=ADMIN).get_json()
    url = f"/api/incidents/{incident['id']}"
    clock.advance(minutes=4)
    assert client.post(f"{url}/acknowledgements", json={"person": "alice"}, headers=ADMIN).status_code == 201
    clock.advance(minutes=21)
    assert client.post(f"{url}/updates", json={"status": "identified", "learned": "A bad index | slow\njoins",
                                               "doing": "Rebuilding it"}, headers=ADMIN).status_code == 201
    clock.advance(minutes=25)
    assert client.patch(url, json={"status": "monitoring", "financial_impact": 12500}, headers=ADMIN).status_code == 200
    clock.advance(minutes=50)
    resolved = client.post(f"{url}/resolve", json={"root_cause": "Index dropped by a migration",
                                                   "resolution": "Restored the index"}, headers=ADMIN)
    assert resolved.status_code == 200
    return url


def test_draft_follows_the_guide_template(client, make_person, put_on_call, frozen_clock):
    url = scripted_incident(client, make_person, put_on_call, frozen_clock)
    first = client.post(f"{url}/actions", json={"action": "Alert when an index disappears", "owner": "bob",
                                                "due_date": "2026-03-09"}, headers=ADMIN)
    assert first.status_code == 201
    client.post(f"{url}/actions", json={"action": "Review migrations", "owner": "alice"}, headers=ADMIN)
    client.post(f"{url}/actions", json={"action": "Runbook for index rebuilds"}, headers=ADMIN)
    assert client.patch(f"{url}/actions/2", json={"done": True}, headers=ADMIN).status_code == 200

    response = client.get(f"{url}/postmortem", headers=ADMIN)
    assert response.status_code == 200
    assert response.mimetype == "text/markdown"
    assert response.headers["Herald-Postmortem"] == "draft"
    assert response.get_data(as_text=True) == EXPECTED


def test_open_incident_keeps_placeholders(client, frozen_clock):
    incident = client.post("/api/incidents", json={"title": "Slow charts", "severity": "P2"}, headers=ADMIN).get_json()
    frozen_clock.advance(days=1, minutes=5)
    client.patch(f"/api/incidents/{incident['id']}", json={"status": "identified", "data_breach_suspected": True},
                 headers=ADMIN)
    text = client.get(f"/api/incidents/{incident['id']}/postmortem", headers=ADMIN).get_data(as_text=True)
    assert "- **Duration**: [X hours Y minutes: not resolved yet]" in text
    assert "- **Impact**: [User/business impact]" in text
    assert "## Root Cause\n[Detailed explanation of what caused the incident]\n" in text
    assert "## Resolution\n[What was done to resolve the incident]\n" in text
    assert "- Revenue impact: $[X]\n" in text
    assert "- Data breach suspected: Yes\n" in text
    # A later day carries its date, so the table stays unambiguous.
    assert "| 2026-03-03 10:05 | Status changed from investigating to identified |" in text
    assert "| [Action 1] | @person | YYYY-MM-DD |\n| [Action 2] | @person | YYYY-MM-DD |\n" in text


def test_unknown_timeline_kinds_appear_as_recorded(app, client, frozen_clock):
    from service import db
    from service.incidents.models import Incident
    from service.incidents.timeline import record

    incident = client.post("/api/incidents", json={"title": "Disk full", "severity": "P1"}, headers=ADMIN).get_json()
    with app.app_context(), db.transaction() as s:
        record(s, s.get(Incident, incident["id"]), "escalation", "Escalated to Engineering Manager: P1 not acknowledged")
    text = client.get(f"/api/incidents/{incident['id']}/postmortem", headers=ADMIN).get_data(as_text=True)
    assert "| 10:00 | Escalated to Engineering Manager: P1 not acknowledged |" in text


def test_put_stores_an_edited_version(client, token_for, frozen_clock):
    incident = client.post("/api/incidents", json={"title": "Disk full", "severity": "P1"}, headers=ADMIN).get_json()
    url = f"/api/incidents/{incident['number']}/postmortem"
    writer = token_for("read", "write")
    edited = "# Incident Post-Mortem: Disk full\n\nWritten by a human. ✓\n"
    put = client.put(url, data=edited.encode(), content_type="text/markdown; charset=utf-8", headers=writer)
    assert put.status_code == 200
    assert put.headers["Herald-Postmortem"] == "edited"
    assert client.get(url, headers=writer).get_data(as_text=True) == edited

    as_json = client.get(url, headers={**writer, "Accept": "application/json"}).get_json()
    assert as_json == {"markdown": edited, "source": "edited", "updated_at": "2026-03-02T10:00:00Z",
                       "updated_by": "token:test-read-write"}
    again = client.put(url, json={"markdown": "# v2\n"}, headers=writer)
    assert again.status_code == 200 and again.get_data(as_text=True) == "# v2\n"

    assert client.delete(url, headers=writer).status_code == 204
    assert client.get(url, headers=writer).headers["Herald-Postmortem"] == "draft"
    assert client.delete(url, headers=writer).status_code == 404


def test_bad_postmortem_bodies_change_nothing(client, token_for):
    incident = client.post("/api/incidents", json={"title": "Disk full", "severity": "P1"}, headers=ADMIN).get_json()
    url = f"/api/incidents/{incident['id']}/postmortem"
    assert client.put(url, data="   \n", content_type="text/markdown", headers=ADMIN).status_code == 422
    assert client.put(url, json={"markdown": ""}, headers=ADMIN).status_code == 422
    assert client.put(url, json={"markdown": "x", "extra": 1}, headers=ADMIN).status_code == 422
    assert client.put(url, json=["x"], headers=ADMIN).status_code == 422
    assert client.put(url, data=b"\xff\xfe", content_type="text/markdown", headers=ADMIN).status_code == 400
    assert client.put(url, data="x", content_type="application/pdf", headers=ADMIN).status_code == 415
    assert client.put(url, data="x", content_type="text/markdown", headers=token_for("read")).status_code == 403
    assert client.put("/api/incidents/999/postmortem", data="x", content_type="text/markdown",
                      headers=ADMIN).status_code == 404
    assert client.get(url, headers=ADMIN).headers["Herald-Postmortem"] == "draft"


def test_openapi_documents_the_review_api(client):
    spec = client.get("/openapi.json").get_json()
    for path in ("/api/incidents/{ident}/postmortem", "/api/incidents/{ident}/review",
                 "/api/incidents/{ident}/actions", "/api/incidents/{ident}/actions/{number}"):
        assert path in spec["paths"], path
    put = spec["paths"]["/api/incidents/{ident}/postmortem"]["put"]
    assert set(put["requestBody"]["content"]) == {"text/markdown", "application/json"}


def test_repeated_acknowledgements_stay_out_of_the_draft(client, make_person, put_on_call, frozen_clock):
    make_person("alice", "Alice Archer")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                           headers=ADMIN).get_json()
    url = f"/api/incidents/{incident['id']}"
    for _ in range(4):  # the link, a reply and the API: people acknowledge more than once
        frozen_clock.advance(minutes=1)
        assert client.post(f"{url}/acknowledgements", json={"person": "alice"}, headers=ADMIN).status_code in (200, 201)
    timeline = [e["text"] for e in client.get(f"{url}/timeline", headers=ADMIN).get_json()]
    assert sum("acknowledged again" in text for text in timeline) == 3  # the Scribe's record keeps them
    draft = client.get(f"{url}/postmortem", headers=ADMIN).get_data(as_text=True)
    assert draft.count("Acknowledged by Alice Archer") == 1
    assert "again" not in draft


def test_a_broken_postmortem_override_falls_back_to_the_default(app, client, tmp_path):
    (tmp_path / "postmortem.md.j2").write_text("# {{ incident.nope }}\n")
    app.config["HERALD"].templates_dir = str(tmp_path)
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P1"},
                           headers=ADMIN).get_json()
    response = client.get(f"/api/incidents/{incident['id']}/postmortem", headers=ADMIN)
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("# Incident Post-Mortem: Orders are failing")
