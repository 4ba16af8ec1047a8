"""Benchmark opening an incident: Herald's path against a hand-written transaction inserting the same rows.

Through the same engine, on the same database, in the same run:

  herald        `lifecycle.open_incident` in one transaction: the day's number, the incident, its roles
                (who is on call), the timeline, the initial update and the outbox rows (pages, notices,
                the stakeholders' initial update), rendered from the templates, committed together
  hand-written  one transaction of plain INSERTs writing the very same rows (copied from an incident
                Herald opened first, payloads included): what the database itself costs

Prints milliseconds per open (the median of opens made one of each in turn), SQL statements per open and the ratio,
for a P3 of the storm (one page email, one Teams card to the stakeholders: bench/storm.py's policy)
and for a P1 (two pages and two notices on Teams and email, the stakeholders' update). Goal: herald
at most 3x the hand-written transaction. `--profile` adds the cProfile of Herald's path.

SQLite by default; with HERALD_BENCH_DATABASE_URL (a PostgreSQL server), a scratch database there.
Run: .venv/bin/python bench/open.py [--opens 200] [--rounds 5] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import sys
import tempfile
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import create_engine, event, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from service import clock, create_app, db  # noqa: E402
from service.config import Config  # noqa: E402
from service.incidents import lifecycle  # noqa: E402
from service.incidents.models import IncidentCounter, IncidentRole, IncidentUpdate, TimelineEntry  # noqa: E402
from service.incidents.models import Incident  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.notify.models import Notification  # noqa: E402
from service.people.models import Person  # noqa: E402
from service.rotations.models import Rotation, Shift  # noqa: E402
from storm import TEAMS_SINK, storm_policy  # noqa: E402

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)  # a Monday in business hours
TABLES = (Incident, IncidentRole, TimelineEntry, IncidentUpdate, Notification)


def scratch_database(folder: str) -> tuple[str, callable]:
    server = os.environ.get("HERALD_BENCH_DATABASE_URL")
    if not server:
        return f"sqlite:///{folder}/bench.db", lambda: None
    name = f"herald_bench_{uuid.uuid4().hex[:8]}"
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        db.session.remove()
        db.engine().dispose()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def people_on_call() -> None:
    """A person on every rotation the policy names (bob with his own Teams webhook), shifts around NOW."""
    with db.transaction() as s:
        for n, handle in enumerate(("alice", "bob", "carol", "dave", "erin")):
            person = Person(handle=handle, name=handle.title(), email=f"{handle}@example.com", aliases=[],
                            teams_webhook=f"{TEAMS_SINK}?person={handle}" if handle == "bob" else None,
                            created_at=NOW)
            s.add(person)
            s.flush()
            rotation = Rotation(name=("incident-commander", "technical-lead", "communications-lead", "scribe",
                                      "on-call-engineer")[n], created_at=NOW, updated_at=NOW)
            s.add(rotation)
            s.flush()
            s.add(Shift(rotation_id=rotation.id, start=NOW - timedelta(days=1), end=NOW + timedelta(days=30),
                        person_id=person.id, label=handle, uid=f"{rotation.name}-bench"))


# ---- the two ways of writing the rows --------------------------------------------------------

def herald_open(n: int, severity: str) -> None:
    with db.transaction() as s:
        lifecycle.open_incident(s, title=f"Latency high on svc-{n}", severity=severity, actor="bench",
                                impact="Some requests are slow", source="api")


def rows_of(incident_id: int) -> dict[str, list[dict]]:
    """Every row Herald wrote for one incident, table by table (the hand-written transaction's input)."""
    out = {}
    with db.engine().connect() as conn:
        for model in TABLES:
            table = model.__table__
            column = table.c.id if model is Incident else table.c.incident_id
            out[table.name] = [dict(r._mapping) for r in conn.execute(select(table).where(column == incident_id)
                                                                      .order_by(table.c.id))]
    return out


def hand_written(n: int, rows: dict[str, list[dict]]) -> None:
    """The same rows in one transaction of plain INSERTs: the counter, then each table in bulk."""
    insert = db.insert_for(db.session)
    counter = IncidentCounter.__table__
    t = {model.__table__.name: model.__table__ for model in TABLES}
    with db.engine().begin() as conn:
        conn.execute(insert(counter).values(day=NOW.date(), last=1).on_conflict_do_update(
            index_elements=["day"], set_={"last": counter.c.last + 1}).returning(counter.c.last)).scalar_one()
        incident = {k: v for k, v in rows["incidents"][0].items() if k != "id"}
        incident["number"] = f"HW-{n}"
        incident_id = conn.execute(t["incidents"].insert().values(incident).returning(t["incidents"].c.id)).scalar_one()

        def copies(name: str, **changes) -> list[dict]:
            return [{**{k: v for k, v in r.items() if k != "id"}, "incident_id": incident_id, **changes}
                    for r in rows[name]]

        conn.execute(t["incident_roles"].insert(), copies("incident_roles"))
        for update in copies("incident_updates"):
            conn.execute(t["incident_updates"].insert().values(update).returning(t["incident_updates"].c.id))
        conn.execute(t["timeline_entries"].insert(), copies("timeline_entries"))
        notifications = copies("notifications")
        for row in notifications:
            row["idempotency_key"] = f"hw{n}:{row['idempotency_key']}"
        conn.execute(t["notifications"].insert(), notifications)


# ---- measuring -------------------------------------------------------------------------------

class StatementCounter:
    def __init__(self):
        self.count = 0

    def __call__(self, *_):
        self.count += 1


def statements(fn, n: int) -> int:
    counter = StatementCounter()
    event.listen(db.engine(), "before_cursor_execute", counter)
    try:
        fn(n)
    finally:
        event.remove(db.engine(), "before_cursor_execute", counter)
    return counter.count


def compare(severity: str, opens: int, rounds: int, serial: list[int]) -> dict:
    herald_open(serial[0], severity)
    serial[0] += 1
    with db.read_transaction() as s:
        reference = s.scalar(select(Incident.id).order_by(Incident.id.desc()).limit(1))
    rows = rows_of(reference)

    def herald(n):
        herald_open(n, severity)

    def plain(n):
        hand_written(n, rows)

    times = {"herald": [], "hand": []}
    cpu = {"herald": [], "hand": []}
    for _ in range(rounds * opens):  # one of each in turn, so that load on a shared machine hits both alike
        for name, fn in (("herald", herald), ("hand", plain)):
            began, began_cpu = time.perf_counter(), time.thread_time()
            fn(serial[0])
            times[name].append(time.perf_counter() - began)
            cpu[name].append(time.thread_time() - began_cpu)
            serial[0] += 1
    best = {name: statistics.median(values) for name, values in times.items()}
    best_cpu = {name: statistics.median(values) for name, values in cpu.items()}
    counts = {"herald": statements(herald, serial[0]), "hand": statements(plain, serial[0] + 1)}
    serial[0] += 2
    return {"best": best, "cpu": best_cpu, "statements": counts, "rows": {k: len(v) for k, v in rows.items()}}


def profile(severity: str, opens: int, serial: list[int]) -> str:
    profiler = cProfile.Profile()
    profiler.enable()
    for n in range(serial[0], serial[0] + opens):
        herald_open(n, severity)
    profiler.disable()
    serial[0] += opens
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out).strip_dirs()
    stats.sort_stats("cumulative").print_stats(30)
    stats.sort_stats("tottime").print_stats(15)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--opens", type=int, default=200, help="opens per round and per path")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile of Herald's path")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url, drop = scratch_database(folder)
        try:
            upgrade(url)
            policy_path = storm_policy(Path(folder))
            cfg = Config(database_url=url, policy_path=str(policy_path), secret_key="bench",
                         base_url="https://herald.example.com", teams_webhook_url=TEAMS_SINK,
                         smtp_url="smtp://127.0.0.1:1", mail_from="herald@example.com",
                         reply_address="herald@replies.example.com")
            app = create_app(cfg, clock=clock.FrozenClock(NOW))
            with app.app_context():
                people_on_call()
                serial = [1]
                print(f"database: {make_url(url).get_backend_name()}; {args.opens} opens per round, "
                      f"{args.rounds} rounds, one of each in turn; medians")
                for severity in ("P3", "P1"):
                    result = compare(severity, args.opens, args.rounds, serial)
                    herald, hand = result["best"]["herald"], result["best"]["hand"]
                    cpu_herald, cpu_hand = result["cpu"]["herald"], result["cpu"]["hand"]
                    rows = ", ".join(f"{n} {k}" for k, n in result["rows"].items())
                    print(f"{severity} ({rows})")
                    for name, wall, used in (("herald", herald, cpu_herald), ("hand-written", hand, cpu_hand)):
                        key = "herald" if name == "herald" else "hand"
                        print(f"  {name:<13} {wall * 1000:7.2f} ms per open ({used * 1000:6.2f} ms CPU)  "
                              f"{result['statements'][key]:3d} statements")
                    verdict = "met" if herald <= 3 * hand else "NOT met"
                    print(f"  ratio         {herald / hand:7.2f}x the hand-written transaction, {cpu_herald / cpu_hand:.2f}x "
                          f"in CPU (goal <= 3x: {verdict})")
                if args.profile:
                    for severity in ("P3", "P1"):
                        print(f"\n---- cProfile of {args.opens} {severity} opens (Herald's path) ----")
                        print(profile(severity, args.opens, serial))
        finally:
            db.session.remove()
            drop()


if __name__ == "__main__":
    main()
