"""The payloads monitoring sends, as their senders document them, and Herald's view of groups and events.

Sender schemas ignore fields they do not know: Alertmanager and Grafana add fields over time, and an
upgrade of the sender must not turn every alert into a 422.
"""
from __future__ import annotations

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate, validates_schema

from ..schemas import AwareDateTime, PageArgs
from .models import EVENT_STATUSES, SOURCES
from .normalize import is_rfc3339

STATUSES = ("firing", "resolved")
PAGERDUTY_SEVERITIES = ("critical", "error", "warning", "info")
PAGERDUTY_ACTIONS = ("trigger", "acknowledge", "resolve")


class SenderSchema(Schema):
    class Meta:
        unknown = EXCLUDE


class Rfc3339(fields.String):
    """A timestamp kept as the sender wrote it, checked to be RFC 3339 (Go's zero time, nanoseconds
    and leap seconds included); blank means none."""

    def __init__(self, **kwargs):
        kwargs["metadata"] = {"format": "date-time", **kwargs.get("metadata", {})}
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if text and not is_rfc3339(text):
            raise ValidationError("Not a valid RFC 3339 timestamp.")
        return text


def label_set(**kwargs):
    return fields.Dict(keys=fields.String(), values=fields.String(), **kwargs)


class AlertmanagerAlert(SenderSchema):
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    labels = label_set(required=True)
    annotations = label_set(load_default=dict)
    startsAt = Rfc3339(required=True)
    endsAt = Rfc3339(load_default="")
    generatorURL = fields.String(load_default="")
    fingerprint = fields.String(load_default="")


class AlertmanagerWebhook(SenderSchema):
    """Alertmanager's webhook, version 4."""

    version = fields.String(required=True, validate=validate.Equal("4", error="Herald understands version 4 "
                                                                                 "of the Alertmanager webhook."))
    groupKey = fields.String(required=True, validate=validate.Length(min=1))
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    receiver = fields.String(load_default="")
    alerts = fields.List(fields.Nested(AlertmanagerAlert), required=True, validate=validate.Length(min=1))
    groupLabels = label_set(load_default=dict)
    commonLabels = label_set(load_default=dict)
    commonAnnotations = label_set(load_default=dict)
    externalURL = fields.String(load_default="")
    truncatedAlerts = fields.Integer(load_default=0, validate=validate.Range(min=0))


class GrafanaAlert(AlertmanagerAlert):
    silenceURL = fields.String(load_default="")
    dashboardURL = fields.String(load_default="")
    panelURL = fields.String(load_default="")
    imageURL = fields.String(load_default="")
    values = fields.Dict(keys=fields.String(), allow_none=True, load_default=dict)
    valueString = fields.String(load_default="")


class GrafanaWebhook(AlertmanagerWebhook):
    """Grafana alerting's webhook contact point: Alertmanager's shape plus a few fields."""

    version = fields.String(required=True, validate=validate.Equal("1", error="Herald understands version 1 "
                                                                                 "of Grafana's webhook."))
    alerts = fields.List(fields.Nested(GrafanaAlert), required=True, validate=validate.Length(min=1))
    orgId = fields.Integer(load_default=None, allow_none=True)
    state = fields.String(load_default="")
    title = fields.String(load_default="")
    message = fields.String(load_default="")


class PagerDutyPayload(SenderSchema):
    summary = fields.String(required=True, validate=validate.Length(min=1, max=1024))
    source = fields.String(required=True, validate=validate.Length(min=1, max=255))
    severity = fields.String(required=True, validate=validate.OneOf(PAGERDUTY_SEVERITIES))
    timestamp = Rfc3339(load_default="")
    component = fields.String(allow_none=True)
    group = fields.String(allow_none=True)
    class_ = fields.String(data_key="class", allow_none=True)
    custom_details = fields.Raw(allow_none=True)


class PagerDutyImage(SenderSchema):
    src = fields.String(required=True)
    href = fields.String()
    alt = fields.String()


class PagerDutyLink(SenderSchema):
    href = fields.String(required=True)
    text = fields.String()


class PagerDutyEvent(SenderSchema):
    """PagerDuty Events API v2 (`POST /v2/enqueue`)."""

    routing_key = fields.String(required=True, validate=validate.Length(min=1),
                                metadata={"description": "a Herald token with the ingest scope (400 otherwise, "
                                                         "as PagerDuty answers an unknown key)"})
    event_action = fields.String(required=True, validate=validate.OneOf(PAGERDUTY_ACTIONS))
    dedup_key = fields.String(validate=validate.Length(min=1, max=255),
                              metadata={"description": "required for acknowledge and resolve"})
    payload = fields.Nested(PagerDutyPayload, metadata={"description": "required for trigger"})
    images = fields.List(fields.Nested(PagerDutyImage))
    links = fields.List(fields.Nested(PagerDutyLink))
    client = fields.String()
    client_url = fields.String()

    @validates_schema
    def _action_needs(self, data, **_kwargs):
        action = data.get("event_action")
        if action == "trigger" and "payload" not in data:
            raise ValidationError("is required for a trigger event.", "payload")
        if action in ("acknowledge", "resolve") and not data.get("dedup_key"):
            raise ValidationError(f"is required for an {action} event.", "dedup_key")


class Accepted(Schema):
    id = fields.Integer(metadata={"description": "the stored event; see GET /api/alerts/events/<id>"})
    status = fields.String(metadata={"description": "pending: Herald will process it in the background"})


class AlertOut(Schema):
    fingerprint = fields.String()
    status = fields.String()
    labels = fields.Dict()
    annotations = fields.Dict()
    starts_at = fields.String(allow_none=True)
    ends_at = fields.String(allow_none=True)
    links = fields.Dict()


class AlertGroupOut(Schema):
    id = fields.Integer()
    source = fields.String()
    key = fields.String()
    status = fields.String()
    labels = fields.Dict()
    alerts = fields.Method("_alerts")
    truncated_alerts = fields.Integer()
    incident = fields.Function(lambda g: g.incident.number if g.incident else None, allow_none=True)
    first_seen = AwareDateTime()
    last_seen = AwareDateTime()

    def _alerts(self, group) -> list:
        return AlertOut(many=True).dump([{"fingerprint": fp, **alert} for fp, alert in group.alerts.items()])


class AlertEventOut(Schema):
    id = fields.Integer()
    source = fields.String()
    group_key = fields.String()
    status = fields.String()
    outcome = fields.String(allow_none=True)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    incident_id = fields.Integer(allow_none=True)
    token_name = fields.String()
    received_at = AwareDateTime()
    next_attempt_at = AwareDateTime()
    processed_at = AwareDateTime(allow_none=True)


class AlertEventDetail(AlertEventOut):
    payload = fields.Dict(metadata={"description": "the event as received (PagerDuty: without routing_key)"})


class PagerDutyAccepted(Schema):
    status = fields.String(metadata={"example": "success"})
    message = fields.String(metadata={"example": "Event processed"})
    dedup_key = fields.String()


class PagerDutyError(Schema):
    status = fields.String(metadata={"example": "invalid event"})
    message = fields.String(metadata={"example": "Event object is invalid"})
    errors = fields.List(fields.String())


class GroupListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(STATUSES))
    source = fields.String(validate=validate.OneOf(SOURCES))
    incident = fields.String()


class EventListArgs(PageArgs):
    status = fields.String(validate=validate.OneOf(EVENT_STATUSES))
    source = fields.String(validate=validate.OneOf(SOURCES))
