"""Who may do what in the console.

People act as themselves under the incident rules shared with the Teams bot (`permissions.py`):
the paged person acknowledges, role holders update and resolve, a role's holder or the commander
hands it over. An API token keeps its scope rules (`write` acts, `admin` administers), as on the API.
Admins — handles in HERALD_ADMINS or members of HERALD_OIDC_ADMIN_GROUP — manage people, rotations
and tokens, and may work on any incident's review.
"""
from __future__ import annotations

from ..incidents import permissions
from ..incidents.permissions import ALLOWED, Decision
from ..runtime import config, policy
from ..web.login import Viewer

NEEDS_WRITE = Decision(False, "Your API token may only read; sign in with a token that has the write scope.")
NEEDS_ADMIN = Decision(False, "Only Herald's admins may do this.")


def is_admin(viewer: Viewer) -> bool:
    if viewer.principal is not None:
        return viewer.principal.can("admin")
    return viewer.admin_group or viewer.person.handle in config().admins


def _person_id(viewer: Viewer) -> int | None:
    return viewer.person.id if viewer.person else None


def _as_token(viewer: Viewer) -> Decision:
    return ALLOWED if viewer.has_scope("write") else NEEDS_WRITE




def may_open(viewer: Viewer) -> Decision:
    return _as_token(viewer) if viewer.principal else ALLOWED


def may_acknowledge(viewer: Viewer, incident, role: str | None = None) -> Decision:
    if viewer.principal:  # as on the API: a write token acknowledges on the holder's behalf
        return _as_token(viewer) if incident.is_open else permissions.may_acknowledge(incident, None)
    return permissions.may_acknowledge(incident, _person_id(viewer), role)


def may_update(viewer: Viewer, incident) -> Decision:
    if viewer.principal:
        return _as_token(viewer) if incident.is_open else permissions.may_update(incident, None)
    return permissions.may_update(incident, _person_id(viewer))


def may_resolve(viewer: Viewer, incident) -> Decision:
    if viewer.principal:
        return _as_token(viewer) if incident.is_open else permissions.may_resolve(incident, None)
    return permissions.may_resolve(incident, _person_id(viewer))


def may_hand_over(viewer: Viewer, incident, role: str) -> Decision:
    if viewer.principal:
        if not incident.is_open:
            return permissions.may_hand_over(incident, None, role, policy().commander_role)
        return _as_token(viewer)
    return permissions.may_hand_over(incident, _person_id(viewer), role, policy().commander_role)


def may_review(viewer: Viewer, incident) -> Decision:
    """The post-mortem, action items and review meeting: the incident's role holders, and admins."""
    if viewer.principal:
        return _as_token(viewer)
    if is_admin(viewer) or permissions.held_roles(incident, _person_id(viewer)):
        return ALLOWED
    return Decision(False, "Only the incident's role holders and admins can change its review.")


def may_retry(viewer: Viewer, incident) -> Decision:
    """Sending a dead message again: the incident's role holders, and admins."""
    return may_review(viewer, incident)


def may_override(viewer: Viewer, person) -> Decision:
    """Anyone may put themselves on call (take a shift); admins may put anyone."""
    if viewer.principal:
        return _as_token(viewer)
    if is_admin(viewer) or (person is not None and person.id == viewer.person.id):
        return ALLOWED
    return Decision(False, "You can only put yourself on call; an admin can put someone else.")


def may_remove_override(viewer: Viewer, override) -> Decision:
    if viewer.principal:
        return _as_token(viewer)
    if is_admin(viewer) or override.person_id == viewer.person.id or override.created_by == viewer.actor:
        return ALLOWED
    return Decision(False, "You can only remove your own overrides; an admin can remove any.")


def may_administer(viewer: Viewer) -> Decision:
    return ALLOWED if is_admin(viewer) else NEEDS_ADMIN


def may_have_feed(viewer: Viewer, person) -> Decision:
    """A person's calendar-feed link: the person themselves, or an admin."""
    if is_admin(viewer) or (viewer.person is not None and viewer.person.id == person.id):
        return ALLOWED
    return Decision(False, "Only the person themselves (or an admin) can make their calendar link.")
