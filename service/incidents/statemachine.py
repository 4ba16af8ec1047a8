"""The incident status rules, as a pure function: the one place that says which status may follow which."""
from __future__ import annotations

from ..errors import RuleError
from .models import OPEN_STATUSES, STATUSES


class IllegalTransition(RuleError):
    """The status cannot change that way."""


def check_transition(current: str, new: str, *, via_resolve: bool = False) -> None:
    """Raise IllegalTransition unless `current -> new` is allowed.

    Open statuses move freely among themselves; `resolved` only through the resolve action;
    resolved may be closed or reopened as investigating; closed is final.
    """
    if new not in STATUSES:
        raise IllegalTransition(f"unknown status {new!r}")
    if current == "closed":
        raise IllegalTransition("a closed incident cannot change")
    if current == new:
        raise IllegalTransition(f"the incident is already {current}")
    if new == "resolved":
        if current not in OPEN_STATUSES:
            raise IllegalTransition(f"cannot resolve an incident that is {current}")
        if not via_resolve:
            raise IllegalTransition("use POST /api/incidents/<id>/resolve to resolve an incident")
        return
    if current in OPEN_STATUSES:
        if new == "closed":
            raise IllegalTransition("an open incident must be resolved before it is closed")
        return
    # current == "resolved"
    if new not in ("closed", "investigating"):
        raise IllegalTransition("a resolved incident can only be closed or reopened as investigating")


def is_mitigating_transition(new: str) -> bool:
    """Reaching one of these statuses sets `mitigated_at` the first time."""
    return new in ("monitoring", "resolved")
