"""The long answers stream (`service/streaming.py`): `GET /api/notifications`,
`GET /api/incidents/<id>/notifications`, `GET /api/incidents` and `GET /status.json`.

Byte for byte what flask-smorest's `jsonify(Schema(many=True).dump(rows))` wrote before they streamed
(also with the ack tokens and webhook URLs a reader may not see), bad input answered before the first
byte, and the request's database session open while the body is read and closed once it is written,
or once the server closes a response it did not read to the end.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from flask import g, jsonify
from sqlalchemy import select
from werkzeug.test import EnvironBuilder

from service import clock, db, streaming
from service.auth import authenticate
from service.incidents.models import Incident
from service.incidents.read import incident_views
from service.incidents.schemas import IncidentOut
from service.notify.models import Notification
from service.notify.schemas import NotificationOut
from service.runtime import policy
from service.web.public import as_json, status_snapshot
from tests.conftest import ADMIN, START

ADMIN_SECRET = ADMIN["Authorization"].split()[1]


@pytest.fixture
def history(app, client, make_person, put_on_call, frozen_clock):
    """Incidents of every severity, each with its roles and its outbox rows (pages carry ack tokens)."""
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob “Bobby” Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    for i in range(9):
        frozen_clock.advance(minutes=3)
        answer = client.post("/api/incidents", headers=ADMIN, json={
            "title": f"Orders failing {i} – <b>“quoted”</b> \u2603", "severity": f"P{1 + i % 4}",
            "impact": "No one can trade" if i % 2 else ""})
        assert answer.status_code == 201, answer.get_json()
    with app.app_context():
        assert db.session.scalar(select(Notification.id).where(Notification.ack_token.is_not(None)).limit(1))
        db.session.remove()


def _whole(app, secret: str, schema, rows_of) -> bytes:
    """What the list answer was before it streamed: the whole list dumped, then `jsonify`."""
    with app.test_request_context():
        g.principal = authenticate(secret)
        try:
            return jsonify(schema.dump(rows_of(db.session))).get_data()
        finally:
            db.session.remove()


def _notifications(query):
    return lambda s: s.scalars(query.order_by(Notification.id)).all()


def test_the_streamed_lists_are_byte_for_byte_the_whole_ones(app, client, history, token_for, monkeypatch):
    monkeypatch.setattr(db, "BATCH", 4)  # several batches and chunks even in a small database
    monkeypatch.setattr(streaming, "CHUNK_CHARACTERS", 3000)
    reader = token_for("read")
    with app.app_context():
        incident = db.session.scalars(select(Incident).order_by(Incident.id)).first()
        db.session.remove()
    everything, one_page = select(Notification), select(Notification).limit(5).offset(3)
    by_incident = select(Notification).where(Notification.incident_id == incident.id)
    cases = [
        ("/api/notifications?limit=1000", _notifications(everything), NotificationOut(many=True)),
        ("/api/notifications?limit=5&offset=3", _notifications(one_page), NotificationOut(many=True)),
        ("/api/notifications?offset=100000", lambda s: [], NotificationOut(many=True)),
        (f"/api/incidents/{incident.id}/notifications", _notifications(by_incident), NotificationOut(many=True)),
        ("/api/incidents?limit=1000", lambda s: incident_views(s, select(Incident.__table__).order_by(
            Incident.started_at.desc(), Incident.id.desc())), IncidentOut(many=True)),
        ("/api/incidents?status=open&limit=4&offset=2", lambda s: incident_views(s, select(Incident.__table__).where(
            Incident.status == "investigating").order_by(Incident.started_at.desc(), Incident.id.desc())
            .limit(4).offset(2)), IncidentOut(many=True)),
    ]
    for path, rows_of, schema in cases:
        for headers, secret in ((ADMIN, ADMIN_SECRET), (reader, reader["Authorization"].split()[1])):
            answer = client.get(path, headers=headers)
            assert answer.status_code == 200 and answer.mimetype == "application/json"
            assert answer.get_data() == _whole(app, secret, schema, rows_of), path
    assert len(client.get("/api/notifications?limit=1000", headers=ADMIN).get_json()) > 3 * 4  # several batches
    redacted = client.get("/api/notifications?limit=1000", headers=reader).get_data(as_text=True)
    assert "REDACTED" in redacted  # a reader does not see the pages' ack tokens


def test_bad_input_is_answered_before_the_first_byte(app, client, history):
    for path in ("/api/notifications?limit=0", "/api/notifications?kind=nope", "/api/incidents?limit=5000",
                 "/api/incidents/999999/notifications"):
        answer = client.get(path, headers=ADMIN)
        assert answer.status_code in (404, 422), path
        assert set(answer.get_json()) == {"code", "message", "errors"}
        assert answer.content_length  # a whole answer, not a stream
    assert client.get("/api/notifications").status_code == 401


@pytest.mark.parametrize("path", ["/api/notifications?limit=1000", "/api/incidents?limit=1000"])
def test_the_session_stays_open_while_the_body_streams_and_closes_after(app, client, history, monkeypatch, path):
    monkeypatch.setattr(db, "BATCH", 2)
    monkeypatch.setattr(streaming, "CHUNK_CHARACTERS", 200)
    pool = db.engine().pool
    assert pool.checkedout() == 0

    # Read to the end, slowly: every chunk after the first is read after the view has returned.
    answer = client.get(path, headers=ADMIN, buffered=False)
    chunks = [next(answer.response)]
    assert pool.checkedout() == 1  # the body's session, mid-stream
    chunks += list(answer.response)
    assert len(chunks) > 5
    assert pool.checkedout() == 0  # closed with the last byte
    whole = client.get(path, headers=ADMIN).get_data()
    assert b"".join(chunks) == whole and json.loads(whole)
    answer.close()
    assert pool.checkedout() == 0

    # The client goes away mid-stream: the server closes the response.
    answer = client.get(path, headers=ADMIN, buffered=False)
    next(answer.response)
    assert pool.checkedout() == 1
    answer.close()
    assert pool.checkedout() == 0

    # The server never reads the body at all, and closes it.
    environ = EnvironBuilder(path=path, headers=ADMIN).get_environ()
    body = app(environ, lambda status, headers, exc_info=None: None)
    assert pool.checkedout() == 1
    body.close()
    assert pool.checkedout() == 0

    # Meanwhile and after, the thread's own session is a fresh one: the next request reads normally.
    assert client.get("/api/incidents?limit=1", headers=ADMIN).status_code == 200
    assert pool.checkedout() == 0


def test_the_status_document_streams_byte_for_byte(app, client, history, frozen_clock, monkeypatch):
    monkeypatch.setattr(streaming, "CHUNK_CHARACTERS", 500)
    for i, path in enumerate(("resolve", "resolve", None)):
        if path:
            assert client.post(f"/api/incidents/{i + 1}/resolve", headers=ADMIN,
                               json={"root_cause": "A “bad” deploy", "resolution": "Rolled back"}).status_code == 200
        frozen_clock.advance(minutes=5)
        streamed = client.get("/status.json")
        assert streamed.status_code == 200 and streamed.headers["Access-Control-Allow-Origin"] == "*"
        with app.test_request_context():
            whole = jsonify(as_json(status_snapshot(db.session, clock.now(), policy()))).get_data()
            db.session.remove()
        assert streamed.get_data() == whole
        body = json.loads(whole)
        assert body["incidents"] and (body["resolved"] or not i)
    assert db.engine().pool.checkedout() == 0
