"""Benchmark the tick jobs that look at every open incident: escalation and rotation handoffs, with many open.

In one run, on one database, frozen clock, the shipped policy (bench/storm.py's: P3 pages by email):

  empty         each job on a database with no open incident: the floor a tick cannot go under
  first looks   the handoff job the first time it sees `--open` fresh P2 incidents (one RoleOwnerSeen per
                role each, written once)
  quiet         each job with `--open` P2 incidents open and nothing due (a minute after they opened)
  due           the escalation job once repeats are due on `--due` of them (their holders paged more than
                `acknowledge_within` ago, the others acknowledged): the work itself, one transaction each
  storm         then every incident's holders unacknowledged: the escalation job's ticks until every repeat is
                sent (~2 pages per incident; it works for a bounded time per tick), each tick's time, and all of
                them; and the tick a minute later, every series' repeat just sent, nothing due: the steady
                state of a storm nobody has acknowledged yet
  handoff       the Incident Commander rotation hands over while all of them are open: every incident's role
                moves and its new holder is told; the handoff job's ticks until none is left (it hands over a
                bounded number of roles per tick), each tick's time, and all of them together

Prints seconds (best of `--repeat`, one call for the one-off first looks), the ratio to the empty tick and the
SQL statements of that call. `--profile` adds the cProfile of the first looks and of the due repeats.
Goal (issue 17, 4): every job well under the 1-second tick with 1,000 open incidents.

SQLite by default; with HERALD_BENCH_DATABASE_URL (a PostgreSQL server), a scratch database there.
Run: .venv/bin/python bench/ticks.py [--open 1000] [--due 10] [--repeat 5] [--profile]
"""
from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import event, func, select, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from _harness import best_of  # noqa: E402
from open import NOW, people_on_call, scratch_database  # noqa: E402
from service import clock, create_app, db  # noqa: E402
from service.config import Config  # noqa: E402
from service.escalation.ticks import run_escalation  # noqa: E402
from service.incidents import lifecycle  # noqa: E402
from service.incidents.models import Incident, IncidentRole  # noqa: E402
from service.notify.models import Notification  # noqa: E402
from service.people.models import Person  # noqa: E402
from service.rotations.models import Rotation, Shift  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.notify.handoffs import hand_over_on_rotation  # noqa: E402
from storm import TEAMS_SINK, storm_policy  # noqa: E402

JOBS = (("escalation", run_escalation), ("rotations.handoffs", hand_over_on_rotation))


def open_many(count: int) -> None:
    for start in range(0, count, 100):
        with db.transaction() as s:
            for n in range(start, min(count, start + 100)):
                lifecycle.open_incident(s, title=f"Latency high on svc-{n}", severity="P2", actor="bench",
                                        impact="Some requests are slow", source="api")


def line(name: str, seconds: float, floor: float, statements: int | None = None) -> None:
    counted = f"   {statements:5d} statements" if statements is not None else ""
    print(f"  {name:<34} {seconds * 1000:9.1f} ms   {seconds / floor:7.1f}x the empty tick{counted}")


def once(fn, profile: bool, title: str) -> tuple[float, int]:
    """(seconds, SQL statements) of one call of `fn`; with `profile`, its cProfile is printed after it."""
    count = [0]

    def counter(*_):
        count[0] += 1
    profiler = cProfile.Profile() if profile else None
    event.listen(db.engine(), "before_cursor_execute", counter)
    try:
        if profiler:
            profiler.enable()
        began = time.perf_counter()
        fn()
        seconds = time.perf_counter() - began
        if profiler:
            profiler.disable()
    finally:
        event.remove(db.engine(), "before_cursor_execute", counter)
    if profiler:
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats("cumulative").print_stats(40)
        print(f"\n---- cProfile of {title} ----\n{out.getvalue()}")
    return seconds, count[0]


def storm(frozen, at, floor: float, repeat: int) -> None:
    """Nobody acknowledged: every incident's paged holders get a repeat at `at`; then a minute of quiet."""
    with db.transaction() as s:
        s.execute(update(IncidentRole).values(acknowledged_at=None))
        pages = s.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "page"))
    ticks, total = [], 0.0
    while len(ticks) < 500:
        seconds, statements = once(lambda: run_escalation(at), False, "")
        with db.read_transaction() as s:
            now_pages = s.scalar(select(func.count()).select_from(Notification).where(Notification.kind == "page"))
        if now_pages == pages:
            break
        ticks.append((seconds, now_pages - pages, statements))
        total, pages = total + seconds, now_pages
    for n, (seconds, sent, statements) in enumerate(ticks, 1):
        if n <= 2 or n == len(ticks):
            line(f"storm repeats, tick {n} ({sent} messages)", seconds, floor, statements)
    line(f"storm repeats, {sum(t[1] for t in ticks)} page messages in {len(ticks)} ticks", total, floor)
    quiet = at + timedelta(minutes=1)
    frozen.set(quiet)
    line("escalation, storm quiet", best_of(lambda: run_escalation(quiet), repeat), floor)


def handoff(frozen, at, count: int, floor: float, profile: bool) -> None:
    """Erin covers the Incident Commander rotation from `at`: the role moves on every open incident."""
    frozen.set(at)
    with db.transaction() as s:
        rotation = s.scalar(select(Rotation).where(Rotation.name == "incident-commander"))
        erin = s.scalar(select(Person).where(Person.handle == "erin"))
        s.add(Shift(rotation_id=rotation.id, start=at, end=at + timedelta(days=1), person_id=erin.id,
                    label="erin", uid="incident-commander-cover"))
    ticks, total, moved = [], 0.0, 0
    while moved < count and len(ticks) < 100:
        seconds, statements = once(lambda: hand_over_on_rotation(at), profile and not ticks, "the first handoff tick")
        with db.read_transaction() as s:
            now_moved = s.scalar(select(func.count()).select_from(IncidentRole).where(
                IncidentRole.role == "incident_commander", IncidentRole.person_id == erin.id))
        ticks.append((seconds, now_moved - moved, statements))
        total, moved = total + seconds, now_moved
    for n, (seconds, roles, statements) in enumerate(ticks, 1):
        if n <= 2 or n == len(ticks):
            line(f"handoff, tick {n} ({roles} roles)", seconds, floor, statements)
    line(f"handoff, {moved} roles in {len(ticks)} ticks", total, floor)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--open", type=int, default=1000, help="P2 incidents open")
    parser.add_argument("--due", type=int, default=10, help="incidents with a repeat page due in the 'due' tick")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="print the cProfile of the first looks and repeats")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        url, drop = scratch_database(folder)
        try:
            upgrade(url)
            cfg = Config(database_url=url, policy_path=str(storm_policy(Path(folder))), secret_key="bench",
                         base_url="https://herald.example.com", teams_webhook_url=TEAMS_SINK,
                         smtp_url="smtp://127.0.0.1:1", mail_from="herald@example.com",
                         reply_address="herald@replies.example.com")
            frozen = clock.FrozenClock(NOW)
            app = create_app(cfg, clock=frozen)
            with app.app_context():
                people_on_call()
                print(f"database: {make_url(url).get_backend_name()}; {args.open} open P2 incidents")
                empty = {name: best_of(lambda job=job: job(NOW), args.repeat) for name, job in JOBS}
                for name, _ in JOBS:
                    line(f"{name}, empty", empty[name], empty[name])
                open_many(args.open)
                seconds, count = once(lambda: hand_over_on_rotation(NOW), args.profile, "the first looks")
                line("rotations.handoffs, first looks", seconds, empty["rotations.handoffs"], count)
                quiet = NOW + timedelta(minutes=1)
                frozen.set(quiet)  # what the jobs write carries the tick's time, as in a running worker
                for name, job in JOBS:
                    line(f"{name}, quiet", best_of(lambda job=job: job(quiet), args.repeat), empty[name])
                with db.transaction() as s:  # all but --due acknowledged: their repeats are not due
                    ids = s.scalars(select(Incident.id).order_by(Incident.id)).all()[args.due:]
                    for start in range(0, len(ids), 500):
                        s.execute(update(IncidentRole).where(IncidentRole.incident_id.in_(ids[start:start + 500]))
                                  .values(acknowledged_at=NOW))
                later = NOW + timedelta(minutes=16)  # past P2's acknowledge_within (15m)
                frozen.set(later)
                seconds, count = once(lambda: run_escalation(later), args.profile, f"{args.due} repeats due")
                line(f"escalation, {args.due} repeats due", seconds, empty["escalation"], count)
                line("escalation, quiet again", best_of(lambda: run_escalation(later), args.repeat),
                     empty["escalation"])
                storm(frozen, later, empty["escalation"], args.repeat)
                handoff(frozen, later + timedelta(minutes=1), args.open, empty["rotations.handoffs"], args.profile)
        finally:
            drop()


if __name__ == "__main__":
    main()
