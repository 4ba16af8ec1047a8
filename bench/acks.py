"""Benchmark acknowledgement and escalation, each beside a baseline measured in the same run.

- replies: reading the 16 real-world replies of tests/acks/mail (threading headers, auto-reply signs,
  HTML to text, quote and signature stripping, first word) against the least any reader must do:
  the standard library parsing the message and decoding its body.
- escalation tick: a quiet tick (nothing due) over N open P1 incidents against one plain query that
  loads the same incidents with their roles.
Run: .venv/bin/python bench/acks.py
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from _harness import best_of, sqlite_app  # bench/ is on sys.path; _harness puts the project there
from service import db  # noqa: E402
from service.acks.replies import parse_message, read_reply  # noqa: E402
from service.config import PROJECT_ROOT  # noqa: E402

START = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
MAIL = PROJECT_ROOT / "tests" / "acks" / "mail"



def bench_replies(rounds: int = 20) -> None:
    raws = [p.read_bytes() for p in sorted(MAIL.glob("*.eml"))]

    def baseline():
        for _ in range(rounds):
            for raw in raws:
                body = parse_message(raw).get_body(preferencelist=("plain", "html"))
                body.get_content() if body is not None else ""

    def ours():
        for _ in range(rounds):
            for raw in raws:
                read_reply(parse_message(raw))

    count = rounds * len(raws)
    base, mine = best_of(baseline), best_of(ours)
    print(f"replies: {count} messages  read_reply {mine * 1e3 / count:6.3f} ms/message  "
          f"baseline stdlib parse+body {base * 1e3 / count:6.3f} ms/message  ratio {mine / base:5.2f}x")


def bench_tick(open_incidents: int) -> None:
    from sqlalchemy import select

    from service.escalation.ticks import run_escalation
    from service.incidents import lifecycle
    from service.incidents.models import OPEN_STATUSES, Incident
    from service.people.models import Person

    with sqlite_app(START) as (app, frozen):
        with app.app_context():
            s = db.session
            alice = Person(handle="alice", name="Alice", email="alice@example.com", created_at=START)
            s.add(alice)
            s.flush()
            for i in range(open_incidents):
                incident = lifecycle.open_incident(s, title=f"Incident {i}", severity="P1", actor="bench")
                lifecycle.hand_over_role(s, incident, "incident_commander", alice, actor="bench")
                lifecycle.acknowledge(s, incident, alice, via="api", actor="bench")
                lifecycle.change_incident(s, incident, status="monitoring", actor="bench")
            s.commit()
            db.session.remove()
            # Everything has fired: the matrix (acknowledged, mitigated), the assemble check, the repeats.
            frozen.advance(hours=2)
            run_escalation(frozen.now())
            quiet = frozen.now() + timedelta(seconds=1)

            def baseline():
                with db.transaction() as t:
                    t.scalars(select(Incident).where(Incident.status.in_(OPEN_STATUSES))).all()

            base, mine = best_of(baseline), best_of(lambda: run_escalation(quiet))
        print(f"escalation tick, {open_incidents:4d} open incidents, nothing due: {mine * 1e3:7.2f} ms  "
              f"baseline load the incidents {base * 1e3:7.2f} ms  ratio {mine / base:5.2f}x")


if __name__ == "__main__":
    bench_replies()
    for n in (10, 100, 500):
        bench_tick(n)
