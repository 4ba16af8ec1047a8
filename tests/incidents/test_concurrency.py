"""Incident numbers stay unique when many requests create incidents at once."""
import threading

from sqlalchemy import select

from service import db
from service.incidents import lifecycle
from service.incidents.models import Incident


def test_concurrent_creates_get_distinct_numbers(app):
    errors: list[Exception] = []
    barrier = threading.Barrier(8)

    def create(n: int) -> None:
        with app.app_context():
            try:
                barrier.wait()
                for i in range(5):
                    with db.transaction() as s:
                        lifecycle.open_incident(s, title=f"t{n}-{i}", severity="P3", actor="test")
            except Exception as exc:  # surfaced below
                errors.append(exc)

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with app.app_context():
        numbers = db.session.scalars(select(Incident.number)).all()
    assert len(numbers) == 40
    assert sorted(numbers, key=lambda n: int(n.rsplit("-", 1)[1])) == [f"INC-20260302-{i}" for i in range(1, 41)]
