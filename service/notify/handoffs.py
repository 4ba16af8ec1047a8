"""Rotation handoffs during open incidents of the policy's `handoff_severities` (P1 and P2 unless told
otherwise): when a role's rotation names a new owner, the role moves.

Each tick compares every such open incident role's rotation owner with the owner last seen for it
(`RoleOwnerSeen`). Only a change moves the role, so a manual handover is not undone until the
rotation itself hands over; a role that returns to the calendar's owner when a cover ends moves back.
The first time an incident is seen (just opened, or just raised into those severities), an empty role is filled and a
role still held from before the current shift began is moved. The new owner is told through the
outbox with the `handoff` template (it carries an acknowledgement link, like a page).
"""
from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from .. import db
from ..errors import RuleError
from ..incidents.lifecycle import hand_over_role
from ..incidents.models import OPEN_STATUSES, Incident, IncidentRole
from ..incidents.timeline import record
from ..people.models import Person
from ..rotations.models import RoleOwnerSeen
from ..rotations.oncall import OnCall, owners_at
from ..runtime import holidays, policy
from .cadence import page_not_before
from .context import role_data
from .outbox import notify, recipients_for_person

log = logging.getLogger("herald.rotations")  # rotation news, whoever acts on it


def hand_over_on_rotation(now: datetime) -> None:
    """One read finds the incidents where a rotation names someone other than the owner last seen (or that were
    never seen); only those get a write transaction, where the owners are looked up again. A quiet tick costs
    four queries and takes no write lock, however many incidents are open."""
    severities = list(policy().handoff_severities)
    rotations = {key: role.rotation for key, role in policy().roles.items() if role.rotation}
    with db.read_transaction() as s:
        incident_ids = s.scalars(
            select(Incident.id).where(Incident.status.in_(OPEN_STATUSES), Incident.severity.in_(severities))
        ).all()
        if not incident_ids:
            return
        current = _owner_ids(owners_at(s, rotations.values(), now), rotations)
        seen = {(incident_id, role): person_id for incident_id, role, person_id in s.execute(
            select(RoleOwnerSeen.incident_id, RoleOwnerSeen.role, RoleOwnerSeen.person_id)
            .where(RoleOwnerSeen.incident_id.in_(incident_ids)))}
    missing = object()
    for incident_id in incident_ids:
        if all(seen.get((incident_id, key), missing) == person_id for key, person_id in current.items()):
            continue  # every role's owner is the one last seen: nothing to do
        try:
            with db.transaction() as s:
                incident = s.get(Incident, incident_id)
                if incident is not None:
                    _follow_rotations(s, incident, now, owners_at(s, rotations.values(), now))
        except RuleError as exc:  # e.g. resolved between the query and now
            log.info("no rotation handoff on incident %s: %s", incident_id, exc)


def _owner_ids(owners: dict[str, OnCall], rotations: dict[str, str]) -> dict[str, int | None]:
    """{role key: the person id its rotation names now, or None}."""
    return {key: owner.person.id if (owner := owners.get(rotation)) and owner.person else None
            for key, rotation in rotations.items()}


def _follow_rotations(s, incident: Incident, now: datetime, owners: dict[str, OnCall]) -> None:
    for key, role in policy().roles.items():
        if not role.rotation:
            continue
        owner = owners.get(role.rotation)
        person = owner.person if owner else None
        seen = s.get(RoleOwnerSeen, (incident.id, key))
        slot = incident.role(key)
        if seen is None:
            s.add(RoleOwnerSeen(incident_id=incident.id, role=key, person_id=person.id if person else None,
                                seen_at=now))
            if person is not None and _stale(slot, owner):
                _hand_over(s, incident, key, person, now)
            continue
        if seen.person_id == (person.id if person else None):
            continue
        seen.person_id, seen.seen_at = (person.id if person else None), now
        if person is None or (slot is not None and slot.person_id == person.id):
            continue  # a gap in the rotation keeps the current holder; or they already hold it
        _hand_over(s, incident, key, person, now)


def _hand_over(s, incident: Incident, key: str, person: Person, now: datetime) -> None:
    previous = incident.role(key).person if incident.role(key) is not None else None
    hand_over_role(s, incident, key, person, actor="herald", reason="rotation")
    severity = policy().severities[incident.severity]
    sent = notify(s, incident=incident, kind="handoff", slot=f"rotation-{key}-{now:%Y%m%dT%H%M%SZ}",
                  recipients=recipients_for_person(person, severity.channels),
                  context={"role": role_data(policy(), key), "previous": previous.name if previous else ""},
                  not_before=page_not_before(severity, now, policy(), holidays()))
    if sent:
        record(s, incident, "handoff_sent", f"Told {person.name} they are now {policy().role_title(key)}",
               role=key, person=person.handle, channels=sorted({n.channel for n in sent}),
               notifications=[n.id for n in sent])


def _stale(slot: IncidentRole | None, owner: OnCall) -> bool:
    """On first sight: the role is empty, or its holder got it before the current owner's shift began."""
    if slot is None or slot.person is None:
        return True
    if slot.person_id == owner.person.id:
        return False
    return slot.assigned_at is not None and slot.assigned_at < owner.start
