"""SQLite runs durable: WAL with synchronous=FULL on every connection (README, "The embedded database")."""
from __future__ import annotations

from sqlalchemy import event

from service import db


def test_sqlite_connections_are_durable(tmp_path):
    engine = db.make_engine(f"sqlite:///{tmp_path}/durable.db")
    statements: list[str] = []
    # Before Herald's own connect hook: see what it asks for, not only what this SQLite build defaults to
    # (this one may default WAL databases to FULL; others default them to NORMAL).
    event.listen(engine, "connect", lambda dbapi_conn, _record: dbapi_conn.set_trace_callback(statements.append),
                 insert=True)
    try:
        for _ in range(2):  # every new connection of the pool gets the same settings
            with engine.connect() as conn:
                assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
                assert conn.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL, not NORMAL (1)
                assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            engine.pool.dispose()
        assert statements.count("PRAGMA synchronous=FULL") == 2
    finally:
        engine.dispose()
