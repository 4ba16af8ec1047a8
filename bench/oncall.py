"""Benchmark who-is-on-call: materialised shifts against expanding the calendar per query.

The calendar: 20 people on a weekly round robin over 5 years (20 weekly series, each every 20th week)
plus 2,000 one-off covers of 2-48 hours. It is imported into the policy's five rotations; we time the
first import (PUT /api/rotations/<name>/calendar: parse, expand from the calendar's start 2.5 years back
to 400 days ahead, resolve, write) and a re-import (which replaces only the future), then GET
/api/oncall at random moments of the horizon, beside the naive approach measured in the same run:
recurring-ical-events expanding the same (already parsed) calendar at each moment for each rotation,
shortest event winning, person matched. The two must agree on every sampled moment.

History: GET /api/oncall at moments two years back, against the same number of lookups around now
(goal: the same speed). Hours report: a year of the five rotations (20 people, 200 overrides too),
against one query (UNION ALL) reading the same shifts and overrides (goal: under 3x).
Run: .venv/bin/python bench/oncall.py
"""
from __future__ import annotations

import random
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import recurring_ical_events  # noqa: E402
from sqlalchemy import select, union_all  # noqa: E402

from _harness import best_of  # noqa: E402  (bench/ is on sys.path)
from service import clock, create_app, db  # noqa: E402
from service.reports.oncall_hours import hours_report  # noqa: E402
from service.rotations.models import Override, Rotation, Shift  # noqa: E402
from service.runtime import holidays, policy  # noqa: E402
from service.config import PROJECT_ROOT, Config  # noqa: E402
from service.migrate import upgrade  # noqa: E402
from service.people.models import Person  # noqa: E402
from service.rotations.calendar import parse_calendar  # noqa: E402
from service.rotations.matching import PersonMatcher, PersonRef  # noqa: E402

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=timezone.utc)
FIRST_MONDAY = datetime(2024, 1, 1, 9, 0)
PEOPLE = 20
COVERS = 2000
ADMIN = {"Authorization": "Bearer bench-admin"}
ROTATIONS = ("incident-commander", "technical-lead", "communications-lead", "scribe", "on-call-engineer")


def build_calendar(rng: random.Random) -> str:
    until = "20290101T000000Z"
    lines = ["BEGIN:VCALENDAR", "VERSION:2.0", "PRODID:-//Herald bench//EN", "X-WR-TIMEZONE:Europe/London"]
    for i in range(PEOPLE):
        start = FIRST_MONDAY + timedelta(weeks=i)
        lines += ["BEGIN:VEVENT", f"UID:weekly-{i}@bench", "DTSTAMP:20240101T000000Z",
                  f"DTSTART;TZID=Europe/London:{start:%Y%m%dT%H%M%S}",
                  f"DTEND;TZID=Europe/London:{start + timedelta(weeks=1):%Y%m%dT%H%M%S}",
                  f"RRULE:FREQ=WEEKLY;INTERVAL={PEOPLE};UNTIL={until}", f"SUMMARY:On call: Person {i:02d}",
                  "END:VEVENT"]
    span = (datetime(2029, 1, 1) - FIRST_MONDAY).total_seconds()
    for n in range(COVERS):
        start = FIRST_MONDAY + timedelta(seconds=rng.uniform(0, span))
        start = start.replace(minute=0, second=0, microsecond=0)
        end = start + timedelta(hours=rng.randint(2, 48))
        person = rng.randrange(PEOPLE)
        lines += ["BEGIN:VEVENT", f"UID:cover-{n}@bench", "DTSTAMP:20240101T000000Z",
                  f"DTSTART:{start:%Y%m%dT%H%M%S}Z", f"DTEND:{end:%Y%m%dT%H%M%S}Z", "SUMMARY:Cover",
                  f"ATTENDEE;CN=Person {person:02d}:mailto:person{person:02d}@example.com", "END:VEVENT"]
    lines.append("END:VCALENDAR")
    return "\r\n".join(lines) + "\r\n"


def naive_owner(calendar, matcher: PersonMatcher, zone, at: datetime) -> str | None:
    """What a service without materialised shifts does on every query."""
    best = None
    for event in recurring_ical_events.CalendarQuery(calendar).at(at):
        if str(event.get("STATUS", "")).upper() == "CANCELLED":
            continue
        start, end = event["DTSTART"].dt, event.end
        rank = (end - start, -start.timestamp(), f"{event['UID']}/{start.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}")
        if best is None or rank < best[0]:
            best = (rank, event)
    if best is None:
        return None
    event = best[1]
    attendees = event.get("ATTENDEE", [])
    attendees = attendees if isinstance(attendees, list) else [attendees]
    match = matcher.match(str(event.get("SUMMARY", "")), [(str(a), {}) for a in attendees])
    return match.person.handle if match.person else None


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def main() -> None:
    rng = random.Random(20260701)
    text = build_calendar(rng)
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{tmp}/bench.db"
        upgrade(url)
        app = create_app(Config(database_url=url, policy_path=str(PROJECT_ROOT / "schedules" / "policy.toml"),
                                secret_key="bench", admin_token="bench-admin"), clock=clock.FrozenClock(NOW))
        client = app.test_client()
        for i in range(PEOPLE):
            client.post("/api/people", headers=ADMIN, json={
                "handle": f"person{i:02d}", "name": f"Person {i:02d}", "email": f"person{i:02d}@example.com"})

        imports, report = import_all(client, text)
        print(f"calendar: {report['events']} events ({PEOPLE} weekly series over 5 years + {COVERS} covers), "
              f"{len(text) / 1024:.0f} KiB; {report['shifts']} shifts materialised per rotation")
        print(f"first import (history from the calendar's start): median {statistics.median(imports):.2f} s, "
              f"worst {max(imports):.2f} s over {len(imports)} rotations (goal: under 3 s)")
        again, _ = import_all(client, text)
        print(f"re-import (the future only; the past is kept): median {statistics.median(again):.2f} s, "
              f"worst {max(again):.2f} s")

        horizon = [NOW - timedelta(days=30) + timedelta(seconds=rng.uniform(0, 430 * 86400)) for _ in range(400)]
        ours, answers = [], {}
        for at in horizon:
            began = time.perf_counter()
            response = client.get(f"/api/oncall?at={at.isoformat().replace('+00:00', 'Z')}", headers=ADMIN)
            ours.append(time.perf_counter() - began)
            answers[at] = {name: (v or {}).get("person") for name, v in response.get_json()["rotations"].items()}

        with app.app_context():
            people = [PersonRef.of(p) for p in db.session.scalars(select(Person))]
        parsed = parse_calendar(text, ZoneInfo("UTC"))
        matcher = PersonMatcher(people)
        naive = []
        for at in horizon[:60]:
            began = time.perf_counter()
            owners = {name: naive_owner(parsed.calendar, matcher, parsed.zone, at) for name in ROTATIONS}
            naive.append(time.perf_counter() - began)
            assert owners == answers[at], (at, owners, answers[at])

        history_report(client, rng, parsed, matcher)
        hours_bench(app, rng)

    ours_ms = [v * 1000 for v in ours]
    naive_ms = [v * 1000 for v in naive]
    print(f"GET /api/oncall ({len(ROTATIONS)} rotations, {len(ours)} queries): "
          f"p50 {percentile(ours_ms, 50):.2f} ms, p99 {percentile(ours_ms, 99):.2f} ms")
    print(f"naive recurring-ical-events per query ({len(naive)} queries, same answers): "
          f"p50 {percentile(naive_ms, 50):.1f} ms, p99 {percentile(naive_ms, 99):.1f} ms")
    print(f"ratio naive/ours: p50 {percentile(naive_ms, 50) / percentile(ours_ms, 50):.0f}x, "
          f"p99 {percentile(naive_ms, 99) / percentile(ours_ms, 99):.0f}x (goal: at least 20x at p50)")


def import_all(client, text: str) -> tuple[list[float], dict]:
    """PUT the calendar into every rotation: (seconds each, the last import report)."""
    took = []
    for name in ROTATIONS:
        began = time.perf_counter()
        response = client.put(f"/api/rotations/{name}/calendar", data=text.encode(),
                              headers={**ADMIN, "Content-Type": "text/calendar"})
        took.append(time.perf_counter() - began)
        assert response.status_code == 200, response.get_json()
    return took, response.get_json()


def lookups(client, moments) -> tuple[list[float], dict]:
    took, answers = [], {}
    for at in moments:
        began = time.perf_counter()
        response = client.get(f"/api/oncall?at={at.isoformat().replace('+00:00', 'Z')}", headers=ADMIN)
        took.append((time.perf_counter() - began) * 1000)
        answers[at] = {name: (v or {}).get("person") for name, v in response.get_json()["rotations"].items()}
    return took, answers


def history_report(client, rng, parsed, matcher) -> None:
    """Lookups two years back against lookups around now, interleaved so that machine noise hits both."""
    past = [NOW - timedelta(days=730) + timedelta(seconds=rng.uniform(-15 * 86400, 15 * 86400)) for _ in range(400)]
    today = [NOW + timedelta(seconds=rng.uniform(-15 * 86400, 15 * 86400)) for _ in range(400)]
    then_ms, now_ms, then_answers = [], [], {}
    for old, new in zip(past, today):
        took, found = lookups(client, [old])
        then_ms += took
        then_answers.update(found)
        now_ms += lookups(client, [new])[0]
    for at in past[:20]:
        assert {name: naive_owner(parsed.calendar, matcher, parsed.zone, at) for name in ROTATIONS} == \
            then_answers[at], at
    print(f"history: GET /api/oncall two years back p50 {percentile(then_ms, 50):.2f} ms, p99 "
          f"{percentile(then_ms, 99):.2f} ms; around now p50 {percentile(now_ms, 50):.2f} ms, p99 "
          f"{percentile(now_ms, 99):.2f} ms; ratio past/now p50 {percentile(then_ms, 50) / percentile(now_ms, 50):.2f}x "
          f"(goal: 1x; answers checked against the calendar)")


def hours_bench(app, rng) -> None:
    """The hours report over a year of all five rotations, against one query reading the same shifts."""
    start, end = NOW - timedelta(days=365), NOW
    with app.app_context():
        session = db.session
        ids = list(session.scalars(select(Rotation.id)))
        people = list(session.scalars(select(Person.id)))
        for n in range(200):  # overrides too, so the report lays them over the calendar as it must
            lo = start + timedelta(hours=rng.randrange(0, 365 * 24))
            session.add(Override(rotation_id=rng.choice(ids), person_id=rng.choice(people), start=lo,
                                 end=lo + timedelta(hours=rng.randint(1, 12)), created_at=NOW - timedelta(days=400),
                                 created_by="bench"))
        session.commit()

        def one_query():  # the record the report reads: the shifts and the overrides of the year, in one query
            return session.execute(union_all(
                select(Shift.rotation_id, Shift.start, Shift.end, Shift.person_id)
                .where(Shift.rotation_id.in_(ids), Shift.end > start, Shift.start < end),
                select(Override.rotation_id, Override.start, Override.end, Override.person_id)
                .where(Override.rotation_id.in_(ids), Override.end > start, Override.start < end))).all()

        def report():
            return hours_report(session, policy(), holidays(), start, end)

        rows = report()
        records = len(one_query())
        floor = best_of(one_query)
        ours = best_of(report)
    hours = sum(r["hours"] for r in rows)
    print(f"hours report: a year, {len(ids)} rotations, {records} shifts and overrides, {len(rows)} rows "
          f"({hours:.0f} hours; {365 * 24 * len(ids)} possible): {ours * 1000:.1f} ms; one query reading the same "
          f"shifts and overrides {floor * 1000:.1f} ms; ratio {ours / floor:.2f}x (goal: under 3x)")


if __name__ == "__main__":
    main()
