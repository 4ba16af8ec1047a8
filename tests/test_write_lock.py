"""SQLite: only a transaction that writes takes the write lock, so one slow request cannot stop paging."""
import sqlite3
import threading

import pytest
from sqlalchemy import select

from service import db
from service.acks import inbound
from service.auth import ApiToken
from service.incidents import lifecycle
from tests.conftest import ADMIN, in_threads


def write_lock_free(url: str) -> bool:
    """Whether another connection could take the write lock right now (no waiting)."""
    conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        conn.close()


@pytest.fixture
def sqlite_only(database_url):
    if not database_url.startswith("sqlite"):
        pytest.skip("the write lock is SQLite's")
    return database_url


def test_a_read_transaction_takes_no_lock_and_a_write_one_does(app, sqlite_only):
    with app.app_context():
        with db.read_transaction() as s:
            s.scalars(select(ApiToken)).all()
            assert write_lock_free(sqlite_only)
            done = threading.Event()

            def write():
                with app.app_context(), db.transaction() as w:
                    lifecycle.open_incident(w, title="meanwhile", severity="P3", actor="test")
                done.set()

            writer = threading.Thread(target=write)
            writer.start()
            assert done.wait(10), "a writer waited for a reader"
            writer.join()
        with db.transaction() as s:
            s.scalars(select(ApiToken)).all()
            assert not write_lock_free(sqlite_only)
        assert write_lock_free(sqlite_only)


def test_get_requests_read_without_the_lock(app, client, sqlite_only, monkeypatch):
    from service.incidents import views

    seen = []
    original = views.session.execute  # the list reads rows (incidents/read.py)

    def spy(*args, **kwargs):
        seen.append(write_lock_free(sqlite_only))
        return original(*args, **kwargs)

    monkeypatch.setattr(views.session, "execute", spy)
    assert client.get("/api/incidents", headers=ADMIN).status_code == 200
    assert seen and all(seen)


def test_inbound_mail_is_parsed_before_the_write_lock_is_taken(app, client, sqlite_only, token_for, monkeypatch):
    """The token check of a POST and the parsing of its message hold no lock (a 1.6 MB folded header held the
    write lock for 62 s: health 503, no tick, no send)."""
    headers = {**token_for("ingest"), "Content-Type": "message/rfc822"}
    seen = []
    original = inbound.read

    def spy(raw, **kwargs):
        seen.append(write_lock_free(sqlite_only))
        return original(raw, **kwargs)

    monkeypatch.setattr("service.acks.views.read", spy)
    response = client.post("/api/inbound/email", data=b"From: a@example.com\r\nSubject: hi\r\n\r\nack\r\n",
                           headers=headers)
    assert response.status_code == 200
    assert seen == [True]


HUGE_FOLDED = b"From: a@example.com\r\nTo: " + b",\r\n ".join(b"<x%d@example.com>" % i for i in range(4000)) + \
    b"\r\nSubject: hi\r\n\r\nack\r\n"
MANY_FIELDS = b"From: a@example.com\r\n" + b"".join(b"X-F%d: v\r\n" % i for i in range(2000)) + b"\r\nack\r\n"
DEEP_MIME = (b"From: a@example.com\r\nSubject: deep\r\n"
             + b"".join(b"Content-Type: multipart/mixed; boundary=b%d\r\n\r\n--b%d\r\n" % (i, i) for i in range(1000))
             + b"Content-Type: text/plain\r\n\r\nack\r\n")
IDNA = b"From: a@example.com\r\nSubject: x\r\nContent-Type: text/plain; charset=idna\r\n\r\n" + b"a" * 70 + b"\r\n"


@pytest.mark.parametrize("raw, reason", [(HUGE_FOLDED, "header field"), (MANY_FIELDS, "header fields"),
                                         (DEEP_MIME, "MIME parts")], ids=["folded", "fields", "mime"])
def test_a_header_beyond_the_limits_is_refused_before_parsing(client, raw, reason):
    response = client.post("/api/inbound/email", data=raw, headers={**ADMIN, "Content-Type": "message/rfc822"})
    assert response.status_code == 400, response.get_json()
    assert reason in response.get_json()["message"]


def test_an_unusable_charset_is_read_not_a_server_error(client):
    response = client.post("/api/inbound/email", data=IDNA, headers={**ADMIN, "Content-Type": "message/rfc822"})
    assert response.status_code == 200


def test_writers_of_this_process_queue_at_the_gate_and_every_way_out_lets_it_go(app, sqlite_only):
    """The in-process write gate (db.WriteGate) is held exactly while SQLite's write lock is: taken at
    BEGIN IMMEDIATE, let go at commit, at rollback, and when a session is closed without either."""
    with app.app_context():
        gate = db.engine().herald_write_gate
        with db.read_transaction() as s:
            s.scalars(select(ApiToken)).all()
            assert gate.free  # readers never queue
        with db.transaction() as s:
            lifecycle.open_incident(s, title="committed", severity="P3", actor="test")
            assert not gate.free
        assert gate.free
        with pytest.raises(RuntimeError):
            with db.transaction() as s:
                lifecycle.open_incident(s, title="rolled back", severity="P3", actor="test")
                raise RuntimeError("the caller fails")
        assert gate.free
        s = db.session()
        s.info["write"] = True
        s.scalars(select(ApiToken)).all()
        assert not gate.free
        db.session.remove()  # closed, neither committed nor rolled back by the caller
        assert gate.free

        def write(n: int) -> None:
            for i in range(5):
                with db.transaction() as w:
                    lifecycle.open_incident(w, title=f"writer {n}.{i}", severity="P3", actor="test")

        errors = in_threads(app, write, 6)
        assert errors == [] and gate.free
        assert write_lock_free(sqlite_only)
