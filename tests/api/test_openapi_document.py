"""The OpenAPI document says what the API does: the error shape, 405 with `Allow`, enforced constraints."""
import pytest

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@pytest.fixture
def spec(client):
    return client.get("/openapi.json").get_json()


def test_error_schema_matches_every_error_body(client, spec, admin_headers):
    schema = spec["components"]["schemas"]["Error"]
    assert schema["properties"]["code"]["type"] == "string"
    assert set(schema["properties"]) == {"code", "message", "errors"}
    assert set(schema["required"]) == {"code", "message", "errors"}
    bodies = [client.get("/api/incidents").get_json(),                                  # 401
              client.get("/api/incidents/999", headers=admin_headers).get_json(),       # 404
              client.post("/api/incidents", json={}, headers=admin_headers).get_json(),  # 422
              client.post("/api/incidents", data="{", content_type="application/json",
                          headers=admin_headers).get_json()]                            # 400
    for body in bodies:
        assert set(body) == {"code", "message", "errors"}, body
        assert isinstance(body["code"], str) and isinstance(body["message"], str)
        assert isinstance(body["errors"], dict)


def test_405_keeps_the_allow_header(client, admin_headers):
    response = client.put("/api/incidents", headers=admin_headers)
    assert response.status_code == 405
    assert set(response.headers["Allow"].replace(" ", "").split(",")) >= {"GET", "POST"}
    assert response.get_json()["code"] == "method_not_allowed"


def test_ids_past_the_database_integer_are_404_and_documented(client, spec, admin_headers):
    for path in ("/api/alerts/events/633767888115361902493696", "/api/notifications/2147483648",
                 "/api/tokens/9223372036854775808"):
        response = client.get(path, headers=admin_headers) if "tokens" not in path else \
            client.delete(path, headers=admin_headers)
        assert response.status_code == 404, (path, response.get_data(as_text=True))
        assert response.get_json()["code"] == "not_found"
    (parameter,) = spec["paths"]["/api/alerts/events/{event_id}"]["parameters"]
    assert parameter["schema"] == {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}


def test_an_offset_past_the_database_integer_is_a_422(client, admin_headers, spec):
    response = client.get("/api/notifications?offset=9223372036854775808", headers=admin_headers)
    assert response.status_code == 422 and "offset" in response.get_json()["errors"]
    (offset,) = [p for p in spec["paths"]["/api/notifications"]["get"]["parameters"] if p["name"] == "offset"]
    assert offset["schema"]["maximum"] == 2**31 - 1
