"""Benchmark an alert storm end to end: P3 incidents opened over the API by concurrent clients, from the first
POST to the last message accepted by the sinks, next to the floor measured in the same run.

Each P3 is one page email (the on-call engineer) and one Teams card (the stakeholders' initial update): the
shipped policy with the P3 stakeholders on a Teams webhook and no business-hours hold (`storm_policy`). The
sinks (a Teams webhook and an SMTP server, tests/doubles) run in their own process on loopback.

  sqlite      one `herald serve` on SQLite (web, ticker, dispatcher in one process)
  postgresql  two web processes (gunicorn, as the Procfile) and one `herald worker` on PostgreSQL
              (HERALD_BENCH_DATABASE_URL, default the local server; a scratch database, dropped after)

Before the storm, `--open` incidents (default 1,000) are already open, their messages sent and their roles'
owners seen by the handoff job, so that every tick reads them (escalation and handoffs look at every open
incident). Printed for each database:
  storm   seconds from the first POST to the last message at the sinks; open latency p50/p99 over HTTP
  floor   the very same rendered messages sent straight to the same sinks from a thread pool of the
          dispatcher's size, through the same adapters (no database, no HTTP): bench/dispatch.py's floor
  ratio   storm / floor (goals: <= 4x on SQLite, <= 3x on PostgreSQL)
  ticks   the tickers' skipped runs, longest tick and slowest job during the run (GET /metrics)

Run: .venv/bin/python bench/storm.py [--incidents 300] [--clients 8] [--open 1000] [--databases sqlite,postgresql]
     [--py-spy DIR]   (profile: collapsed stacks per process, then bench/spy_summary.py DIR/<database>/*.txt)
"""
from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import queue
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from _sinks import run_sinks  # noqa: E402  (bench/ is the script's folder)

HERALD = str(Path(sys.executable).parent / "herald")
GUNICORN = str(Path(sys.executable).parent / "gunicorn")
TEAMS_SINK = "https://teams.example.com/workflows/storm/triggers/manual/paths/invoke?sig=bench"
PG_DEFAULT = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
ROLES = {"incident-commander": "alice", "technical-lead": "bob", "communications-lead": "carol", "scribe": "dave",
         "on-call-engineer": "erin"}


def storm_policy(folder: Path, teams_url: str = TEAMS_SINK) -> Path:
    """The shipped policy, but a P3 pages the on-call engineer by email and posts the stakeholders' update to
    one Teams webhook (one card), at any hour: each P3 of the storm is one page email and one Teams card."""
    text = (ROOT / "schedules" / "policy.toml").read_text()
    changes = [
        ('respond_within = "2h"\nbusiness_hours_only = true\npage = ["on_call_engineer"]\n'
         'stakeholders = ["stakeholders"]\nchannels = ["email"]\n',
         'respond_within = "2h"\npage = ["on_call_engineer"]\nstakeholders = ["stakeholders"]\n'
         'channels = ["teams", "email"]\n'),
        ('[contacts.stakeholders]\ntitle = "Stakeholders"\nemail = ["stakeholders@example.com"]\n',
         f'[contacts.stakeholders]\ntitle = "Stakeholders"\nteams_webhook = "{teams_url}"\n'),
    ]
    for old, new in changes:
        if old not in text:
            raise SystemExit(f"schedules/policy.toml changed; storm_policy cannot find {old!r}")
        text = text.replace(old, new)
    path = folder / "storm-policy.toml"
    path.write_text(text)
    return path


class Sinks:
    def __init__(self):
        self.pipe, theirs = multiprocessing.Pipe()
        self.process = multiprocessing.Process(target=run_sinks, args=(theirs,), daemon=True)
        self.process.start()
        self.teams_url, self.smtp_port = self.pipe.recv()
        self.lock = threading.Lock()

    def count(self) -> int:
        with self.lock:
            self.pipe.send("count")
            return sum(self.pipe.recv())

    def wait_for(self, total: int, timeout: float = 600) -> float:
        """perf_counter when the sinks have received `total` messages in all."""
        deadline = time.perf_counter() + timeout
        while time.perf_counter() < deadline:
            if self.count() >= total:
                return time.perf_counter()
            time.sleep(0.005)
        raise SystemExit(f"the sinks got {self.count()} of {total} messages in {timeout:.0f} s")

    def stop(self) -> None:
        with self.lock:
            self.pipe.send("stop")
            self.pipe.recv()
        self.process.join(5)


# ---- databases and processes ----------------------------------------------------------------

def scratch_postgres() -> tuple[str, callable] | None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    server = os.environ.get("HERALD_BENCH_DATABASE_URL", PG_DEFAULT)
    try:
        admin = create_engine(server, isolation_level="AUTOCOMMIT")
        name = f"herald_storm_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        print(f"(PostgreSQL unavailable: {type(exc).__name__})")
        return None

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    return make_url(server).set(database=name).render_as_string(hide_password=False), drop


def make_url_name(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).database


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Processes:
    """`herald serve`, or gunicorn web processes plus `herald worker`, with the bench's environment."""

    def __init__(self, env: dict):
        self.env = env
        self.running: list[subprocess.Popen] = []

    def run(self, *args: str) -> str:
        return subprocess.run([HERALD, *args], env=self.env, cwd=ROOT, capture_output=True, text=True,
                              check=True).stdout

    def start(self, command: list[str]) -> subprocess.Popen:
        process = subprocess.Popen(command, env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.PIPE, text=True)
        self.running.append(process)
        threading.Thread(target=self._drain, args=(process,), daemon=True).start()
        return process

    @staticmethod
    def _drain(process) -> None:
        for line in process.stderr:
            if "Traceback" in line or "ERROR" in line:
                sys.stderr.write(f"  [{process.args[0].rsplit('/', 1)[-1]}] {line}")

    def stop(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.running:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def wait_ready(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            connection.request("GET", "/api/health")
            if connection.getresponse().status in (200, 503):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on port {port}")


# ---- set-up in this process: people on call, incidents already open ---------------------------

def prepare(env: dict, already_open: int) -> int:
    """People on every rotation, `already_open` incidents open with their messages sent; return the last id."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import func, select, update

    from service import create_app, db
    from service.config import Config
    from service.incidents import lifecycle
    from service.incidents.models import Incident
    from service.notify.handoffs import hand_over_on_rotation
    from service.notify.models import Notification
    from service.people.models import Person
    from service.rotations.models import Rotation, Shift

    app = create_app(Config.from_env(env))
    now = datetime.now(timezone.utc)
    with app.app_context():
        with db.transaction() as s:
            for rotation, handle in ROLES.items():
                person = Person(handle=handle, name=handle.title(), email=f"{handle}@example.com", aliases=[],
                                created_at=now)
                s.add(person)
                s.flush()
                rot = Rotation(name=rotation, created_at=now, updated_at=now)
                s.add(rot)
                s.flush()
                s.add(Shift(rotation_id=rot.id, start=now - timedelta(days=1), end=now + timedelta(days=7),
                            person_id=person.id, label=handle, uid=f"{rotation}-storm"))
        for n in range(already_open):
            with db.transaction() as s:
                lifecycle.open_incident(s, title=f"Already open {n}", severity=("P2", "P3", "P4")[n % 3],
                                        actor="bench", impact="Background")
        with db.transaction() as s:
            s.execute(update(Notification).values(status="sent", sent_at=now, attempts=1))
            last = s.scalar(select(func.max(Incident.id))) or 0
        # Open for a while: earlier ticks have seen their roles' owners (a first look writes a row per role)
        hand_over_on_rotation(now)
        db.session.remove()
        db.engine().dispose()
    return last


# ---- the storm ------------------------------------------------------------------------------

def storm(ports: list[int], token: str, incidents: int, clients: int) -> dict:
    work: queue.SimpleQueue = queue.SimpleQueue()
    for n in range(incidents):
        work.put(json.dumps({"title": f"Latency high on svc-{n}", "severity": "P3",
                             "impact": "Some requests are slow"}).encode())
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    latencies, statuses, lock = [], {}, threading.Lock()

    def client(port: int) -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        mine, codes = [], {}
        while True:
            try:
                body = work.get_nowait()
            except queue.Empty:
                break
            began = time.perf_counter()
            connection.request("POST", "/api/incidents", body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            codes[response.status] = codes.get(response.status, 0) + 1
        connection.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    threads = [threading.Thread(target=client, args=(ports[i % len(ports)],)) for i in range(clients)]
    began = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    latencies.sort()
    return {"began": began, "posted": time.perf_counter(), "statuses": statuses,
            "p50": latencies[len(latencies) // 2], "p99": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]}


def floor(env: dict, after_id: int, threads: int) -> dict:
    """The storm's messages, as stored, sent straight from a thread pool to the same sinks."""
    from sqlalchemy import create_engine, select

    from service.config import Config
    from service.notify.channels import Outgoing, channel_for, close_all
    from service.notify.models import Notification

    cfg = Config.from_env(env)
    engine = create_engine(cfg.database_url)
    t = Notification.__table__
    with engine.connect() as conn:
        jobs = [Outgoing(id=r.id, kind=r.kind, channel=r.channel, recipient=r.recipient,
                         recipient_name=r.recipient_name, payload=r.payload, message_id=r.message_id)
                for r in conn.execute(select(t).where(t.c.incident_id > after_id).order_by(t.c.id))]
    engine.dispose()
    close_all()
    began = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda job: channel_for(job.channel, cfg).send(job), jobs))
    seconds = time.perf_counter() - began
    close_all()
    return {"messages": len(jobs), "seconds": seconds}


def _cpu(pid: int) -> float:
    """CPU seconds (user + system) the process has used so far, 0 when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _processes() -> list[tuple[int, int, str]]:
    """(pid, parent pid, command line) of every process on the machine (Linux /proc)."""
    out = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parent = int((entry / "stat").read_text().rpartition(")")[2].split()[1])
                command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except (OSError, IndexError, ValueError):
                continue
            out.append((int(entry.name), parent, command))
    return out


def cpu_by_part(running: list[subprocess.Popen], database_name: str | None, sinks_pid: int) -> dict[str, float]:
    """CPU seconds used so far by each part of the storm: Herald's processes (with their children: gunicorn's
    workers), the database server's backends for the scratch database, the sinks and this process (the
    clients). Read before and after the storm; the difference is what the storm cost each part."""
    table = _processes()
    children: dict[int, list[int]] = {}
    for pid, parent, _ in table:
        children.setdefault(parent, []).append(pid)

    def tree(pid: int) -> float:
        return _cpu(pid) + sum(tree(child) for child in children.get(pid, []))

    parts = {"herald " + Path(p.args[0]).name: tree(p.pid) for p in running}
    if database_name:
        parts["postgres backends"] = sum(_cpu(pid) for pid, _, command in table
                                         if command.startswith("postgres: ") and f" {database_name} " in command)
    parts["sinks"] = tree(sinks_pid)
    parts["clients (this process)"] = _cpu(os.getpid())
    return parts


def spy_on(running: list[subprocess.Popen], folder: Path) -> list[subprocess.Popen]:
    """py-spy sampling each process (and its subprocesses: gunicorn's workers) for the storm's duration:
    collapsed stacks in `folder`, one file per process (summarise them with bench/spy_summary.py)."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(spy).exists():
        raise SystemExit("--py-spy needs py-spy (pip install py-spy)")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for process in running:
        name = Path(process.args[0]).name
        out.append(subprocess.Popen([spy, "record", "--subprocesses", "--gil", "--rate", "100", "--format", "raw",
                                     "-o", str(folder / f"{name}-{process.pid}.txt"), "-p", str(process.pid)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    time.sleep(1)  # py-spy attaches
    return out


def tick_figures(port: int) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request("GET", "/metrics")
    text = connection.getresponse().read().decode()
    out = {"skipped": 0.0, "longest": 0.0, "jobs": {}}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "herald_ticker_skipped_runs_total":
                out["skipped"] += sample.value
            elif sample.name == "herald_ticker_longest_tick_seconds":
                out["longest"] = max(out["longest"], sample.value)
            elif sample.name == "herald_ticker_job_seconds":
                job = sample.labels["job"]
                out["jobs"][job] = max(out["jobs"].get(job, 0.0), sample.value)
    return out


def run(database: str, sinks: Sinks, args) -> None:
    workdir = Path(tempfile.mkdtemp(prefix="herald-storm-"))
    drop = None
    if database == "postgresql":
        scratch = scratch_postgres()
        if scratch is None:
            return
        url, drop = scratch
    else:
        url = f"sqlite:///{workdir / 'herald.db'}"
    env = dict(os.environ, HERALD_DATABASE_URL=url, HERALD_VAR_DIR=str(workdir), HERALD_SECRET_KEY="bench",
               HERALD_POLICY=str(storm_policy(workdir, sinks.teams_url)), HERALD_BASE_URL="https://herald.example.com",
               HERALD_SMTP_URL=f"smtp://127.0.0.1:{sinks.smtp_port}", HERALD_MAIL_FROM="herald@example.com",
               HERALD_REPLY_ADDRESS="herald@replies.example.com", HERALD_ALLOW_PRIVATE_URLS="1",
               HERALD_DISPATCH_THREADS=str(args.threads))
    processes = Processes(env)
    try:
        processes.run("db", "upgrade")
        token = processes.run("token", "create", "storm", "--scope", "write").strip().splitlines()[-1]
        began = time.perf_counter()
        last_id = prepare(env, args.open)
        print(f"{database}: {args.open} incidents already open ({time.perf_counter() - began:.0f} s to prepare)",
              flush=True)
        if database == "postgresql":
            port = free_port()
            processes.start([GUNICORN, "--workers", "2", "--threads", "8", "--bind", f"127.0.0.1:{port}",
                             "service:create_app()"])
            processes.start([HERALD, "worker"])
            layout = "gunicorn (2 web processes, 8 threads each) + herald worker"
        else:
            port = free_port()
            processes.start([HERALD, "serve", "--host", "127.0.0.1", "--port", str(port)])
            layout = "herald serve"
        wait_ready(port)
        time.sleep(2)  # let the ticker and the dispatcher settle (and the worker LISTEN)
        spies = spy_on(processes.running, Path(args.py_spy) / database) if args.py_spy else []
        before = sinks.count()
        database_name = make_url_name(url) if database == "postgresql" else None
        cpu_before = cpu_by_part(processes.running, database_name, sinks.process.pid)
        result = storm([port], token, args.incidents, args.clients)
        expected = 2 * args.incidents
        done = sinks.wait_for(before + expected)
        cpu_after = cpu_by_part(processes.running, database_name, sinks.process.pid)
        for spy in spies:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        seconds = done - result["began"]
        ticks = tick_figures(port)
        base = floor(env, last_id, args.threads)
        if base["messages"] != expected:
            print(f"  (the storm stored {base['messages']} messages, {expected} expected)")
        ratio = seconds / base["seconds"]
        goal = 4 if database == "sqlite" else 3
        print(f"  storm  {args.incidents} P3 by {args.clients} clients against {layout}: {expected} messages at the "
              f"sinks {seconds:.2f} s after the first POST (POSTs done at {result['posted'] - result['began']:.2f} s); "
              f"open p50 {result['p50'] * 1000:.0f} ms, p99 {result['p99'] * 1000:.0f} ms; statuses {result['statuses']}")
        print(f"  floor  the same {base['messages']} messages from a {args.threads}-thread pool straight to the sinks: "
              f"{base['seconds']:.2f} s")
        print(f"  ratio  {ratio:.2f}x the floor (goal <= {goal}x: {'met' if ratio <= goal else 'NOT met'})")
        slowest = sorted(ticks["jobs"].items(), key=lambda kv: -kv[1])[:3]
        used = {part: cpu_after[part] - cpu_before.get(part, 0.0) for part in cpu_after}
        print(f"  cpu    {sum(used.values()):.1f} s on {os.cpu_count()} cores in {seconds:.1f} s: "
              + ", ".join(f"{part} {value:.1f} s" for part, value in used.items()))
        print(f"  ticks  skipped runs {ticks['skipped']:.0f}; longest tick {ticks['longest'] * 1000:.0f} ms; slowest "
              f"jobs (last run) " + ", ".join(f"{job} {s * 1000:.0f} ms" for job, s in slowest), flush=True)
    finally:
        processes.stop()
        if drop is not None:
            drop()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--incidents", type=int, default=300)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--open", type=int, default=1000, help="incidents already open before the storm")
    parser.add_argument("--threads", type=int, default=8, help="sending threads (dispatcher and floor alike)")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--py-spy", metavar="DIR", help="sample every Herald process with py-spy during the storm")
    args = parser.parse_args()
    sinks = Sinks()
    print(f"{os.cpu_count()} CPUs; sinks on loopback in their own process", flush=True)
    try:
        for database in args.databases.split(","):
            run(database.strip(), sinks, args)
    finally:
        sinks.stop()


if __name__ == "__main__":
    main()
