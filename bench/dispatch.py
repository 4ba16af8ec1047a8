"""Benchmark dispatch: 1,000 incidents opened in a burst, delivered to local Teams and SMTP sinks.

1. Live burst: the incidents are opened by a few threads while the dispatcher runs; prints
   messages delivered per second and p50/p99 from enqueue to the sink.
2. Backlog: the same messages queued again at once and drained by the dispatcher, next to the
   floor measured in the same run: the very same rendered messages sent straight from a thread pool
   of the same size, through the same adapters, to the same sinks (no database, no claiming).
3. The first message of a new P1 on an idle system: open → first message accepted by a sink.

The sinks run in their own process, as Teams and a mail server would. The database is PostgreSQL
when reachable (HERALD_BENCH_DATABASE_URL, default the local server; a scratch database is created
and dropped), else SQLite.
Run: .venv/bin/python bench/dispatch.py [--incidents 1000] [--threads 8]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sqlalchemy import create_engine, func, select, text, update  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from service import create_app, db  # noqa: E402
from service.config import PROJECT_ROOT, Config  # noqa: E402
from service.incidents import lifecycle  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.notify import dispatcher as dispatch  # noqa: E402
from service.notify.channels import Outgoing, channel_for, close_all  # noqa: E402
from service.notify.models import Notification  # noqa: E402
from service.people.models import Person  # noqa: E402
from service.rotations.models import Rotation, Shift  # noqa: E402

from _sinks import run_sinks  # noqa: E402  (bench/ is the script's folder)

PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROLES = {"incident-commander": "alice", "technical-lead": "bob", "communications-lead": "carol", "scribe": "dave",
         "on-call-engineer": "erin"}


# ---- set-up ---------------------------------------------------------------------------------

def database() -> tuple[str, callable]:
    """A scratch database URL and a function that drops it."""
    base = os.environ.get("HERALD_BENCH_DATABASE_URL", PG_DEFAULT)
    try:
        admin = create_engine(base, isolation_level="AUTOCOMMIT")
        name = f"herald_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))

        def drop():
            db.session.remove()
            db.engine().dispose()
            with admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        return make_url(base).set(database=name).render_as_string(hide_password=False), drop
    except Exception as exc:  # no PostgreSQL here: SQLite
        print(f"(PostgreSQL unavailable: {type(exc).__name__}; using SQLite)")
        folder = tempfile.mkdtemp()
        return f"sqlite:///{folder}/bench.db", lambda: None


def people_on_call(teams_url: str) -> None:
    now = datetime.now(timezone.utc)
    with db.transaction() as s:
        for rotation, handle in ROLES.items():
            person = Person(handle=handle, name=handle.title(), email=f"{handle}@example.com", aliases=[],
                            teams_webhook=f"{teams_url}&person={handle}" if handle == "bob" else None, created_at=now)
            s.add(person)
            s.flush()
            rot = Rotation(name=rotation, created_at=now, updated_at=now)
            s.add(rot)
            s.flush()
            s.add(Shift(rotation_id=rot.id, start=now - timedelta(days=1), end=now + timedelta(days=1),
                        person_id=person.id, label=handle, uid=f"{rotation}-bench"))


def open_p1(n: int) -> int:
    with db.transaction() as s:
        incident = lifecycle.open_incident(s, title=f"Orders are failing ({n})", severity="P1", actor="bench",
                                           impact="Nobody can trade")
        return incident.id


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(round(p / 100 * (len(ordered) - 1))), len(ordered) - 1)]


def wait_all_sent(expected: int | None = None, timeout: float = 600) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with db.transaction() as s:
            left = s.scalar(select(func.count()).where(Notification.status != "sent"))
            total = s.scalar(select(func.count(Notification.id)))
        if left == 0 and (expected is None or total >= expected):
            return
        time.sleep(0.05)
    raise SystemExit("dispatch did not finish in time")


# ---- the runs -------------------------------------------------------------------------------

def burst(incidents: int, openers: int) -> dict:
    began = time.perf_counter()
    with ThreadPoolExecutor(openers) as pool:
        list(pool.map(open_p1, range(incidents)))
    opened = time.perf_counter() - began
    wait_all_sent()
    with db.transaction() as s:
        rows = s.execute(select(Notification.created_at, Notification.sent_at)).all()
    first, last = min(r.created_at for r in rows), max(r.sent_at for r in rows)
    latencies = [(r.sent_at - r.created_at).total_seconds() for r in rows]
    return {"messages": len(rows), "open_seconds": opened, "seconds": (last - first).total_seconds(),
            "p50": percentile(latencies, 50), "p99": percentile(latencies, 99)}


def requeue_and_drain(app) -> dict:
    """Put every message back in the outbox at once and time the dispatcher draining it."""
    now = datetime.now(timezone.utc)
    with db.transaction() as s:
        s.execute(update(Notification).values(status="pending", attempts=0, due_at=now, next_attempt_at=now,
                                              created_at=now, sent_at=None, claimed_until=None, claimed_by=None))
    began = time.perf_counter()
    running = dispatch.start(app)
    try:
        wait_all_sent()
    finally:
        dispatch.stop(running)
    seconds = time.perf_counter() - began
    with db.transaction() as s:
        rows = s.execute(select(Notification.created_at, Notification.sent_at)).all()
    latencies = [(r.sent_at - r.created_at).total_seconds() for r in rows]
    return {"messages": len(rows), "seconds": seconds, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99)}


def floor(cfg: Config, threads: int) -> dict:
    """The same messages, straight from a thread pool to the same sinks through the same adapters."""
    with db.transaction() as s:
        jobs = [Outgoing(id=n.id, kind=n.kind, channel=n.channel, recipient=n.recipient,
                         recipient_name=n.recipient_name, payload=n.payload, message_id=n.message_id)
                for n in s.scalars(select(Notification).order_by(Notification.id))]
    close_all()
    latencies = []

    def send(job: Outgoing) -> None:
        began = time.perf_counter()
        channel_for(job.channel, cfg).send(job)
        latencies.append(time.perf_counter() - began)

    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(send, jobs))
    seconds = time.perf_counter() - began
    close_all()
    return {"messages": len(jobs), "seconds": seconds, "p50": percentile(latencies, 50),
            "p99": percentile(latencies, 99)}


def first_message_latency(trials: int) -> list[float]:
    """Open one P1 at a time on an idle system; time until its first message was accepted by a sink."""
    out = []
    for n in range(trials):
        began = datetime.now(timezone.utc)
        incident_id = open_p1(100000 + n)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with db.transaction() as s:
                first = s.scalar(select(func.min(Notification.sent_at)).where(Notification.incident_id == incident_id))
            if first is not None:
                out.append((first - began).total_seconds())
                break
            time.sleep(0.002)
        wait_all_sent()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=1000)
    parser.add_argument("--threads", type=int, default=8, help="sending threads (dispatcher and floor alike)")
    parser.add_argument("--openers", type=int, default=4, help="threads opening incidents in the burst")
    parser.add_argument("--first-p1-trials", type=int, default=50)
    args = parser.parse_args()

    ours, theirs = multiprocessing.Pipe()
    sinks = multiprocessing.Process(target=run_sinks, args=(theirs,), daemon=True)
    sinks.start()
    teams_url, smtp_port = ours.recv()

    url, drop = database()
    upgrade(url)
    cfg = Config(database_url=url, allow_private_urls=True,  # the sinks are on loopback
                 policy_path=str(PROJECT_ROOT / "schedules" / "policy.toml"),
                 secret_key="bench", base_url="https://herald.example.com", teams_webhook_url=teams_url,
                 smtp_url=f"smtp://127.0.0.1:{smtp_port}", mail_from="herald@example.com",
                 reply_address="herald@replies.example.com", dispatch_threads=args.threads, tick_seconds=1.0)
    app = create_app(cfg)
    running = None
    try:
        with app.app_context():
            people_on_call(teams_url)
            running = dispatch.start(app)
            print(f"database: {make_url(url).get_backend_name()}; {args.threads} sending threads; "
                  f"{args.incidents} P1 incidents opened by {args.openers} threads")
            result = burst(args.incidents, args.openers)
            dispatch.stop(running)
            running = None
            live = result["messages"] / result["seconds"]
            print(f"live burst: {result['messages']} messages from {args.incidents} incidents opened in "
                  f"{result['open_seconds']:.1f} s; delivered at {live:.0f} msgs/s; enqueue->sink "
                  f"p50 {result['p50'] * 1000:.0f} ms, p99 {result['p99'] * 1000:.0f} ms")
            backlog = requeue_and_drain(app)
            base = floor(cfg, args.threads)
            rate, floor_rate = backlog["messages"] / backlog["seconds"], base["messages"] / base["seconds"]
            print(f"backlog:    {backlog['messages']} messages queued at once, drained at {rate:.0f} msgs/s; "
                  f"enqueue->sink p50 {backlog['p50'] * 1000:.0f} ms, p99 {backlog['p99'] * 1000:.0f} ms")
            print(f"floor:      the same {base['messages']} messages from a {args.threads}-thread pool straight to "
                  f"the sinks: {floor_rate:.0f} msgs/s; per send p50 {base['p50'] * 1000:.1f} ms, "
                  f"p99 {base['p99'] * 1000:.1f} ms")
            teams_count, smtp_count = (ours.send("count"), ours.recv())[1]
            print(f"ratio:      the outbox drains at {rate / floor_rate:.2f}x the floor's rate "
                  f"(sinks received {teams_count} cards and {smtp_count} emails over the three runs)")

            running = dispatch.start(app)
            first = first_message_latency(args.first_p1_trials)
            print(f"first message of a new P1 (idle system, {len(first)} trials): p50 "
                  f"{percentile(first, 50) * 1000:.0f} ms, p99 {percentile(first, 99) * 1000:.0f} ms, "
                  f"max {max(first) * 1000:.0f} ms")
    finally:
        if running is not None:
            dispatch.stop(running)
        ours.send("stop")
        ours.recv()
        sinks.join(5)
        drop()


if __name__ == "__main__":
    main()
