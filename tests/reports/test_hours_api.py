"""GET /api/reports/oncall-hours and `herald report hours`: from the shift record and the outbox."""
import csv
import io
from datetime import datetime, timezone

from click.testing import CliRunner

from service.cli import main
from tests.conftest import ADMIN
from tests.oncall.conftest import weekly

UTC = timezone.utc
IC = "incident-commander"
WEEK = "from=2026-03-02T00:00:00Z&to=2026-03-09T00:00:00Z"


def report(client, query):
    response = client.get(f"/api/reports/oncall-hours?{query}", headers=ADMIN)
    assert response.status_code == 200, response.get_json()
    return response


def test_hours_by_kind_and_pages_by_time_of_day(client, people, put_calendar, tick):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))  # alice from Mon 2 Mar 09:00 UTC (GMT)
    client.post(f"/api/rotations/{IC}/overrides", headers=ADMIN, json={  # carol covers Wed 12:00-14:00
        "person": "carol", "start": "2026-03-04T12:00:00Z", "end": "2026-03-04T14:00:00Z"})
    assert client.post("/api/incidents", headers=ADMIN, json={"title": "A", "severity": "P1"}).status_code == 201
    tick()  # the page goes out (channel log): Mon 10:00 GMT, daytime
    tick(datetime(2026, 3, 3, 23, 30, tzinfo=UTC))
    assert client.post("/api/incidents", headers=ADMIN, json={"title": "B", "severity": "P1"}).status_code == 201
    tick()  # Tue 23:30 GMT: a night page

    rows = report(client, WEEK).get_json()
    alice = next(r for r in rows if r["person"] == "alice")
    carol = next(r for r in rows if r["person"] == "carol")
    # Mon 09:00 - Mon 00:00 is 159 hours less carol's 2: business Mon-Fri 09-17 is 40 less 2. Pages: A's first
    # page (day), A's repeat (A was never acknowledged; it went at 23:30) and B's page (23:30).
    assert alice == {"person": "alice", "rotation": IC, "hours": 157.0, "business_hours": 38.0,
                     "after_hours": 71.0, "weekend_hours": 48.0, "holiday_hours": 0.0, "pages": 3, "night_pages": 2}
    assert carol == {"person": "carol", "rotation": IC, "hours": 2.0, "business_hours": 2.0, "after_hours": 0.0,
                     "weekend_hours": 0.0, "holiday_hours": 0.0, "pages": 0, "night_pages": 0}
    assert {r["person"] for r in rows} == {"alice", "carol"}  # bob starts after the range

    text = report(client, WEEK + "&format=csv&rotation=incident-commander")
    assert text.mimetype == "text/csv"
    table = list(csv.DictReader(io.StringIO(text.get_data(as_text=True))))
    assert list(table[0]) == ["person", "rotation", "hours", "business_hours", "after_hours", "weekend_hours",
                              "holiday_hours", "pages", "night_pages"]
    assert [(r["person"], float(r["hours"])) for r in table] == [("alice", 157.0), ("carol", 2.0)]


def test_two_years_back_and_bad_ranges(client, people, put_calendar):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker", since="20240101T090000"))
    rows = report(client, "from=2024-01-01T00:00:00Z&to=2024-12-30T00:00:00Z").get_json()
    total = sum(r["hours"] for r in rows)
    assert total == (datetime(2024, 12, 30, tzinfo=UTC) - datetime(2024, 1, 1, 9, tzinfo=UTC)).total_seconds() / 3600
    for r in rows:
        assert round(r["business_hours"] + r["after_hours"] + r["weekend_hours"] + r["holiday_hours"], 6) == r["hours"]
    too_long = client.get("/api/reports/oncall-hours?from=2024-01-01T00:00:00Z&to=2025-03-01T00:00:00Z",
                          headers=ADMIN)
    assert too_long.status_code == 422 and "400 days" in too_long.get_json()["message"]
    assert client.get("/api/reports/oncall-hours?from=2024-01-02T00:00:00Z&to=2024-01-01T00:00:00Z",
                      headers=ADMIN).status_code == 422
    assert client.get("/api/reports/oncall-hours?to=2024-01-01T00:00:00Z", headers=ADMIN).status_code == 422
    assert client.get(f"/api/reports/oncall-hours?{WEEK}&rotation=nope", headers=ADMIN).status_code == 422
    assert client.get(f"/api/reports/oncall-hours?{WEEK}").status_code == 401


def test_the_command_line_prints_the_same_report(app, config, monkeypatch, client, people, put_calendar):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))
    monkeypatch.setenv("HERALD_DATABASE_URL", config.database_url)
    monkeypatch.setenv("HERALD_POLICY", config.policy_path)
    monkeypatch.setenv("HERALD_SECRET_KEY", "s")
    result = CliRunner().invoke(main, ["report", "hours", "--from", "2026-03-02", "--to", "2026-03-09T00:00:00Z"])
    assert result.exit_code == 0, result.output
    table = list(csv.DictReader(io.StringIO(result.output)))
    assert [(r["person"], r["hours"], r["weekend_hours"]) for r in table] == [("alice", "159.0", "48.0")]
    bad = CliRunner().invoke(main, ["report", "hours", "--from", "2020-01-01", "--to", "2026-01-01"])
    assert bad.exit_code == 2 and "400 days" in bad.output
