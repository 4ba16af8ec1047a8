"""Database wiring: one engine, a thread-scoped session, UTC timestamps on every backend."""
from __future__ import annotations

from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import DateTime, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, scoped_session, sessionmaker
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC in and out, also on SQLite (which stores naive text)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


_factory = sessionmaker(expire_on_commit=False)
session: scoped_session[Session] = scoped_session(_factory)
_engine: Engine | None = None


def engine() -> Engine:
    if _engine is None:
        raise RuntimeError("database not initialised: call service.db.init_engine(url)")
    return _engine


def make_engine(url: str) -> Engine:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        eng = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(eng, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # Let SQLAlchemy emit BEGIN itself so BEGIN IMMEDIATE serialises writers.
            dbapi_conn.isolation_level = None

        @event.listens_for(eng, "begin")
        def _sqlite_begin(conn):
            conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get("write", True) else "BEGIN")

        return eng
    return create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)


def init_engine(url: str) -> Engine:
    """Bind the global session to a new engine for `url` (disposing any previous one)."""
    global _engine
    session.remove()
    if _engine is not None:
        _engine.dispose()
    _engine = make_engine(url)
    _factory.configure(bind=_engine)
    return _engine


def is_postgres(s: Session | scoped_session | None = None) -> bool:
    """The one SQLite-vs-PostgreSQL check: of the session's bind, or of the engine."""
    bind = s.get_bind() if s is not None else engine()
    return bind.dialect.name == "postgresql"


def insert_for(s: Session | scoped_session):
    """The dialect's INSERT (both have ON CONFLICT … DO NOTHING/UPDATE and RETURNING)."""
    return pg_insert if is_postgres(s) else sqlite_insert


@contextmanager
def transaction() -> Iterator[Session]:
    """A unit of work outside a request: commit on success, roll back on error."""
    s = _factory()
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


def page_of(query, page: dict) -> list:
    """One page of a select: `page` is the loaded PageArgs ({"limit", "offset"}) of a list endpoint."""
    return session.scalars(query.limit(page["limit"]).offset(page["offset"])).all()
