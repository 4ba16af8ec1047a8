"""Incidents as the API shows them, read as rows without ORM objects (`GET /api/incidents[/<id>]`).

The hot read: a dashboard polls it. The incident, its roles and their people come from one outer join
as plain rows, wrapped in light objects that `schemas.IncidentOut` dumps exactly as it dumps the model
(the same attribute names), so the schema stays the one statement of the shape. Loading the same thing
as ORM objects (identity map, instance state, one object per row) cost more than the rest of the request,
and a page of a thousand incidents as objects held 16 MB at its peak (bench/memory.py).
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Iterator

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session

from .. import db
from ..inputs import as_id
from ..people.models import Person
from .models import Incident, IncidentRole

_INCIDENT = Incident.__table__
_ROLE = IncidentRole.__table__
_PERSON = Person.__table__
_ROLE_COLUMNS = (
    _ROLE.c.role.label("role_key"),
    _ROLE.c.assigned_at.label("role_assigned_at"),
    _ROLE.c.acknowledged_at.label("role_acknowledged_at"),
    _ROLE.c.acknowledged_via.label("role_acknowledged_via"),
    _PERSON.c.handle.label("person_handle"),
    _PERSON.c.name.label("person_name"),
)


def _select(where) -> Select:
    return (
        select(_INCIDENT, *_ROLE_COLUMNS)
        .select_from(_INCIDENT.outerjoin(_ROLE, _ROLE.c.incident_id == _INCIDENT.c.id)
                     .outerjoin(_PERSON, _PERSON.c.id == _ROLE.c.person_id))
        .where(where)
        .order_by(_ROLE.c.id)
    )


# Built once (only the key is bound): building a statement costs as much as running this one.
_BY_ID = _select(_INCIDENT.c.id == bindparam("key"))
_BY_NUMBER = _select(_INCIDENT.c.number == bindparam("key"))


def incident_view(s: Session, ident: str) -> SimpleNamespace | None:
    """The incident `ident` (an id or an INC number, as `lifecycle.get_by_id_or_number` reads it) with its
    roles, for `IncidentOut`; None when there is no such incident."""
    if ident.isdigit():  # any digits: "²" or an id past 2^31 names no incident
        key = as_id(ident)
        if key is None:
            return None
        statement = _BY_ID
    else:
        key, statement = ident.upper(), _BY_NUMBER
    rows = s.execute(statement, {"key": key}).all()
    if not rows:
        return None
    incident = _incident(rows[0])
    incident.roles = [_role(row) for row in rows if row.role_key is not None]
    return incident


def incident_views(s: Session, query: Select) -> list[SimpleNamespace]:
    """The incidents `query` selects (a select of the incidents table, filtered, ordered and paged), each
    with its roles, for `IncidentOut(many=True)`: two statements, the page and the roles of the page."""
    return _with_roles(s, [_incident(row) for row in s.execute(query)])


def incident_views_in_batches(s: Session, query: Select) -> Iterator[SimpleNamespace]:
    """As `incident_views`, for an answer that streams: the page's statement runs now, its rows are read
    `db.BATCH` at a time (`yield_per`: a server-side cursor on PostgreSQL) and each batch's roles with one
    statement as the batch is reached, so only one batch is held at a time."""
    result = s.execute(query.execution_options(yield_per=db.BATCH))

    def views() -> Iterator[SimpleNamespace]:
        for rows in result.partitions():
            yield from _with_roles(s, [_incident(row) for row in rows])

    return views()


def _with_roles(s: Session, incidents: list[SimpleNamespace]) -> list[SimpleNamespace]:
    by_id = {incident.id: incident for incident in incidents}
    for incident in incidents:
        incident.roles = []
    if by_id:
        roles = (select(_ROLE.c.incident_id, *_ROLE_COLUMNS)
                 .select_from(_ROLE.outerjoin(_PERSON, _PERSON.c.id == _ROLE.c.person_id))
                 .where(_ROLE.c.incident_id.in_(list(by_id))).order_by(_ROLE.c.id))
        for row in s.execute(roles):
            by_id[row.incident_id].roles.append(_role(row))
    return incidents


def _incident(row) -> SimpleNamespace:
    mapping = row._mapping
    return SimpleNamespace(**{column.name: mapping[column] for column in _INCIDENT.columns})


def _role(row) -> SimpleNamespace:
    return SimpleNamespace(
        role=row.role_key,
        person=SimpleNamespace(handle=row.person_handle, name=row.person_name) if row.person_handle else None,
        assigned_at=row.role_assigned_at,
        acknowledged_at=row.role_acknowledged_at,
        acknowledged_via=row.role_acknowledged_via,
    )
