"""Hostile input gets the right 4xx, never a 500 (the adversarial run's hand-made inputs and
Schemathesis' finds); monitoring's text: tests/alerts/test_alerts_poison.py."""

import pytest

from tests.conftest import ADMIN

JSON = {**ADMIN, "Content-Type": "application/json"}
BIG = str(2 ** 63)
PG_BIG = str(2 ** 31)


def deep(n: int) -> str:
    return "[" * n + "]" * n


BAD_REQUESTS = {
    "JSON nested 1000 deep": ("POST", "/api/incidents", deep(1000), 400),
    "JSON object nested 200 deep": ("POST", "/api/incidents", '{"a":' * 200 + "1" + "}" * 200, 400),
    "JSON nested 1000 deep to alertmanager": ("POST", "/api/alerts/alertmanager", deep(1000), 400),
    "JSON nested 1000 deep to PagerDuty": ("POST", "/v2/enqueue", deep(1000), 400),
    "offset past 2^63": ("GET", f"/api/incidents?offset={BIG}", None, 422),
    "offset past 2^31": ("GET", f"/api/incidents?offset={PG_BIG}", None, 422),
    "limit past 2^63": ("GET", f"/api/alerts/events?limit={BIG}", None, 422),
    "refresh_every as a number 1e166": ("POST", "/api/rotations", '{"name": "x", "url": "https://example.com/a.ics", '
                                                                  '"refresh_every": 1e166}', 422),
    "incident id past 2^63": ("GET", f"/api/incidents/{BIG}", None, 404),
    "incident id past 2^31": ("GET", f"/api/incidents/{PG_BIG}", None, 404),
    "superscript two as an id": ("GET", "/api/incidents/²", None, 404),
    "arabic-indic digits as an id": ("GET", "/api/incidents/٣", None, 404),
    "notification id past 2^63": ("GET", f"/api/notifications/{BIG}", None, 404),
    "alert group id past 2^31": ("GET", f"/api/alerts/groups/{PG_BIG}", None, 404),
    "alert event id past 2^63": ("GET", f"/api/alerts/events/{BIG}", None, 404),
    "timeline of an id past 2^63": ("GET", f"/api/incidents/{BIG}/timeline", None, 404),
    "ack of an id past 2^31": ("POST", f"/api/incidents/{PG_BIG}/acknowledgements", '{"person": "x"}', 404),
    "at the year 1 east of UTC": ("GET", "/api/oncall?at=0001-01-01T00:00:00%2B14:00", None, 422),
    "at the year 9999 west of UTC": ("GET", "/api/oncall?at=9999-12-31T23:59:59-12:00", None, 422),
    "shifts from year 1": ("GET", "/api/rotations/x/shifts?from=0001-01-01T00:00:00%2B14:00", None, 422),
    "refresh_every=1e166": ("POST", "/api/rotations", '{"name": "x", "url": "https://example.com/a.ics", '
                                                      '"refresh_every": "1e166"}', 422),
    "refresh_every of 10^20 days": ("POST", "/api/rotations", '{"name": "x", "url": "https://example.com/a.ics", '
                                                              '"refresh_every": "' + "9" * 20 + 'd"}', 422),
    "lone surrogate in a title": ("POST", "/api/incidents", '{"title": "a\\ud800b", "severity": "P3"}', 400),
    "NUL in a title": ("POST", "/api/incidents", '{"title": "a\\u0000b", "severity": "P3"}', 400),
    "lone surrogate in a key": ("POST", "/api/incidents", '{"\\udfff": 1, "title": "t", "severity": "P3"}', 400),
    "NUL in a person's name": ("POST", "/api/people", '{"handle": "nul", "name": "a\\u0000", '
                                                      '"email": "n@example.com"}', 400),
}


@pytest.mark.parametrize("case", sorted(BAD_REQUESTS))
def test_hostile_input_is_a_4xx_never_a_500(client, case):
    method, path, body, status = BAD_REQUESTS[case]
    response = client.open(path, method=method, data=body, headers=JSON)
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:300])
    if path.startswith("/api"):
        assert isinstance(response.get_json()["code"], str)
