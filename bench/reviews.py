"""Benchmark the post-incident review: slot choice and the post-mortem draft, each beside a baseline.

- slot: `review_slot` for resolutions every 7 minutes over four weeks (P1 and P2 windows), against
  one `next_business_slot` call per resolution (the least any slot choice must do).
- draft: rendering the post-mortem of an incident with a long timeline, against reading and
  serialising the same timeline the way GET /api/incidents/<id>/timeline does.
Run: .venv/bin/python bench/reviews.py
"""
from __future__ import annotations

from datetime import datetime, timedelta, timezone

from _harness import best_of, sqlite_app  # bench/ is on sys.path; _harness puts the project there
from service import db  # noqa: E402
from service.config import PROJECT_ROOT  # noqa: E402
from service.policy import load_policy  # noqa: E402
from service.policy.business_hours import next_business_slot  # noqa: E402
from service.reviews.slots import MEETING_LENGTH, review_slot  # noqa: E402

START = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)



def bench_slots() -> None:
    policy = load_policy(PROJECT_ROOT / "schedules" / "policy.toml")
    moments = [START + timedelta(minutes=7 * i) for i in range(4 * 7 * 24 * 60 // 7)]

    def baseline():
        for t in moments:
            next_business_slot(t + timedelta(hours=24), MEETING_LENGTH, policy)

    for name, window in (("P1 48h", timedelta(hours=48)), ("P2 7d", timedelta(days=7))):
        def choose(window=window):
            for t in moments:
                review_slot(t, t + window, policy)

        base, ours = best_of(baseline), best_of(choose)
        print(f"slot {name:7s}: {len(moments)} resolutions  review_slot {ours * 1e6 / len(moments):7.1f} us/call  "
              f"baseline next_business_slot {base * 1e6 / len(moments):6.1f} us/call  ratio {ours / base:5.2f}x")


def bench_draft(entries: int) -> None:
    from sqlalchemy import select

    from service.incidents import lifecycle
    from service.incidents.models import TimelineEntry
    from service.incidents.schemas import TimelineOut
    from service.incidents.timeline import record
    from service.reviews.draft import render_postmortem

    with sqlite_app(START) as (app, frozen):
        with app.app_context():
            s = db.session
            incident = lifecycle.open_incident(s, title="Orders are failing", severity="P1", actor="bench")
            for i in range(entries):
                frozen.advance(seconds=30)
                record(s, incident, "note", f"Observation {i}: latency | errors rising")
            lifecycle.resolve_incident(s, incident, root_cause="x", resolution="y", actor="bench")
            s.commit()

            def baseline():
                rows = s.scalars(select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
                                 .order_by(TimelineEntry.at, TimelineEntry.id)).all()
                TimelineOut(many=True).dump(rows)
                s.expire_all()

            def draft():
                render_postmortem(s, incident)
                s.expire_all()

            base, ours = best_of(baseline), best_of(draft)
            print(f"draft {entries:5d} timeline entries: render {ours * 1e3:7.2f} ms  "
                  f"baseline timeline read+dump {base * 1e3:7.2f} ms  ratio {ours / base:5.2f}x")
        db.session.remove()
        db.engine().dispose()


if __name__ == "__main__":
    bench_slots()
    for n in (100, 1000):
        bench_draft(n)
