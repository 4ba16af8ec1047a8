"""Benchmark the memory of `herald serve` on a database with two years of history (issue 17, goal 5).

Goal: `herald serve` stays under 200 MB RSS with 10,000 incidents, 100,000 outbox rows and 20
rotations over two years of history.

The database (SQLite, built fast: a few incidents opened through the lifecycle give real rows and
rendered payloads, which bulk inserts then copy):
- 40 people; 20 rotations imported through the real import path from calendars covering two years
  back and a year ahead (ten weekly round robins, five daily follow-the-sun, five with one event per
  shift as Outlook exports them), each with a few hundred covers;
- 10,000 incidents over two years (30 still open), every role held, 6 timeline entries and 3
  updates each; 100,000 outbox rows (pages, notices, updates over Teams and email with their
  rendered payloads: 97% sent, the rest dead, cancelled, and 200 due now).

Then `herald serve` runs as a real process (its own ticker, dispatcher and calendar work) while four
clients fetch, in random order for DURATION seconds (then all four at once on each of the three largest
responses, twice: the worst moment on purpose): the board and its live fragment, the console's
incident list, the incident list of the API (first page, 1,000 rows, a page deep in the past), one
incident and its timeline, /api/oncall now and two years back, the status page (HTML, JSON, Atom),
/metrics, the notifications list, the rotations, a year of one rotation's shifts and its feed. Peak
RSS is the process's VmHWM (/proc/<pid>/status), printed beside an idle `herald serve` on an empty
database measured in the same run; the first pass runs each request alone and prints the peak after
it, which says which request raised it. The forkserver that expands calendars is a separate process
(its peak is printed too).
Run: .venv/bin/python bench/memory.py [DURATION]   (default 60 s)
"""
from __future__ import annotations

import os
import random
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service.config import PROJECT_ROOT  # noqa: E402

HERALD = str(Path(sys.executable).parent / "herald")
ADMIN = "bench-admin-token"
INCIDENTS = 10_000
NOTIFICATIONS = 100_000
ROTATIONS = 20
PEOPLE = 40
OPEN = 30
YEARS_BACK = 2
LIMIT_MB = 200


# ---- the database ----------------------------------------------------------------------------

def build(url: str, now: datetime) -> dict:
    """Fill the database at `url`; returns what the clients need (an incident id, a rotation, its feed)."""
    from sqlalchemy import func, insert, select

    from service import clock, create_app, db
    from service.config import Config
    from service.migrate import upgrade

    upgrade(url)
    frozen = clock.FrozenClock(now)
    app = create_app(Config(database_url=url, secret_key="bench", admin_token=ADMIN,
                            policy_path=str(PROJECT_ROOT / "schedules" / "policy.toml")), clock=frozen)
    with app.app_context():
        people = _people(now)
        rotation_names = _rotations(now, people)
        incident_id = _incidents(frozen, now)
        _notifications(now)
        from service.rotations.feeds import new_token
        from service.rotations.models import Rotation
        with db.transaction() as s:
            rotation = s.scalar(select(Rotation).where(Rotation.name == rotation_names[0]))
            feed = new_token(s, now=now, actor="bench", rotation=rotation)
            counts = {name: s.scalar(select(func.count()).select_from(table)) for name, table in _tables().items()}
        db.session.remove()
        db.engine().dispose()
    clock.install(clock.SystemClock())
    return {"incident": incident_id, "rotation": rotation_names[0], "feed": feed, "counts": counts}


def _tables() -> dict:
    from service.incidents.models import Incident, IncidentRole, IncidentUpdate, TimelineEntry
    from service.notify.models import Notification
    from service.rotations.models import Override, Rotation, Shift

    return {"incidents": Incident.__table__, "incident roles": IncidentRole.__table__,
            "timeline entries": TimelineEntry.__table__, "updates": IncidentUpdate.__table__,
            "outbox rows": Notification.__table__, "rotations": Rotation.__table__, "shifts": Shift.__table__,
            "overrides": Override.__table__}


def _people(now: datetime) -> list[int]:
    from sqlalchemy import insert, select

    from service import db
    from service.people.models import Person

    with db.transaction() as s:
        s.execute(insert(Person), [{"handle": f"person{i:02d}", "name": f"Person{i:02d} Example",
                                    "email": f"person{i:02d}@example.com", "aliases": [f"p{i:02d}"],
                                    "timezone": "Europe/London", "created_at": now} for i in range(PEOPLE)])
        return list(s.scalars(select(Person.id).order_by(Person.id)))


def _calendar(k: int, now: datetime, rng: random.Random) -> str:
    """Rotation k's calendar: two years back, a year ahead, in one of three styles, with covers."""
    begin = (now - timedelta(days=366 * YEARS_BACK)).replace(hour=9, minute=0, second=0, microsecond=0)
    begin -= timedelta(days=begin.weekday())  # a Monday
    until = now + timedelta(days=366)
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", f"PRODID:-//Herald bench//rotation {k}//EN",
             "X-WR-TIMEZONE:Europe/London"]
    team = [(k * 3 + i) % PEOPLE for i in range(8)]

    def event(uid, start, end, summary, extra=()):
        lines.extend(["BEGIN:VEVENT", f"UID:{uid}", "DTSTAMP:20240101T000000Z",
                      f"DTSTART;TZID=Europe/London:{start:%Y%m%dT%H%M%S}",
                      f"DTEND;TZID=Europe/London:{end:%Y%m%dT%H%M%S}", *extra,
                      f"SUMMARY:{summary}", "END:VEVENT"])

    naive = begin.replace(tzinfo=None)
    if k < 10:  # weekly round robin, one RRULE per person
        for i, person in enumerate(team):
            start = naive + timedelta(weeks=i)
            event(f"weekly-{k}-{i}", start, start + timedelta(weeks=1), f"On call: Person{person:02d}",
                  [f"RRULE:FREQ=WEEKLY;INTERVAL={len(team)};UNTIL={until:%Y%m%dT000000Z}"])
    elif k < 15:  # daily follow-the-sun: two 12-hour shifts a day
        for i, person in enumerate(team):
            start = naive + timedelta(days=i // 2, hours=12 * (i % 2))
            event(f"daily-{k}-{i}", start, start + timedelta(hours=12), f"Person{person:02d} Example",
                  [f"RRULE:FREQ=DAILY;INTERVAL={len(team) // 2};UNTIL={until:%Y%m%dT000000Z}"])
    else:  # an export: one event per weekly shift
        week, start = 0, naive
        while start < until.replace(tzinfo=None):
            event(f"shift-{k}-{week}", start, start + timedelta(weeks=1),
                  f"Support: Person{team[week % len(team)]:02d} Example")
            week, start = week + 1, start + timedelta(weeks=1)
    for c in range(200):  # covers of 2-48 hours
        start = naive + timedelta(hours=rng.randrange(0, 24 * 366 * (YEARS_BACK + 1)))
        event(f"cover-{k}-{c}", start, start + timedelta(hours=rng.randrange(2, 49)),
              f"Cover: Person{rng.randrange(PEOPLE):02d} Example")
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def _rotations(now: datetime, people: list[int]) -> list[str]:
    from sqlalchemy import insert

    from service import db
    from service.rotations.materialise import resolve_for, upload
    from service.rotations.models import Override, Rotation
    from service.runtime import policy

    rng = random.Random(17)
    names = sorted({r.rotation for r in policy().roles.values() if r.rotation})
    names += [f"team-{k:02d}" for k in range(ROTATIONS - len(names))]
    for k, name in enumerate(names):
        text = _calendar(k, now, rng)
        prepared = resolve_for(name, text, now)
        with db.transaction() as s:
            upload(s, name, text, prepared)
    with db.transaction() as s:
        ids = {r.name: r.id for r in s.query(Rotation)}
        rows = []
        for name in names:
            for _ in range(40):
                start = now + timedelta(hours=rng.randrange(-24 * 366 * YEARS_BACK, 24 * 60))
                rows.append({"rotation_id": ids[name], "person_id": rng.choice(people), "start": start,
                             "end": start + timedelta(hours=rng.randrange(1, 30)), "created_at": start,
                             "created_by": "bench"})
        s.execute(insert(Override), rows)
    return names


def _incidents(frozen, now: datetime) -> int:
    """A few incidents through the lifecycle (real rows and payloads), then copies of them in bulk."""
    from sqlalchemy import insert, select

    from service import db
    from service.incidents import lifecycle
    from service.incidents.models import Incident, IncidentCounter, IncidentRole, IncidentUpdate, TimelineEntry

    rng = random.Random(5)
    samples = []
    with db.transaction() as s:
        for i in range(8):
            frozen.set(now - timedelta(days=3, hours=i))
            incident = lifecycle.open_incident(s, title=f"Checkout errors in region {i}", severity=f"P{1 + i % 4}",
                                               impact="Some customers cannot pay", actor="bench")
            frozen.advance(minutes=20)
            lifecycle.post_update(s, incident, status="identified", actor="bench",
                                  learned="A bad deploy of the payment service", doing="Rolling back")
            frozen.advance(minutes=25)
            lifecycle.resolve_incident(s, incident, root_cause="A bad deploy", resolution="Rolled back",
                                       actor="bench")
            samples.append(incident.id)
    frozen.set(now)
    with db.transaction() as s:
        roles = [dict(row._mapping) for row in s.execute(select(IncidentRole.__table__))]
        timeline = [dict(row._mapping) for row in s.execute(select(TimelineEntry.__table__))]
        updates = [dict(row._mapping) for row in s.execute(select(IncidentUpdate.__table__))]
        template = dict(s.execute(select(Incident.__table__).where(Incident.id == samples[0])).one()._mapping)
        first_id = s.scalar(select(Incident.id).order_by(Incident.id.desc())) + 1
        span = timedelta(days=366 * YEARS_BACK)
        per_day: dict = {}
        incident_rows, role_rows, entry_rows, update_rows = [], [], [], []
        people = sorted({r["person_id"] for r in roles if r["person_id"]})
        for n in range(INCIDENTS):
            iid = first_id + n
            started = now - span + span * n / INCIDENTS
            day = started.date()
            per_day[day] = per_day.get(day, 100) + 1  # numbers above what the lifecycle may use that day
            is_open = n >= INCIDENTS - OPEN
            resolved = None if is_open else started + timedelta(minutes=rng.randrange(20, 600))
            incident_rows.append({
                **template, "id": iid, "number": f"INC-{day:%Y%m%d}-{per_day[day]}",
                "title": f"{rng.choice(['Checkout', 'Login', 'Search', 'Payments', 'API'])} errors #{n}",
                "severity": f"P{1 + rng.randrange(4)}",
                "status": rng.choice(["investigating", "mitigating"]) if is_open else
                rng.choice(["resolved", "closed", "closed"]),
                "started_at": started, "respond_by": started + timedelta(minutes=15), "updated_at": resolved or started,
                "acknowledged_at": started + timedelta(minutes=rng.randrange(1, 30)),
                "mitigated_at": resolved, "resolved_at": resolved,
                "closed_at": resolved + timedelta(days=3) if resolved and n % 3 else None,
                "last_update_at": resolved or started, "next_update_due_at": None if resolved else now + timedelta(minutes=30),
                "postmortem_due_at": resolved + timedelta(hours=48) if resolved else None,
                "root_cause": "A bad deploy" if resolved else None, "resolution": "Rolled back" if resolved else None,
                "previous_incident_id": None,
            })
            for k, role in enumerate(roles[:5]):
                role_rows.append({**role, "id": None, "incident_id": iid, "person_id": people[(n + k) % len(people)],
                                  "assigned_at": started, "acknowledged_at": started + timedelta(minutes=3)})
            for k, entry in enumerate(timeline[:6]):
                entry_rows.append({**entry, "id": None, "incident_id": iid, "at": started + timedelta(minutes=k)})
            for k, update in enumerate(updates[:3]):
                update_rows.append({**update, "id": None, "incident_id": iid, "posted_at": started + timedelta(minutes=20 * k)})
        for table, rows in ((Incident, incident_rows), (IncidentRole, role_rows), (TimelineEntry, entry_rows),
                            (IncidentUpdate, update_rows)):
            for at in range(0, len(rows), 5000):
                s.execute(insert(table.__table__), [{k: v for k, v in row.items() if not (k == "id" and v is None)}
                                                    for row in rows[at:at + 5000]])
        s.execute(insert(IncidentCounter.__table__).prefix_with("OR IGNORE"),
                  [{"day": day, "last": last} for day, last in per_day.items()])
    return first_id + INCIDENTS - OPEN // 2


def _notifications(now: datetime) -> None:
    from sqlalchemy import func, insert, select

    from service import db
    from service.incidents.models import Incident
    from service.notify.models import Notification

    rng = random.Random(9)
    with db.transaction() as s:
        samples = [dict(row._mapping) for row in s.execute(select(Notification.__table__))]
        have = len(samples)
        lo, hi = s.execute(select(func.min(Incident.id), func.max(Incident.id))).one()
        rows = []
        for n in range(NOTIFICATIONS - have):
            sample = samples[n % len(samples)]
            incident_id = lo + (n * (hi - lo)) // NOTIFICATIONS
            created = now - timedelta(days=366 * YEARS_BACK) + timedelta(days=366 * YEARS_BACK) * n / NOTIFICATIONS
            due_now = n >= NOTIFICATIONS - have - 200
            status = "pending" if due_now else rng.choices(["sent", "dead", "cancelled"], [97, 1, 2])[0]
            rows.append({**sample, "id": None, "incident_id": incident_id,
                         "idempotency_key": f"bench:{n}:{sample['idempotency_key']}"[:400],
                         "status": status, "attempts": 0 if due_now else 1 + (status == "dead") * 4,
                         "due_at": now if due_now else created, "next_attempt_at": now if due_now else created,
                         "claimed_until": None, "claimed_by": None, "created_at": created,
                         "sent_at": None if status != "sent" else created + timedelta(seconds=2),
                         "latency_ms": 2000 if status == "sent" else None,
                         "last_error": "SMTP 550 mailbox unavailable" if status == "dead" else None})
        for at in range(0, len(rows), 5000):
            s.execute(insert(Notification.__table__),
                      [{k: v for k, v in row.items() if k != "id"} for row in rows[at:at + 5000]])


# ---- the process -------------------------------------------------------------------------------

def memory_of(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) in kB from /proc/<pid>/status."""
    out = {}
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":", 1)
                out[key] = int(value.split()[0])
    return out


def children_of(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    found.append(int(entry))
            except (OSError, IndexError, ValueError):
                pass
    return found


class Serve:
    """`herald serve` on `url`, as a real process, on a free port."""

    def __init__(self, url: str, folder: str):
        env = {**os.environ, "HERALD_DATABASE_URL": url, "HERALD_ADMIN_TOKEN": ADMIN, "HERALD_SECRET_KEY": "bench",
               "HERALD_VAR_DIR": folder, "HERALD_POLICY": str(PROJECT_ROOT / "schedules" / "policy.toml"),
               "PYTHONUNBUFFERED": "1"}
        self.log = open(Path(folder) / "serve.log", "w+")
        self.process = subprocess.Popen([HERALD, "serve", "--port", "0"], env=env, cwd=folder,
                                        stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            self.log.seek(0)
            found = re.search(r"serving on (http://[\d.]+:\d+)", self.log.read())
            if found:
                self.base = found.group(1)
                return
            if self.process.poll() is not None:
                break
            time.sleep(0.2)
        self.log.seek(0)
        raise RuntimeError(f"herald serve did not start:\n{self.log.read()[-3000:]}")

    def memory(self) -> dict[str, int]:
        return memory_of(self.process.pid)

    def helpers_peak_kb(self) -> int:
        """The largest VmHWM among the process's children (the calendar forkserver and its children)."""
        peaks = []
        for child in children_of(self.process.pid):
            try:
                peaks.append(memory_of(child).get("VmHWM", 0))
            except OSError:
                pass
        return max(peaks, default=0)

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(30)
        except subprocess.TimeoutExpired:
            self.process.kill()
        self.log.seek(0)
        return self.log.read()


def signed_in(base: str) -> requests.Session:
    client = requests.Session()
    login = client.get(f"{base}/board/login").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', login).group(1)
    answer = client.post(f"{base}/board/login", data={"csrf_token": csrf, "token": ADMIN}, allow_redirects=False)
    assert answer.status_code == 303, answer.status_code
    client.headers["Authorization"] = f"Bearer {ADMIN}"
    return client


def requests_for(info: dict, now: datetime) -> list[str]:
    def z(moment: datetime) -> str:
        return moment.strftime("%Y-%m-%dT%H:%M:%SZ")

    back = now - timedelta(days=366 * YEARS_BACK - 10)
    paths = ["/board", "/board/live", "/console", "/console?status=all", "/api/incidents",
             "/api/incidents?limit=1000", "/api/incidents?status=closed&limit=1000&offset=3000",
             "/api/oncall", f"/api/oncall?at={z(back)}", "/status", "/status.json", "/status.atom", "/metrics",
             "/api/notifications?limit=1000", "/api/rotations"]
    if info.get("incident"):
        paths += [f"/api/incidents/{info['incident']}", f"/api/incidents/{info['incident']}/timeline"]
    if info.get("rotation"):
        paths += [f"/api/rotations/{info['rotation']}/shifts?from={z(now - timedelta(days=366))}&to={z(now)}"]
    if info.get("feed"):
        paths += [info["feed"].split("127.0.0.1:8080", 1)[-1]]
    return paths


def exercise(serve: Serve, paths: list[str], seconds: float, clients: int = 4) -> tuple[dict, int, list]:
    """One pass alone (the peak after each request), then `clients` threads for `seconds`."""
    session = signed_in(serve.base)
    steps = []
    for path in paths:
        answer = session.get(serve.base + path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
        steps.append((path, serve.memory()["VmHWM"], len(answer.content)))
    stop = time.monotonic() + seconds
    counts = {"requests": 0, "errors": 0}
    lock = threading.Lock()

    def client(k: int):
        own = signed_in(serve.base)
        rng = random.Random(k)
        while time.monotonic() < stop:
            answer = own.get(serve.base + rng.choice(paths))
            with lock:
                counts["requests"] += 1
                counts["errors"] += answer.status_code != 200

    threads = [threading.Thread(target=client, args=(k,)) for k in range(clients)]
    for thread in threads:
        thread.start()
    peak_rss = 0
    while any(t.is_alive() for t in threads):
        peak_rss = max(peak_rss, serve.memory()["VmRSS"])
        time.sleep(0.2)
    counts["mixed_hwm"] = serve.memory()["VmHWM"]  # the peak of the mixed load, before the bursts
    # The worst moment on purpose: every client on the same large request at once, for each of the largest.
    largest = [path for path, _hwm, _length in sorted(steps, key=lambda step: -step[2])[:3]]

    def burst(path: str):
        own = signed_in(serve.base)
        for _ in range(2):
            answer = own.get(serve.base + path)
            with lock:
                counts["requests"] += 1
                counts["errors"] += answer.status_code != 200

    for path in largest:
        threads = [threading.Thread(target=burst, args=(path,)) for _ in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    counts["bursts"] = len(largest)
    return counts, peak_rss, steps


def main() -> None:
    seconds = float(sys.argv[1]) if len(sys.argv) > 1 else 60.0
    now = datetime.now(timezone.utc).replace(microsecond=0)
    with tempfile.TemporaryDirectory() as empty_folder, tempfile.TemporaryDirectory() as folder:
        from service.migrate import upgrade

        empty_url = f"sqlite:///{empty_folder}/herald.db"
        upgrade(empty_url)
        idle = Serve(empty_url, empty_folder)
        time.sleep(min(seconds, 20))  # idle: ticking, first start done
        idle_hwm = idle.memory()["VmHWM"]
        counts_empty, _, _ = exercise(idle, requests_for({}, now), min(seconds, 20))
        empty_hwm = idle.memory()["VmHWM"]
        idle.stop()

        url = f"sqlite:///{folder}/herald.db"
        began = time.monotonic()
        info = build(url, now)
        size = Path(f"{folder}/herald.db").stat().st_size
        print(f"built in {time.monotonic() - began:.0f} s: "
              + ", ".join(f"{v:,} {k}" for k, v in info["counts"].items()) + f"; {size / 2**20:.0f} MiB on disk")
        serve = Serve(url, folder)
        time.sleep(5)
        started_hwm = serve.memory()["VmHWM"]
        counts, peak_rss, steps = exercise(serve, requests_for(info, now), seconds)
        final = serve.memory()
        helpers = serve.helpers_peak_kb()
        log = serve.stop()

    mb = 1024
    print(f"\nfirst pass, each request alone (peak RSS after it; response size):")
    for path, hwm, length in steps:
        print(f"  {hwm / mb:6.1f} MB  {length / 1024:8.0f} KiB  GET {path[:90]}")
    print(f"\nbaseline herald serve, empty database, idle {min(seconds, 20):.0f} s:   peak {idle_hwm / mb:6.1f} MB")
    print(f"         herald serve, empty database, exercised:   peak {empty_hwm / mb:6.1f} MB "
          f"({counts_empty['requests']} requests)")
    print(f"         herald serve, full database, started + 5 s: peak {started_hwm / mb:6.1f} MB")
    print(f"         herald serve, full database, exercised {seconds:.0f} s by 4 clients (mixed load):"
          f" peak {counts['mixed_hwm'] / mb:6.1f} MB")
    print(f"         herald serve, full database, exercised {seconds:.0f} s by 4 clients, then the 4 at once on "
          f"each of the {counts['bursts']} largest responses twice ({counts['requests']} requests, "
          f"{counts['errors']} errors):")
    print(f"           peak RSS (VmHWM) {final['VmHWM'] / mb:6.1f} MB   ratio to idle {final['VmHWM'] / idle_hwm:4.2f}x   "
          f"goal < {LIMIT_MB} MB: {'met' if final['VmHWM'] / mb < LIMIT_MB else 'NOT met'}")
    print(f"           RSS at the end {final['VmRSS'] / mb:6.1f} MB; calendar forkserver peak {helpers / mb:5.1f} MB")
    problems = [line for line in log.splitlines() if "Traceback" in line or " ERROR " in line]
    if problems:
        print(f"\nherald serve logged {len(problems)} errors, e.g. {problems[0][:200]}")


if __name__ == "__main__":
    main()
