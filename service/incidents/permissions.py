"""Who may do what to an incident: one rule set for the Teams bot, the console and any other surface.

Pure functions of the incident and the acting person; each answers a `Decision` whose `reason` is
written for the person who was refused ("You are not paged for this incident").
The API's bearer tokens are machine principals and keep their scope rules (`write`, `admin`);
these rules are for people acting as themselves.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Protocol


class _Role(Protocol):
    role: str
    person_id: int | None
    acknowledged_at: object | None


class _Incident(Protocol):
    status: str
    roles: Iterable[_Role]

    @property
    def is_open(self) -> bool: ...


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str = ""

    def __bool__(self) -> bool:
        return self.allowed


ALLOWED = Decision(True)


def held_roles(incident: _Incident, person_id: int | None) -> list[str]:
    """The role keys `person_id` holds on `incident`, in the incident's role order."""
    if person_id is None:
        return []
    return [r.role for r in incident.roles if r.person_id == person_id]


def may_acknowledge(incident: _Incident, person_id: int | None, role: str | None = None) -> Decision:
    """Only the paged person acknowledges, and only their own role(s)."""
    if not incident.is_open:
        return Decision(False, f"The incident is {incident.status}; there is nothing to acknowledge.")
    roles = held_roles(incident, person_id)
    if not roles:
        return Decision(False, "You are not paged for this incident.")
    if role is not None and role not in roles:
        return Decision(False, "You do not hold this role on this incident; only its holder can acknowledge it.")
    return ALLOWED


def may_update(incident: _Incident, person_id: int | None) -> Decision:
    """Status updates come from a holder of one of the incident's roles."""
    if not incident.is_open:
        return Decision(False, f"The incident is {incident.status}; updates are closed.")
    if not held_roles(incident, person_id):
        return Decision(False, "Only a holder of one of this incident's roles can post an update.")
    return ALLOWED


def may_resolve(incident: _Incident, person_id: int | None) -> Decision:
    """Resolving is for role holders, like updates."""
    if not incident.is_open:
        return Decision(False, f"The incident is already {incident.status}.")
    if not held_roles(incident, person_id):
        return Decision(False, "Only a holder of one of this incident's roles can resolve it.")
    return ALLOWED


def may_hand_over(incident: _Incident, person_id: int | None, role: str, commander_role: str) -> Decision:
    """A role changes hands by its holder or by the incident's commander."""
    if not incident.is_open:
        return Decision(False, f"The incident is {incident.status}; roles no longer change hands.")
    if role not in {r.role for r in incident.roles}:
        return Decision(False, f"This incident has no role '{role}'.")
    roles = held_roles(incident, person_id)
    if role in roles or commander_role in roles:
        return ALLOWED
    return Decision(False, "Only the role's holder or the Incident Commander can hand this role over.")
