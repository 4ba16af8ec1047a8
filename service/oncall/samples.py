"""Sample contexts of the on-call messages for `herald templates check`: every variant of each kind."""
from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Australia/Sydney")  # a zone far from UTC, with DST in the southern summer
PERSON = {"handle": "person1", "name": "Person 1", "timezone": str(ZONE)}


def _common(incident) -> dict:
    return {"incident": None, "severity": None, "roles": [], "person": PERSON, "tz": ZONE}


def _stretch(incident, days: int, hours: int) -> dict:
    start = incident.started_at + timedelta(days=days)
    return {"start": start, "end": start + timedelta(hours=hours), "duration": timedelta(hours=hours)}


def _reminder(incident, policy) -> dict:
    role = next(iter(policy.roles.values()))
    return {**_common(incident), "shift": {**_stretch(incident, 1, 168), "rotation": role.rotation or "rotation",
                                           "roles": [role.title], "label": "On call: Person 1", "previous": "Person 2"}}


def _change(incident, policy) -> dict:
    role = next(iter(policy.roles.values()))
    return {**_common(incident), "window": timedelta(days=14), "changes": [
        {"rotation": role.rotation or "rotation", "roles": [role.title],
         "added": [_stretch(incident, 2, 24)], "removed": [_stretch(incident, 3, 48), _stretch(incident, 9, 12)]}]}


def _gaps(incident, policy) -> list[dict]:
    role = next(iter(policy.roles.values()))
    base = {**_stretch(incident, 4, 36), "rotation": role.rotation or "rotation", "roles": [role.title]}
    absence = {**_stretch(incident, 3, 96), "source": "automatic replies", "subject": "Holiday <in> \"Spain\""}
    return [
        {**_common(incident), "person": None, "gap": {**base, "kind": "uncovered", "label": None, "who": None,
                                                      "absence": None}},
        {**_common(incident), "person": None, "gap": {**base, "kind": "uncovered", "label": "On call: Zed",
                                                      "who": None, "absence": None}},
        {**_common(incident), "gap": {**base, "kind": "out_of_office", "label": None, "who": "Person 1",
                                      "absence": absence}},
    ]


def _swaps(incident, policy) -> list[dict]:
    role = next(iter(policy.roles.values()))
    swap = {**_stretch(incident, 2, 10), "id": 7, "rotation": role.rotation or "rotation", "roles": [role.title],
            "requester": "Person 2", "to": None, "reason": "Dentist <appointment>", "status": "open",
            "accepted_by": None}
    accept = "https://herald.example.com/swap/SAMPLE-TOKEN"
    return [
        {**_common(incident), "event": "request", "swap": swap, "accept_url": accept, "reply_yes": True},
        {**_common(incident), "event": "accepted", "swap": {**swap, "status": "accepted", "accepted_by": "Person 1"},
         "accept_url": None, "reply_yes": False},
        {**_common(incident), "event": "request", "swap": {**swap, "to": "Person 3"}, "accept_url": accept,
         "reply_yes": True},
        {**_common(incident), "event": "declined", "swap": {**swap, "to": "Person 3", "status": "declined"},
         "accept_url": None, "reply_yes": False},
        {**_common(incident), "event": "taken", "swap": {**swap, "status": "accepted", "accepted_by": "Person 3"},
         "accept_url": None, "reply_yes": False},
        {**_common(incident), "event": "cancelled", "swap": {**swap, "status": "cancelled"}, "accept_url": None,
         "reply_yes": False},
    ]


SAMPLES = {"shift_reminder": _reminder, "schedule_change": _change, "coverage_gap": _gaps, "swap_request": _swaps}
