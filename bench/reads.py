"""Benchmark the two hot reads against a bare authenticated JSON endpoint of the same app (issue 17, goal 3).

Goal: `GET /api/incidents/<id>` and `GET /api/oncall` within 2x a bare authenticated JSON endpoint.
The bare endpoint is registered by this benchmark on the same app: `require_scope("read")` (the same
token check: a real API token stored hashed in the database, not the bootstrap admin token) around
`jsonify({"ok": true})`, so the floor includes the token check and the request machinery.

Data: 14 people, the policy's five rotations with two years of weekly shifts (a year back, a year
ahead) and 30 overrides each, 200 incidents opened through the lifecycle (every role assigned, some
acknowledged, resolved, linked), so the incident read has five roles with people.

Measured twice, requests interleaved round by round (the machine is shared: best and median, and ratios):
- in process, through the WSGI test client (the app's own cost: the strictest ratio);
- over HTTP: the same app served by waitress in this process, one keep-alive connection.
Also prints the SQL statements each request runs. `--profile` prints cProfile's top functions.
Run: .venv/bin/python bench/reads.py [--profile]
"""
from __future__ import annotations

import cProfile
import http.client
import pstats
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

from _harness import sqlite_app  # bench/ is on sys.path; _harness puts the project there
from service import db  # noqa: E402

NOW = datetime(2026, 6, 1, 10, 0, tzinfo=timezone.utc)
ROUNDS = 400


def populate(frozen) -> tuple[str, int]:
    """The data; returns a read token (stored hashed, like any client's) and the incident to read."""
    from service.auth import create_token
    from service.incidents import lifecycle
    from service.people.models import Person
    from service.rotations.models import Override, Rotation, Shift
    from service.runtime import policy

    s = db.session
    people = [Person(handle=f"p{i}", name=f"Person {i}", email=f"p{i}@example.com", aliases=[f"alias{i}"],
                     created_at=NOW) for i in range(14)]
    s.add_all(people)
    s.flush()
    first = NOW - timedelta(weeks=52)
    for n, role in enumerate(policy().roles.values()):
        rotation = Rotation(name=role.rotation, created_at=NOW, updated_at=NOW,
                            materialised_from=first, materialised_until=first + timedelta(weeks=104))
        s.add(rotation)
        s.flush()
        s.execute(Shift.__table__.insert(), [
            {"rotation_id": rotation.id, "start": first + timedelta(weeks=w), "end": first + timedelta(weeks=w + 1),
             "person_id": people[(w + n) % len(people)].id, "label": f"On call: Person {(w + n) % 14}",
             "uid": f"{n}-{w}@bench"} for w in range(104)])
        for k in range(30):
            start = NOW + timedelta(days=k * 7 - 100, hours=2)
            s.add(Override(rotation_id=rotation.id, person_id=people[k % 14].id, start=start,
                           end=start + timedelta(hours=3), created_at=NOW))
    token = create_token(s, "bench-reader", ["read"])
    s.commit()

    frozen.set(NOW - timedelta(days=60))
    previous = None
    for i in range(200):
        frozen.advance(hours=7)
        incident = lifecycle.open_incident(s, title=f"Incident {i}", severity=f"P{1 + i % 4}",
                                           impact="Some users saw errors", actor="bench",
                                           links={"alert": f"https://grafana.example.com/{i}"},
                                           previous_incident_id=previous.id if previous and i % 5 == 0 else None)
        if i % 3 == 0:
            holder = incident.role("incident_commander").person
            lifecycle.acknowledge(s, incident, holder, via="api", actor="bench")
        if i % 2 == 0:
            frozen.advance(minutes=30)
            lifecycle.resolve_incident(s, incident, root_cause="A bad deploy", resolution="Rolled back", actor="bench")
        s.commit()
        previous = incident
    target = lifecycle.get_by_id_or_number(s, "150")
    assert len(target.roles) == 5 and all(r.person for r in target.roles), "the incident read should show five people"
    frozen.set(NOW)
    db.session.remove()
    return token, target.id


class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, *_args):
        self.count += 1


def main() -> None:
    profile = "--profile" in sys.argv
    with sqlite_app(NOW) as (app, frozen):
        from flask import jsonify

        from service.auth import require_scope

        @app.route("/api/bench-bare")
        @require_scope("read")
        def bench_bare():
            return jsonify({"ok": True})

        with app.app_context():
            token, incident_id = populate(frozen)
        headers = {"Authorization": f"Bearer {token}"}
        paths = {"bare": "/api/bench-bare", "incident": f"/api/incidents/{incident_id}", "oncall": "/api/oncall"}

        client = app.test_client()
        counter = StatementCounter()
        from sqlalchemy import event
        event.listen(db.engine(), "before_cursor_execute", counter)
        statements = {}
        for name, path in paths.items():
            response = client.get(path, headers=headers)
            assert response.status_code == 200, (path, response.status_code, response.data)
            counter.count = 0
            client.get(path, headers=headers)
            statements[name] = counter.count
        event.remove(db.engine(), "before_cursor_execute", counter)

        def in_process(path):
            def run():
                response = client.get(path, headers=headers)
                assert response.status_code == 200
            return run

        if profile:
            for name in ("bare", "incident", "oncall"):
                profiler = cProfile.Profile()
                run = in_process(paths[name])
                profiler.enable()
                for _ in range(300):
                    run()
                profiler.disable()
                print(f"\n==== cProfile: 300 x GET {paths[name]} (in process), top 25 by cumulative time")
                pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
                print(f"==== top 20 by own time")
                pstats.Stats(profiler).sort_stats("tottime").print_stats(20)

        timings = interleaved({name: in_process(path) for name, path in paths.items()})
        report("in process (WSGI test client)", paths, timings, statements)

        from waitress.server import create_server
        server = create_server(app, host="127.0.0.1", port=0, threads=4)
        port = server.effective_port
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        try:

            def over_http(path):
                def run():
                    conn.request("GET", path, headers=headers)
                    response = conn.getresponse()
                    response.read()
                    assert response.status == 200
                return run

            timings = interleaved({name: over_http(path) for name, path in paths.items()})
            report(f"over HTTP (waitress, keep-alive, port {port})", paths, timings, statements)
        finally:
            conn.close()
            server.task_dispatcher.shutdown()
            server.close()


def interleaved(runs: dict, rounds: int = ROUNDS) -> dict[str, list[float]]:
    """Each request once per round, in turn, so that load on the shared machine hits them all alike."""
    for run in runs.values():  # warm up
        for _ in range(20):
            run()
    out: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            began = time.perf_counter()
            run()
            out[name].append(time.perf_counter() - began)
    return out


def report(title: str, paths: dict, timings: dict, statements: dict) -> None:
    """Best (the house figure: the least noisy on a shared machine, as `_harness.best_of`) and median,
    with the ratio of each to the bare endpoint's."""
    best_base, median_base = min(timings["bare"]), statistics.median(timings["bare"])
    print(f"\n{title}: {ROUNDS} rounds; best and median per request, ratios to the bare endpoint's")
    for name, path in paths.items():
        best, median = min(timings[name]), statistics.median(timings[name])
        label = "baseline" if name == "bare" else "        "
        ratio = "" if name == "bare" else (f"  ratio {best / best_base:4.2f}x best, {median / median_base:4.2f}x "
                                           f"median  (goal <= 2x)")
        print(f"{label} GET {path:24s} {best * 1e3:6.2f} ms {median * 1e3:6.2f} ms  {statements[name]:2d} SQL{ratio}")


if __name__ == "__main__":
    main()
