"""Loaded by the Schemathesis run (`SCHEMATHESIS_HOOKS`): how to send Herald's non-JSON bodies, and the
few rules the API enforces that JSON Schema cannot state.

`positive_data_acceptance` (a request the document calls valid must not get a 4xx but 401/403/404/409)
is what keeps the OpenAPI document honest about constraints. A handful of rules relate two fields or
need the world outside the request, so no schema can say them; they are written in the fields'
descriptions and listed here by their exact messages. Anything else that refuses a schema-valid request
fails the run: add the constraint to the document (a validator's `openapi()`, `validate.*`, metadata).
"""
from __future__ import annotations

import json
import re
import zlib

import schemathesis
from schemathesis.openapi.checks import RejectedPositiveData
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Raw bodies: a calendar and an email message are text on the wire.
schemathesis.serializer.alias(["message/rfc822", "text/calendar", "text/markdown"], "text/plain")

# (status, field, message) of rules beyond JSON Schema. Field None: the message is the whole answer.
BEYOND_SCHEMA = [
    (422, "to", r"must be after 'from'"),                        # a window's end after its start
    (422, "end", r"must be after start"),                        # an override's or a meeting's end after its start
    (422, "end", r"a review meeting lasts at most 8 hours"),     # end relative to start
    (422, "payload", r"is required for a trigger event\."),      # PagerDuty: depends on event_action
    (422, "dedup_key", r"is required for an? \w+ event\."),       # PagerDuty: depends on event_action
    (400, None, r"Invalid routing key"),                         # PagerDuty: the credential is in the body
    (422, "refresh_every", r"must be at most 365 days"),         # "1h30m": a sum of parts
    (422, "refresh_every", r"duration must be positive: .*"),    # "0s": a sum of parts
    (422, "calendar", r".+"),                                    # iCalendar's grammar (RFC 5545), not JSON's
    (422, None, r"unknown person '.*'"),                         # a reference to a person who does not exist
    (422, None, r"no person with handle '.*'"),                  # the same, in the rotations' words
    (422, "start", r"must be in the future"),                    # relative to the clock
    (422, "end", r"the stretch is over: swaps are for shifts to come"),  # relative to the clock
    (422, "to", r"at most 400 days at once"),                    # a report's window: `to` relative to `from`
    (422, None, r"must lie between the years 1900 and 2200"),    # RFC 3339 date-time has no range keyword
    # Text from people and monitoring refuses C0/C1 controls and lone surrogates (service/inputs.py);
    # JSON Schema's `pattern` cannot name unpaired surrogates portably. The answer is a 400 naming the field.
    (400, None, r"malformed request body: [\w\[\]\.]+: text must not hold NUL, control characters or unpaired surrogates"),
]


def _leaves(errors, path=()):
    if isinstance(errors, dict):
        for key, value in errors.items():
            yield from _leaves(value, (*path, str(key)))
    elif isinstance(errors, list) and all(isinstance(v, str) for v in errors):
        for message in errors:
            yield path, message
    elif isinstance(errors, list):
        for index, value in enumerate(errors):
            yield from _leaves(value, (*path, str(index)))
    else:
        yield path, str(errors)


def _beyond_schema(status: int, body) -> bool:
    """Every complaint in the answer is one of the rules JSON Schema cannot express."""
    if not isinstance(body, dict):
        return False
    if status == 400 and body.get("status") == "invalid event":  # PagerDuty's own error shape
        found = [(None, message) for message in body.get("errors", [])]
    else:
        found = [(path[-1] if path else None, message) for path, message in _leaves(body.get("errors") or {})]
    if not found and status == 400 and body.get("message"):
        found = [(None, body["message"])]
    if not found:
        return False
    return all(any(status == s and (f is None or f == field) and re.fullmatch(pattern, message)
                   for s, f, pattern in BEYOND_SCHEMA)
               for field, message in found)


@schemathesis.check
def documented_constraints(ctx, response, case):
    """`positive_data_acceptance`, except for the listed rules beyond JSON Schema."""
    try:
        return positive_data_acceptance(ctx, response, case)
    except RejectedPositiveData:
        try:
            body = json.loads(response.content or b"null")
        except ValueError:
            raise
        if _beyond_schema(response.status_code, body):
            return None
        raise


# What the test seeded (test_openapi_schemathesis.py::seeded). Half of the generated path parameters
# (chosen by a checksum of the value, so the run stays deterministic) are replaced by one of these, so
# that the operations behind an id are reached, not only their 404s.
SEEDED = {"ident": ["1", "INC-20260302-1"], "number": [1], "notification_id": [1], "group_id": [1],
          "event_id": [1], "handle": ["alice", "bob"], "name": ["incident-commander"],
          "role": ["incident_commander", "technical_lead"], "override_id": [1]}


@schemathesis.hook
def map_path_parameters(context, path_parameters):
    if not path_parameters:
        return path_parameters
    for key, value in list(path_parameters.items()):
        known = SEEDED.get(key)
        if known:
            digest = zlib.crc32(repr(value).encode("utf-8", "surrogatepass"))
            if digest % 2 == 0:
                path_parameters[key] = known[(digest >> 1) % len(known)]
    return path_parameters
