"""Benchmark the web pages against the API reading the same data, in the same run.

Data: 10 open incidents with 20 updates each, 300 incidents resolved in the last 90 days with 4
updates each, five roles on weekly rotations (a year of shifts each) with a few overrides.
- /status, /status.json, /status.atom and /board/live (what a board fetches every 15 s),
- against GET /api/health (the floor of a request that touches the database) and
  GET /api/incidents?limit=1000 (the API listing the same incidents as JSON).
Run: .venv/bin/python bench/web.py
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from _harness import best_of, sqlite_app  # bench/ is on sys.path; _harness puts the project there
from service import db  # noqa: E402

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
ADMIN = {"Authorization": "Bearer bench-admin"}



def populate(frozen) -> None:
    from service.incidents import lifecycle
    from service.incidents.timeline import record
    from service.people.models import Person
    from service.rotations.models import Override, Rotation, Shift
    from service.runtime import policy

    s = db.session
    people = [Person(handle=f"p{i}", name=f"Person {i}", email=f"p{i}@example.com", aliases=[], created_at=NOW) for i in range(12)]
    s.add_all(people)
    s.flush()
    year_start = NOW - timedelta(days=180)
    for n, role in enumerate(policy().roles.values()):
        rotation = Rotation(name=role.rotation, created_at=NOW, updated_at=NOW)
        s.add(rotation)
        s.flush()
        for week in range(52):
            start = year_start + timedelta(weeks=week)
            s.add(Shift(rotation_id=rotation.id, start=start, end=start + timedelta(weeks=1),
                        person_id=people[(week + n) % len(people)].id, label="", uid=f"{n}-{week}"))
        for k in range(5):
            start = NOW + timedelta(days=k, hours=2)
            s.add(Override(rotation_id=rotation.id, person_id=people[k].id, start=start,
                           end=start + timedelta(hours=3), created_at=NOW))
    s.commit()

    frozen.set(NOW - timedelta(days=89))
    for i in range(300):
        frozen.set(NOW - timedelta(days=89) + timedelta(hours=7 * i))
        incident = lifecycle.open_incident(s, title=f"Resolved incident {i}", severity=f"P{1 + i % 4}",
                                           impact="Some users saw errors", actor="bench")
        for k in range(2):
            frozen.advance(minutes=15)
            lifecycle.post_update(s, incident, status="identified", actor="bench", learned=f"Finding {k}",
                                  doing="Working on it")
        frozen.advance(minutes=30)
        lifecycle.resolve_incident(s, incident, root_cause="A bad deploy", resolution="Rolled back", actor="bench")
        s.commit()
    frozen.set(NOW - timedelta(hours=5))
    for i in range(10):
        incident = lifecycle.open_incident(s, title=f"Open incident {i}", severity=f"P{1 + i % 4}",
                                           impact="Orders are slow", actor="bench")
        for k in range(19):
            frozen.advance(minutes=1)
            lifecycle.post_update(s, incident, status="mitigating", actor="bench", learned=f"Finding {k}")
        record(s, incident, "escalated", "Escalated to Engineering Manager", actor="herald")
        s.commit()
    frozen.set(NOW)


def main() -> None:
    with sqlite_app(NOW, admin_token="bench-admin") as (app, frozen):
        with app.app_context():
            populate(frozen)
        client = app.test_client()
        login = client.get("/board/login").get_data(as_text=True)
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
        assert client.post("/board/login", data={"csrf_token": csrf, "token": "bench-admin"}).status_code == 303

        def get(path, headers=None):
            def run():
                response = client.get(path, headers=headers)
                assert response.status_code == 200, (path, response.status_code)
            return run

        health = best_of(get("/api/health"), repeat=15)
        listing = best_of(get("/api/incidents?limit=1000", ADMIN), repeat=15)
        print(f"baseline GET /api/health                {health * 1e3:7.2f} ms")
        print(f"baseline GET /api/incidents?limit=1000  {listing * 1e3:7.2f} ms  (310 incidents as JSON)")
        for path in ("/status", "/status.json", "/status.atom", "/board/live"):
            took = best_of(get(path), repeat=15)
            size = len(client.get(path).data)
            print(f"GET {path:13s} {took * 1e3:7.2f} ms  {size / 1024:6.0f} KiB  "
                  f"ratio to health {took / health:6.1f}x  to incident list {took / listing:5.2f}x")


if __name__ == "__main__":
    main()
