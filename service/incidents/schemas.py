from __future__ import annotations

from marshmallow import Schema, fields, validate

from ..schemas import AwareDateTime, PageArgs, StrictSchema, one_of_policy
from .models import OPEN_STATUSES, STATUSES

TEXT = validate.Length(max=10000)


class IncidentCreate(StrictSchema):
    title = fields.String(required=True, validate=validate.Length(min=1, max=500))
    severity = fields.String(required=True, validate=one_of_policy("severities"))
    impact = fields.String(load_default="", validate=TEXT)
    description = fields.String(load_default="", validate=TEXT)
    data_breach_suspected = fields.Boolean(load_default=False)
    financial_impact = fields.Float(allow_none=True, validate=validate.Range(min=0), allow_nan=False)


class IncidentPatch(StrictSchema):
    severity = fields.String(validate=one_of_policy("severities"))
    status = fields.String(validate=validate.OneOf(STATUSES))
    impact = fields.String(validate=TEXT)
    data_breach_suspected = fields.Boolean()
    financial_impact = fields.Float(allow_none=True, validate=validate.Range(min=0), allow_nan=False)


class IncidentListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES + ("open",)))
    severity = fields.String()


class RoleHandover(StrictSchema):
    person = fields.String(required=True, validate=validate.Length(min=1, max=64))


class UpdateCreate(StrictSchema):
    status = fields.String(required=True, validate=validate.OneOf(OPEN_STATUSES))
    impact = fields.String(validate=TEXT)
    learned = fields.String(load_default="", validate=TEXT)
    doing = fields.String(load_default="", validate=TEXT)


class ResolveIn(StrictSchema):
    root_cause = fields.String(required=True, validate=[validate.Length(min=1), TEXT])
    resolution = fields.String(required=True, validate=[validate.Length(min=1), TEXT])


class AcknowledgeIn(StrictSchema):
    person = fields.String(required=True, validate=validate.Length(min=1, max=64))


class RoleOut(Schema):
    person = fields.String(allow_none=True)
    name = fields.String(allow_none=True)
    assigned_at = AwareDateTime(allow_none=True)
    acknowledged_at = AwareDateTime(allow_none=True)
    acknowledged_via = fields.String(allow_none=True)


_ROLE_TIME = AwareDateTime(allow_none=True)  # RoleOut's times, for IncidentOut._roles


class IncidentOut(Schema):
    id = fields.Integer()
    number = fields.String()
    title = fields.String()
    severity = fields.String()
    status = fields.String()
    impact = fields.String()
    description = fields.String()
    source = fields.String()
    links = fields.Dict()
    previous_incident = fields.Method("_previous", allow_none=True)
    started_at = AwareDateTime()
    respond_by = AwareDateTime(allow_none=True)
    acknowledged_at = AwareDateTime(allow_none=True)
    mitigated_at = AwareDateTime(allow_none=True)
    resolved_at = AwareDateTime(allow_none=True)
    closed_at = AwareDateTime(allow_none=True)
    last_update_at = AwareDateTime(allow_none=True)
    next_update_due_at = AwareDateTime(allow_none=True)
    postmortem_due_at = AwareDateTime(allow_none=True)
    data_breach_suspected = fields.Boolean()
    financial_impact = fields.Float(allow_none=True)
    root_cause = fields.String(allow_none=True)
    resolution = fields.String(allow_none=True)
    roles = fields.Method("_roles")

    def _roles(self, incident) -> dict:
        """Each role as `RoleOut` shows it, built directly: a RoleOut dump per role was a third of the cost of
        a list of incidents (five roles each). `test_incident_read` holds the two together."""
        at = _ROLE_TIME._serialize
        return {
            r.role: {
                "person": r.person.handle if r.person else None,
                "name": r.person.name if r.person else None,
                "assigned_at": at(r.assigned_at, "assigned_at", r),
                "acknowledged_at": at(r.acknowledged_at, "acknowledged_at", r),
                "acknowledged_via": r.acknowledged_via,
            }
            for r in incident.roles
        }

    def _previous(self, incident):
        return incident.previous_incident_id


class TimelineOut(Schema):
    id = fields.Integer()
    at = AwareDateTime()
    actor = fields.String()
    kind = fields.String()
    text = fields.String()
    data = fields.Dict()


class UpdateOut(Schema):
    id = fields.Integer()
    kind = fields.String()
    status = fields.String()
    impact = fields.String()
    learned = fields.String()
    doing = fields.String()
    root_cause = fields.String()
    resolution = fields.String()
    automatic = fields.Boolean()
    posted_at = AwareDateTime()
