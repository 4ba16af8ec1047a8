"""What a refused change says: the rule, and what the caller can still do."""
from tests.conftest import ADMIN


def test_a_closed_incident_says_it_is_final_not_resolve_or_reopen(client):
    incident = client.post("/api/incidents", json={"title": "Orders are failing", "severity": "P3"},
                           headers=ADMIN).get_json()
    url = f"/api/incidents/{incident['id']}"
    assert client.post(f"{url}/resolve", json={"root_cause": "A bug.", "resolution": "Fixed."},
                       headers=ADMIN).status_code == 200
    resolved = client.post(f"{url}/updates", json={"status": "identified"}, headers=ADMIN)
    assert resolved.status_code == 409
    assert "reopen" in resolved.get_json()["message"]
    assert client.patch(url, json={"status": "closed"}, headers=ADMIN).status_code == 200
    closed = client.post(f"{url}/updates", json={"status": "identified"}, headers=ADMIN)
    assert closed.status_code == 409
    message = closed.get_json()["message"]
    assert "final" in message and "reopen" not in message and "resolve" not in message
