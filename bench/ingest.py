"""Ingest benchmark: Alertmanager webhooks against a real `herald serve`, next to a trivial endpoint.

Starts `herald serve` on a fresh database (SQLite like `make run`; with HERALD_BENCH_DATABASE_URL, a
new database on that PostgreSQL server, dropped afterwards),
then, with the same number of keep-alive client connections for every phase:

  ceiling   GET /api/health — a trivial JSON endpoint of the same server (one cheap query)
  distinct  POST /api/alerts/alertmanager, 1,000 different alert groups (each will open an incident)
  repeats   POST /api/alerts/alertmanager, 10,000 repeats of those groups
  ceiling   GET /api/health again, to see what the background work costs

and prints accepted requests/s, p50/p99 latency and the ratio to the ceiling; then how long the worker
(in the same process) took to turn the inbox into incidents. The ingest rate limit is raised for the
run: the point is the server's capacity, not the limiter's.

    .venv/bin/python bench/ingest.py [--clients 8] [--groups 1000] [--repeats 10000]
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HERALD = str(Path(sys.executable).parent / "herald")
HEALTH_REQUESTS = 3000


def alertmanager_notification(group: int, repeat: int) -> dict:
    """A two-alert group as Alertmanager's webhook (version 4) sends it."""
    labels = {"alertname": "BenchLatency", "service": f"svc-{group}", "severity": "warning"}
    alerts = [{
        "status": "firing",
        "labels": {**labels, "instance": f"host-{group}-{n}:9100"},
        "annotations": {"summary": f"Latency high on svc-{group}", "description": f"p99 above 2s (sample {repeat})",
                        "runbook_url": "https://runbooks.example.com/latency"},
        "startsAt": "2026-03-02T09:58:26.739266876Z",
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus.example.com:9090/graph?g0.expr=latency\u0026g0.tab=1",
        "fingerprint": f"{group:08x}{n:08x}",
    } for n in range(2)]
    return {
        "receiver": "herald", "status": "firing", "alerts": alerts,
        "groupLabels": {"service": f"svc-{group}"}, "commonLabels": labels,
        "commonAnnotations": {"runbook_url": "https://runbooks.example.com/latency"},
        "externalURL": "http://alertmanager.example.com:9093", "version": "4",
        "groupKey": f'{{}}:{{service="svc-{group}"}}', "truncatedAlerts": 0,
    }


def create_database(server_url: str) -> str:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    name = f"herald_bench_{os.getpid()}"
    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return make_url(server_url).set(database=name).render_as_string(hide_password=False)


def drop_database(server_url: str, database_url: str) -> None:
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(server_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{make_url(database_url).database}" WITH (FORCE)'))
    admin.dispose()


class Server:
    def __init__(self, workdir: Path, database_url: str | None):
        self.env = dict(os.environ, HERALD_DATABASE_URL=database_url or f"sqlite:///{workdir / 'herald.db'}",
                        HERALD_VAR_DIR=str(workdir), HERALD_SECRET_KEY="bench", HERALD_POLICY=str(
                            ROOT / "schedules" / "policy.toml"),
                        HERALD_INGEST_RATE="1000000", HERALD_INGEST_BURST="1000000")
        self.process: subprocess.Popen | None = None
        self.port = 0

    def run(self, *args: str) -> str:
        done = subprocess.run([HERALD, *args], env=self.env, cwd=ROOT, capture_output=True, text=True, check=True)
        return done.stdout

    def token(self, name: str, scope: str) -> str:
        return self.run("token", "create", name, "--scope", scope).strip().splitlines()[-1]

    def start(self) -> None:
        self.process = subprocess.Popen([HERALD, "serve", "--host", "127.0.0.1", "--port", "0"], env=self.env,
                                        cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = self.process.stderr.readline()
            found = re.search(r"serving on http://127\.0\.0\.1:(\d+)", line or "")
            if found:
                self.port = int(found.group(1))
                threading.Thread(target=self._drain_stderr, daemon=True).start()
                return
            if self.process.poll() is not None:
                raise RuntimeError("herald serve exited during start-up")
        raise RuntimeError("herald serve did not start within 60 s")

    def _drain_stderr(self) -> None:
        for _ in self.process.stderr:
            pass

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def run_phase(port: int, requests: list[tuple[str, str, bytes | None, dict]], clients: int) -> dict:
    """Send every request over `clients` keep-alive connections; time each one."""
    work: queue.SimpleQueue = queue.SimpleQueue()
    for item in requests:
        work.put(item)
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine, codes = [], {}
        while True:
            try:
                method, path, body, headers = work.get_nowait()
            except queue.Empty:
                break
            started = time.perf_counter()
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            response.read()
            mine.append(time.perf_counter() - started)
            codes[response.status] = codes.get(response.status, 0) + 1
        connection.close()
        with lock:
            latencies.extend(mine)
            for code, n in codes.items():
                statuses[code] = statuses.get(code, 0) + n

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    accepted = sum(n for code, n in statuses.items() if 200 <= code < 300)
    latencies.sort()
    return {
        "requests": len(requests), "accepted": accepted, "statuses": statuses, "seconds": elapsed,
        "rate": accepted / elapsed if elapsed else 0.0,
        "p50_ms": statistics.median(latencies) * 1000,
        "p99_ms": latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))] * 1000,
        "max_ms": latencies[-1] * 1000,
    }


def get_json(port: int, path: str, token: str):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("GET", path, headers={"Authorization": f"Bearer {token}"})
    response = connection.getresponse()
    body = json.loads(response.read())
    connection.close()
    return body


def wait_for_worker(port: int, admin: str, groups: int, timeout: float = 600) -> float:
    """Seconds until the inbox is empty and every group has its incident."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        pending = get_json(port, "/api/alerts/events?status=pending&limit=1", admin)
        if not pending:
            opened = get_json(port, f"/api/incidents?limit=1000&offset={groups - 1}", admin)
            if opened:
                return time.perf_counter() - started
        time.sleep(0.2)
    raise RuntimeError("the worker did not finish in time")


def line(name: str, result: dict, ceiling: float | None = None) -> str:
    ratio = f"{result['rate'] / ceiling:6.0%} of ceiling" if ceiling else " " * 17
    others = {c: n for c, n in result["statuses"].items() if not 200 <= c < 300}
    refused = f"  non-2xx {others}" if others else ""
    return (f"{name:<22} {result['accepted']:>6}/{result['requests']:<6} {result['rate']:8.0f} req/s  "
            f"p50 {result['p50_ms']:6.1f} ms  p99 {result['p99_ms']:6.1f} ms  max {result['max_ms']:7.1f} ms  "
            f"{ratio}{refused}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--groups", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=10000)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="herald-bench-"))
    postgres = os.environ.get("HERALD_BENCH_DATABASE_URL")
    database_url = create_database(postgres) if postgres else None
    server = Server(workdir, database_url)
    try:
        server.run("db", "upgrade")
        ingest = server.token("bench-alertmanager", "ingest")
        admin = server.token("bench-admin", "admin")
        server.start()
        post = {"Authorization": f"Bearer {ingest}", "Content-Type": "application/json"}
        health = [("GET", "/api/health", None, {})] * HEALTH_REQUESTS
        distinct = [("POST", "/api/alerts/alertmanager", json.dumps(alertmanager_notification(g, 0)).encode(), post)
                    for g in range(args.groups)]
        repeats = [("POST", "/api/alerts/alertmanager",
                    json.dumps(alertmanager_notification(i % args.groups, 1 + i // args.groups)).encode(), post)
                   for i in range(args.repeats)]

        database = "PostgreSQL" if postgres else "SQLite"
        print(f"herald serve ({database}), {args.clients} keep-alive clients, {os.cpu_count()} CPUs", flush=True)
        run_phase(server.port, health[:300], args.clients)  # warm up connections, caches, the ticker
        ceiling = run_phase(server.port, health, args.clients)
        print(line("ceiling /api/health", ceiling), flush=True)
        first = run_phase(server.port, distinct, args.clients)
        print(line(f"{args.groups} distinct groups", first, ceiling["rate"]), flush=True)
        storm = run_phase(server.port, repeats, args.clients)
        print(line(f"{args.repeats} repeats", storm, ceiling["rate"]), flush=True)
        after = run_phase(server.port, health, args.clients)
        print(line("ceiling again", after, ceiling["rate"]), flush=True)
        drained = wait_for_worker(server.port, admin, args.groups)
        print(f"worker: inbox empty and {args.groups} incidents open {drained:.1f} s after the last request")
        goal = storm["rate"] >= 0.5 * ceiling["rate"] and storm["p99_ms"] < 50
        print(f"goal (repeats >= 50% of ceiling, p99 < 50 ms): {'met' if goal else 'NOT met'}")
        return 0
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        if database_url:
            drop_database(postgres, database_url)


if __name__ == "__main__":
    sys.exit(main())
