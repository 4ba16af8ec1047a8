"""`GET /api/oncall` reads every rotation's owner in one statement (`oncall.every_owner_at`): it must say exactly
what `on_call` says rotation by rotation — overrides over shifts, the newest override first, gaps, shifts
that name nobody known — and what it sends is what its OpenAPI schema describes."""
from __future__ import annotations

import random
from datetime import timedelta

from sqlalchemy import event, select

from service import db
from service.people.models import Person
from service.rotations.models import Override, Rotation, Shift
from service.rotations.oncall import every_owner_at, iso, on_call, who_is_on_call
from service.rotations.schemas import OnCallNowOut
from tests.conftest import ADMIN, START


def _populate(rng: random.Random) -> None:
    s = db.session
    people = [Person(handle=f"p{i}", name=f"Person {i}", email=f"p{i}@example.com", aliases=[], created_at=START)
              for i in range(5)]
    s.add_all(people)
    s.flush()
    first = START - timedelta(weeks=6)
    for n, name in enumerate(("incident-commander", "technical-lead", "zeta-unused", "empty")):
        rotation = Rotation(name=name, created_at=START, updated_at=START)
        s.add(rotation)
        s.flush()
        if name == "empty":
            continue
        for week in range(12):
            if week % 5 == 2:
                continue  # a gap
            person = None if week % 4 == 3 else people[(week + n) % 5]  # a shift naming nobody known
            s.add(Shift(rotation_id=rotation.id, start=first + timedelta(weeks=week),
                        end=first + timedelta(weeks=week, days=6), person_id=person.id if person else None,
                        label=f"label {week}", uid=f"{name}-{week}"))
        for k in range(30):  # overlapping covers, some created at the same moment (the id decides)
            start = first + timedelta(hours=rng.randrange(0, 12 * 7 * 24))
            s.add(Override(rotation_id=rotation.id, person_id=people[rng.randrange(5)].id, start=start,
                           end=start + timedelta(hours=rng.randrange(1, 72)),
                           created_at=START - timedelta(minutes=rng.randrange(0, 3))))
    s.commit()


def test_every_owner_at_agrees_with_on_call_everywhere(app):
    rng = random.Random(3)
    with app.app_context():
        _populate(rng)
        s = db.session
        rotations = s.scalars(select(Rotation)).all()
        first = START - timedelta(weeks=7)
        moments = [first + timedelta(minutes=rng.randrange(0, 14 * 7 * 24 * 60)) for _ in range(150)]
        moments += [o.start for o in s.scalars(select(Override))] + [o.end for o in s.scalars(select(Override))]
        moments += [sh.start for sh in s.scalars(select(Shift))] + [sh.end for sh in s.scalars(select(Shift))]
        compared = overrides = nobody = 0
        for at in moments:
            owners = every_owner_at(s, at)
            assert list(owners) == sorted(r.name for r in rotations)
            for rotation in rotations:
                expected = on_call(s, rotation, at)
                got = owners[rotation.name]
                assert (got.as_json() if got else None) == (expected.as_json() if expected else None), (rotation.name, at)
                if expected is not None:
                    assert (got.uid, got.override) == (expected.uid, expected.override)
                    overrides += expected.override
                    nobody += expected.person is None
                compared += 1
        assert compared > 1000 and overrides > 50 and nobody > 10  # every case was met


def test_oncall_is_one_statement_and_sent_as_its_schema_describes(app, client):
    with app.app_context():
        _populate(random.Random(4))
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine(), "before_cursor_execute", listener)
    try:
        at = START + timedelta(hours=5)
        response = client.get(f"/api/oncall?at={iso(at)}", headers=ADMIN)
    finally:
        event.remove(db.engine(), "before_cursor_execute", listener)
    assert response.status_code == 200
    assert len(statements) == 1  # the admin token needs no lookup: the answer is one query
    body = response.get_json()
    with app.app_context():
        assert body == who_is_on_call(db.session, at)
    assert OnCallNowOut().dump(body) == body  # the OpenAPI schema describes exactly what is sent
    assert set(body["rotations"]) == {"incident-commander", "technical-lead", "zeta-unused", "empty"}
    assert body["rotations"]["empty"] is None
