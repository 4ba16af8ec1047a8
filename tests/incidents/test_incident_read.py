"""`GET /api/incidents/<id>` reads rows in one statement (`incidents/read.py`), not ORM objects: its answer
must be exactly what `IncidentOut` makes of the model, for every kind of incident."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import event, select

from service import db
from service.incidents import lifecycle
from service.incidents.models import Incident
from service.incidents.read import incident_view
from service.incidents.schemas import IncidentOut
from tests.conftest import ADMIN, START


def _incidents(make_person, put_on_call, frozen_clock, app) -> None:
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    put_on_call("scribe", None, START - timedelta(days=1))  # a shift naming nobody known
    with app.app_context():
        s = db.session
        previous = None
        for i in range(6):
            frozen_clock.advance(minutes=7)
            incident = lifecycle.open_incident(
                s, title=f"Orders failing {i} – “quoted” <b>", severity=f"P{1 + i % 4}", actor="test",
                impact="No one can trade" if i % 2 else "", financial_impact=1234.5 if i == 1 else None,
                data_breach_suspected=i == 2, links={"alert": f"https://grafana.example/{i}"} if i % 3 else None,
                previous_incident_id=previous.id if previous and i == 4 else None)
            if i in (1, 4):
                lifecycle.acknowledge(s, incident, incident.role("incident_commander").person, via="api", actor="t")
            if i >= 3:
                frozen_clock.advance(minutes=30)
                lifecycle.resolve_incident(s, incident, root_cause="A deploy", resolution="Rolled back", actor="t")
            if i == 5:
                lifecycle.change_incident(s, incident, status="closed", actor="t")
            previous = incident
            s.commit()
        # An incident without any role row at all (as a policy without roles would leave it).
        bare = lifecycle.open_incident(s, title="No roles", severity="P4", actor="test")
        for role in list(bare.roles):
            bare.roles.remove(role)
        s.commit()
        db.session.remove()


def test_the_read_model_dumps_exactly_as_the_model(app, client, make_person, put_on_call, frozen_clock):
    _incidents(make_person, put_on_call, frozen_clock, app)
    schema = IncidentOut()
    with app.app_context():
        incidents = db.session.scalars(select(Incident)).all()
        assert len(incidents) == 7
        for incident in incidents:
            expected = schema.dump(incident)
            for ident in (str(incident.id), incident.number, incident.number.lower()):
                assert schema.dump(incident_view(db.session, ident)) == expected
                assert client.get(f"/api/incidents/{ident}", headers=ADMIN).get_json() == expected
        assert any(i.role("incident_commander") and i.role("incident_commander").acknowledged_at for i in incidents)
        assert not incidents[-1].roles
        for missing in ("999999", "99999999999", "INC-20260302-99", "²"):
            assert incident_view(db.session, missing) is None
            answer = client.get(f"/api/incidents/{missing}", headers=ADMIN)
            assert answer.status_code == 404 and answer.get_json()["message"] == f"incident {missing!r} not found"


def test_reading_an_incident_is_one_statement(app, client, make_person, put_on_call, frozen_clock):
    _incidents(make_person, put_on_call, frozen_clock, app)
    statements = []
    listener = lambda *args: statements.append(args[2])  # noqa: E731
    event.listen(db.engine(), "before_cursor_execute", listener)
    try:
        response = client.get("/api/incidents/1", headers=ADMIN)
    finally:
        event.remove(db.engine(), "before_cursor_execute", listener)
    assert response.status_code == 200 and len(response.get_json()["roles"]) == 5
    assert len(statements) == 1  # the admin token needs no lookup: the incident, roles and people at once


def test_the_list_reads_rows_and_dumps_exactly_as_the_models(app, client, make_person, put_on_call, frozen_clock):
    _incidents(make_person, put_on_call, frozen_clock, app)
    schema = IncidentOut(many=True)
    newest_first = select(Incident).order_by(Incident.started_at.desc(), Incident.id.desc())
    with app.app_context():
        every = schema.dump(db.session.scalars(newest_first).all())
        resolved = schema.dump(db.session.scalars(newest_first.where(Incident.status == "resolved")).all())
    assert client.get("/api/incidents", headers=ADMIN).get_json() == every
    assert client.get("/api/incidents?limit=2&offset=3", headers=ADMIN).get_json() == every[3:5]
    assert client.get("/api/incidents?status=resolved", headers=ADMIN).get_json() == resolved
    assert client.get("/api/incidents?offset=50", headers=ADMIN).get_json() == []
    assert len(resolved) == 2 and any(not i["roles"] for i in every) and any(i["previous_incident"] for i in every)


def test_roles_are_what_role_out_makes_of_them(app, make_person, put_on_call, frozen_clock):
    from service.incidents.schemas import RoleOut

    _incidents(make_person, put_on_call, frozen_clock, app)
    with app.app_context():
        seen = 0
        for incident in db.session.scalars(select(Incident)):
            dumped = IncidentOut().dump(incident)["roles"]
            for r in incident.roles:
                assert dumped[r.role] == RoleOut().dump({
                    "person": r.person.handle if r.person else None, "name": r.person.name if r.person else None,
                    "assigned_at": r.assigned_at, "acknowledged_at": r.acknowledged_at,
                    "acknowledged_via": r.acknowledged_via})
                seen += bool(r.acknowledged_at) + (r.person is None)
        assert seen >= 3  # acknowledged roles and roles held by nobody were both compared
