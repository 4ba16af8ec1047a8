"""Database wiring: one engine, a thread-scoped session, UTC timestamps on every backend."""
from __future__ import annotations

import logging
import sqlite3
import threading
import time
from contextlib import AbstractContextManager, contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

from sqlalchemy import DateTime, MetaData, create_engine, event, exc
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import DeclarativeBase, Session, make_transient_to_detached, scoped_session, sessionmaker
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.types import TypeDecorator

log = logging.getLogger("herald.db")

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
            # Durable: a commit returns only once the WAL is on disk (fsync), so an incident Herald answered
            # 201 for, or a page it recorded as sent, survives a power cut too. NORMAL would survive a crash of
            # the process but not of the machine; FULL costs one fsync per transaction (README, "SQLite").
            # Set here rather than left to how the SQLite library was built (some builds default to NORMAL).
            cur.execute("PRAGMA synchronous=FULL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()
            # We emit BEGIN ourselves (see _sqlite_begin_lazily): the driver must not.
            dbapi_conn.isolation_level = None

        @event.listens_for(eng, "begin")
        def _sqlite_begin(conn):
            conn.info["begin_pending"] = True  # emitted with the first statement, when we know what it is
            conn.info.pop("write", None)

        gate = WriteGate()
        eng.herald_write_gate = gate

        def begin_lazily(conn, cursor, statement, parameters, context, executemany) -> None:
            _sqlite_begin_lazily(conn, cursor, statement, parameters, context, executemany, gate=gate)

        def ended(conn) -> None:
            conn.info.pop("begin_pending", None)
            gate.let_go(conn.info)

        event.listen(eng, "before_cursor_execute", begin_lazily)
        for name in ("commit", "rollback"):
            event.listen(eng, name, ended)
        # Whatever ends a connection's use without a commit or rollback seen above lets the gate go too.
        for name in ("checkin", "invalidate", "close"):
            event.listen(eng.pool, name, lambda _dbapi, record, *_: gate.let_go(record.info))
        event.listen(eng, "commit", lambda _conn: outage.over())
        return eng
    eng = create_engine(url, pool_pre_ping=True, pool_size=10, max_overflow=20)
    event.listen(eng, "connect", lambda _conn, _record: outage.over())
    event.listen(eng, "commit", lambda _conn: outage.over())
    return eng


class Outage:
    """Whether the database is unreachable, so that an outage is logged once, not on every request and tick.

    `noted(error)` says whether an exception is the database being unreachable or busy (the caller
    answers 503 with Retry-After, or tries again at the next tick) and logs the first of an outage; a
    new connection ends the outage and logs how long it lasted.
    """

    RETRY_AFTER = 5

    def __init__(self):
        self.since: float | None = None
        self.lock = threading.Lock()

    @staticmethod
    def is_outage(error: BaseException) -> bool:
        if not isinstance(error, (exc.OperationalError, exc.InterfaceError)):
            return isinstance(error, exc.DBAPIError) and error.connection_invalidated
        text = str(error.orig if getattr(error, "orig", None) is not None else error).lower()
        if "sqlite" in type(getattr(error, "orig", None)).__module__:
            return "locked" in text or "busy" in text or "unable to open" in text or "disk i/o" in text
        return True  # psycopg's OperationalError: connection refused, reset, server shutting down…

    def noted(self, error: BaseException, where: str) -> bool:
        if not self.is_outage(error):
            return False
        with self.lock:
            first, self.since = self.since is None, self.since or time.monotonic()
        if first:
            log.error("database unavailable (%s): %s; answering 503 until it is back", where,
                      str(error).splitlines()[0][:300])
        return True

    def over(self) -> None:
        if self.since is None:  # the common case, without the lock
            return
        with self.lock:
            since, self.since = self.since, None
        if since is not None:
            log.warning("database reachable again after %.0f s", time.monotonic() - since)


outage = Outage()


WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")


class WriteGate:
    """This process's writers queue here for SQLite's one write lock, each woken the moment the one before it
    commits, rather than in SQLite's busy handler, which naps and retries (up to 100 ms a nap) and serves
    whoever wakes first. Under a storm in `herald serve` that handler made the slowest opens wait seconds
    while the lock stood free between naps, and held the ticker's writes behind them.

    Taken just before BEGIN IMMEDIATE, let go when that transaction commits or rolls back (or its connection
    goes back to the pool, is invalidated or closed). Other processes (a CLI command) still meet SQLite's
    own lock and busy timeout. Waiting longer than the busy timeout raises SQLite's "database is locked",
    which callers already treat as a busy database (503 with Retry-After, the next tick).
    """

    TIMEOUT = 30.0  # the connections' busy_timeout

    def __init__(self):
        self._lock = threading.Lock()

    def take(self, info: dict) -> None:
        if info.get("write_gate"):
            return  # this connection's transaction holds it already
        if not self._lock.acquire(timeout=self.TIMEOUT):
            raise sqlite3.OperationalError("database is locked (waited for this process's other writers)")
        info["write_gate"] = True

    def let_go(self, info: dict) -> None:
        if info.pop("write_gate", False):
            self._lock.release()

    @property
    def free(self) -> bool:
        return not self._lock.locked()


def _sqlite_begin_lazily(conn, cursor, statement, _parameters, context, _executemany, *, gate: WriteGate) -> None:
    """SQLite's transaction model: take the write lock only in a transaction that writes.

    A write transaction begins with BEGIN IMMEDIATE: it waits for the lock up front (busy_timeout)
    rather than failing half-way. A read transaction begins deferred (plain BEGIN): in WAL mode it
    reads a snapshot and neither waits for the writer nor blocks it. Which one is the session's
    `info["write"]` (`transaction()` writes, `read_transaction()` reads, a request's session reads
    for GET/HEAD/OPTIONS and writes otherwise); unset means write. A read transaction whose first
    statement writes begins IMMEDIATE all the same; one that writes after reading is upgraded by
    SQLite in place, which cannot deadlock in WAL mode (at worst SQLITE_BUSY at once, never a wait).
    """
    if not conn.info.pop("begin_pending", False):
        return
    write = conn.info.get("write")
    if write is None or (write is False and _writes(statement, context)):
        write = True
    if write:
        gate.take(conn.info)
    try:
        cursor.execute("BEGIN IMMEDIATE" if write else "BEGIN")
    except BaseException:
        gate.let_go(conn.info)
        raise


def _writes(statement: str, context) -> bool:
    compiled = getattr(context, "compiled", None)
    if getattr(getattr(compiled, "statement", None), "_for_update_arg", None) is not None:
        return True  # SELECT … FOR UPDATE: SQLite drops the clause, but the caller means to write
    return statement.lstrip().split(None, 1)[0].upper() in WRITES if statement.strip() else False


@event.listens_for(Session, "after_begin")
def _remember_intent(session: Session, _transaction, connection) -> None:
    if connection.dialect.name == "sqlite":
        connection.info["write"] = session.info.get("write")


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
def transaction(*, write: bool = True) -> Iterator[Session]:
    """A unit of work outside a request: commit on success, roll back on error.

    On SQLite it holds the write lock from its first statement to its end, so keep slow work (parsing,
    network, calendar expansion) outside it; `read_transaction()` takes no lock at all.
    """
    s = _factory()
    s.info["write"] = write
    try:
        yield s
        s.commit()
    except BaseException:
        s.rollback()
        raise
    finally:
        s.close()


def read_transaction() -> AbstractContextManager[Session]:
    """A transaction that only reads: on SQLite a deferred BEGIN (a WAL snapshot, no lock)."""
    return transaction(write=False)


def mark_request_session(method: str) -> None:
    """A request's session reads for GET/HEAD/OPTIONS and writes otherwise (see _sqlite_begin_lazily)."""
    session().info["write"] = method not in ("GET", "HEAD", "OPTIONS")


# ---- writes queued on the session --------------------------------------------------------------

_QUEUED = "herald.queued_writes"  # session.info: {statement: [parameters, …]}, in the order first queued


def write_later(s: Session | scoped_session, statement, parameters: dict) -> None:
    """Queue an INSERT or UPDATE of rows that nothing reads in the transaction that writes them (timeline
    entries, the outbox's rendered messages). Each statement's queue is written in one executemany, in order,
    before the session next reads or deletes anything (a read sees every queued write; only INSERTs and UPDATEs,
    which cannot see them, go ahead), before the ORM flushes a change to a table with queued writes, and before
    the session commits; a rollback drops the queue. A P1 open writes a dozen such rows from as many places:
    each was a statement of its own."""
    if isinstance(s, scoped_session):
        s = s()
    s.info.setdefault(_QUEUED, {}).setdefault(statement, []).append(parameters)


def write_queued(s: Session) -> None:
    """Write the session's queued writes now."""
    queued = s.info.pop(_QUEUED, None)
    for statement, rows in (queued or {}).items():
        s.execute(statement, rows)


def _writes_only(statement, options) -> bool:
    """An INSERT or UPDATE (a construct, or text saying so), or a statement marked READS_NOTHING: it cannot
    see the queued writes, so they may wait."""
    if reads_nothing(options):
        return True
    if getattr(statement, "is_insert", False) or getattr(statement, "is_update", False):
        return True
    sql = getattr(getattr(statement, "element", statement), "text", None)  # text(…).columns(…) wraps its text
    return isinstance(sql, str) and sql.lstrip()[:6].upper() in ("INSERT", "UPDATE")


@event.listens_for(Session, "do_orm_execute")
def _before_a_statement(state) -> None:
    if _QUEUED in state.session.info and not _writes_only(state.statement, state.execution_options):
        write_queued(state.session)


@event.listens_for(Session, "before_flush")
def _before_flush(session, _context, _instances) -> None:
    queued = session.info.get(_QUEUED)
    if not queued:
        return
    tables = {statement.table for statement in queued if getattr(statement, "table", None) is not None}
    if session.deleted or any(getattr(obj, "__table__", None) in tables for obj in session.dirty):
        write_queued(session)  # a delete may remove what a queued row points at; a change must land after ours


@event.listens_for(Session, "before_commit")
def _before_commit(session) -> None:
    write_queued(session)


@event.listens_for(Session, "after_soft_rollback")
def _after_rollback(session, _previous) -> None:
    session.info.pop(_QUEUED, None)


# Execution options of a statement that reads no table (e.g. PostgreSQL's pg_notify): writes queued on the session
# (the timeline's) need not go first.
READS_NOTHING = {"herald_reads_nothing": True}


def reads_nothing(execution_options) -> bool:
    return bool(execution_options.get("herald_reads_nothing"))


def as_loaded(s: Session, model, values: dict, **related):
    """A row just written by a Core INSERT, as if the ORM had read it back: every column in `values` is set,
    `related` relationships are set as loaded, and nothing is selected again (a column left out, such as a
    server default, is read when first asked for). The write path inserts in bulk, then keeps working with
    the objects."""
    row = model(**values)
    make_transient_to_detached(row)
    s.add(row)
    for name, value in related.items():
        set_committed_value(row, name, value)
    return row


def page_of(query, page: dict) -> list:
    """One page of a select: `page` is the loaded PageArgs ({"limit", "offset"}) of a list endpoint."""
    return session.scalars(query.limit(page["limit"]).offset(page["offset"])).all()


BATCH = 100  # rows fetched at a time by the streamed list answers


def page_in_batches(query, page: dict):
    """One page of an ORM select, as `page_of`, but the statement runs now and its rows are fetched
    BATCH at a time as the result is iterated (`yield_per`: a server-side cursor on PostgreSQL), for a
    list answer that streams (`streaming.json_array`). The session does not keep the rows."""
    return session.scalars(query.limit(page["limit"]).offset(page["offset"]).execution_options(yield_per=BATCH))
