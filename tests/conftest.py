"""Shared fixtures: every database test runs on SQLite and, when HERALD_TEST_DATABASE_URL is set, PostgreSQL.

Each backend gets one migrated database per test session (PostgreSQL: a fresh, uniquely named database,
so parallel runs never collide); tables are emptied after every test.
"""
from __future__ import annotations

import os
import shutil
import threading
import uuid
from datetime import datetime, timezone
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from service import clock as clock_module
from service import create_app, db
from service.config import PROJECT_ROOT, Config
from service.migrate import upgrade

pytest_plugins = ("tests.browser",)  # Chromium and a live server for the browser tests of any folder

PG_URL = os.environ.get("HERALD_TEST_DATABASE_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if PG_URL else [])
START = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)  # a Monday, 10:00 UTC


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("db") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_url():
    """A new database on the server of HERALD_TEST_DATABASE_URL, migrated, dropped at the end."""
    if not PG_URL:
        pytest.skip("HERALD_TEST_DATABASE_URL not set")
    base = make_url(PG_URL)
    name = f"herald_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:  # unreachable PostgreSQL fails here: CI must fail, not skip
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    yield url
    db.session.remove()
    if db._engine is not None:
        db._engine.dispose()
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request, tmp_path, sqlite_template):
    if request.param == "sqlite":
        path = tmp_path / "herald.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    url = request.getfixturevalue("postgres_url")
    yield url
    _truncate_all(url)


def _truncate_all(url: str) -> None:
    from service.models import metadata

    db.session.remove()
    engine = create_engine(url)
    names = ", ".join(f'"{t.name}"' for t in metadata.sorted_tables)
    with engine.begin() as conn:
        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    engine.dispose()


@pytest.fixture(autouse=True)
def _tick_budgets_unbounded(monkeypatch):
    """The escalation and handoff jobs stop starting work once a share of the tick has gone (wall-clock time): a
    test that expects one tick to do everything due must not depend on how loaded the machine is. The tests of
    those bounds set them to nothing themselves (tests/escalation/test_due_scan.py, rotations/test_handoff_batches.py)."""
    from service.escalation import ticks
    from service.notify import handoffs

    monkeypatch.setattr(ticks, "ESCALATION_SECONDS", float("inf"))
    monkeypatch.setattr(handoffs, "HANDOFF_SECONDS", float("inf"))


@pytest.fixture
def frozen_clock():
    clock = clock_module.FrozenClock(START)
    previous = clock_module.current()
    clock_module.install(clock)
    yield clock
    clock_module.install(previous)


@pytest.fixture
def config(database_url, tmp_path) -> Config:
    return Config(
        database_url=database_url,
        policy_path=str(PROJECT_ROOT / "schedules" / "policy.toml"),
        secret_key="test-secret-key",
        base_url="http://herald.test",
        admin_token="test-admin-token",
        tick_seconds=0.2,
    )


@pytest.fixture
def app(config, frozen_clock):
    application = create_app(config)
    application.config["TESTING"] = True
    yield application
    db.session.remove()


@pytest.fixture
def client(app):
    return app.test_client()


ADMIN = {"Authorization": "Bearer test-admin-token"}


@pytest.fixture
def admin_headers():
    return dict(ADMIN)


@pytest.fixture
def token_for(app):
    """Create a token with the given scopes and return its Authorization header."""
    from service.auth import create_token

    def make(*scopes: str) -> dict:
        with app.app_context(), db.transaction() as s:
            secret = create_token(s, f"test-{'-'.join(scopes)}", list(scopes))
        return {"Authorization": f"Bearer {secret}"}

    return make


@pytest.fixture
def make_person(client):
    def make(handle: str, name: str | None = None, email: str | None = None, **extra) -> dict:
        body = {"handle": handle, "name": name or handle.title(), "email": email or f"{handle}@example.com", **extra}
        response = client.post("/api/people", json=body, headers=ADMIN)
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    return make


@pytest.fixture
def put_on_call(app):
    """Give a rotation a shift owned by a person (as an import would), without iCal."""
    from datetime import timedelta

    from sqlalchemy import select

    from service.people.models import Person
    from service.rotations.models import Rotation, Shift

    def put(rotation: str, handle: str | None, start: datetime, end: datetime | None = None) -> None:
        with app.app_context(), db.transaction() as s:
            rot = s.scalar(select(Rotation).where(Rotation.name == rotation))
            now = clock_module.now()
            if rot is None:
                rot = Rotation(name=rotation, created_at=now, updated_at=now)
                s.add(rot)
                s.flush()
            person = s.scalar(select(Person).where(Person.handle == handle)) if handle else None
            s.add(Shift(rotation_id=rot.id, start=start, end=end or start + timedelta(days=7),
                        person_id=person.id if person else None, label=handle or "", uid=f"{rotation}-{start}"))

    return put


def in_threads(app, work, count: int) -> list[Exception]:
    """Run work(n) for n in range(count), each in its own thread and app context, all starting at once;
    return what they raised (the concurrency tests assert it is nothing)."""
    errors: list[Exception] = []
    start = threading.Barrier(count)

    def run(n: int) -> None:
        with app.app_context():
            try:
                start.wait()
                work(n)
            except Exception as exc:  # surfaced to the caller
                errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors
