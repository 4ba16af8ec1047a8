"""The timeline is written in bulk: entries wait on the session until something could read them."""
from sqlalchemy import delete, event, func, select

from service import db
from service.incidents import lifecycle
from service.incidents.models import Incident, TimelineEntry
from service.incidents.timeline import entry, record, record_many


def timeline_inserts(run) -> int:
    """How many INSERT statements into timeline_entries `run()` sent."""
    seen = []

    def count(_conn, _cursor, statement, *_):
        if statement.lstrip().upper().startswith("INSERT INTO TIMELINE_ENTRIES"):
            seen.append(statement)

    event.listen(db.engine(), "before_cursor_execute", count)
    try:
        run()
    finally:
        event.remove(db.engine(), "before_cursor_execute", count)
    return len(seen)


def test_opening_an_incident_writes_its_whole_timeline_in_one_statement(app, make_person, put_on_call):
    from datetime import timedelta

    from service import clock
    make_person("alice")
    for rotation in ("incident-commander", "technical-lead", "on-call-engineer"):
        put_on_call(rotation, "alice", clock.now() - timedelta(hours=1))
    with app.app_context():
        def open_p1():
            with db.transaction() as s:
                lifecycle.open_incident(s, title="Checkout down", severity="P1", actor="test")
        assert timeline_inserts(open_p1) == 1
        kinds = db.session.scalars(select(TimelineEntry.kind).order_by(TimelineEntry.id)).all()
    # in the order they were recorded: opened, the roles, the initial update, then the pages
    assert kinds[0] == "opened"
    assert kinds.index("role_assigned") < kinds.index("update") < kinds.index("paged")


def test_a_read_in_the_same_transaction_sees_what_was_recorded(app):
    with app.app_context(), db.transaction() as s:
        incident = lifecycle.open_incident(s, title="t", severity="P3", actor="test")
        record(s, incident, "note", "first", actor="test")
        record_many(s, incident, [entry("note", "second"), entry("note", "third")])
        texts = s.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "note")
                          .order_by(TimelineEntry.id)).all()
        assert texts == ["first", "second", "third"]


def test_a_rollback_drops_the_queued_entries(app):
    with app.app_context():
        with db.transaction() as s:
            incident = lifecycle.open_incident(s, title="t", severity="P3", actor="test")
        s = db.session()
        record(s, s.get(Incident, incident.id), "note", "never", actor="test")
        s.rollback()
        with db.transaction() as s:
            record(s, s.get(Incident, incident.id), "note", "kept", actor="test")
        notes = db.session.scalars(select(TimelineEntry.text).where(TimelineEntry.kind == "note")).all()
    assert notes == ["kept"]


def test_deleting_the_incident_writes_the_queue_first(app):
    """A delete (the ORM's or a statement's) goes after the queue, so an entry never outlives its incident."""
    with app.app_context():
        with db.transaction() as s:
            incident = lifecycle.open_incident(s, title="t", severity="P3", actor="test")
        with db.transaction() as s:
            record(s, s.get(Incident, incident.id), "note", "before the delete", actor="test")
            s.execute(delete(TimelineEntry).where(TimelineEntry.incident_id == incident.id))
        left = db.session.scalar(select(func.count()).select_from(TimelineEntry))
    assert left == 0
