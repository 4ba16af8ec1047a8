"""Monitoring endpoints: validate, store, answer in milliseconds. Incidents are opened behind them."""
from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass

from flask import current_app, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import selectinload
from werkzeug.exceptions import RequestEntityTooLarge, ServiceUnavailable, TooManyRequests

from ..auth import current_principal, hash_token, presented_token, require_scope
from ..db import page_of, session
from ..errors import not_found
from ..incidents.lifecycle import get_by_id_or_number
from ..inputs import TooDeep, load_json, monitoring_text
from . import inbox
from .models import AlertEvent, AlertGroup
from .normalize import pagerduty_group_key, webhook_group_key
from .ratelimit import ConcurrencyGate, TokenBuckets, retry_after_seconds
from .tokens import RecentPrincipals, remembered
from .schemas import (
    Accepted,
    AlertEventDetail,
    AlertEventOut,
    AlertGroupOut,
    AlertmanagerWebhook,
    EventListArgs,
    GrafanaWebhook,
    GroupListArgs,
    PagerDutyAccepted,
    PagerDutyError,
    PagerDutyEvent,
)

# Half of `herald serve`'s 16 threads may ingest at once; the rest stay free for people.
INGEST_CONCURRENCY = 8
PAGERDUTY_MAX_BYTES = 512 * 1024  # PagerDuty's documented limit

blp = Blueprint("alerts", __name__, url_prefix="/api/alerts",
                description="Monitoring: Alertmanager and Grafana webhooks, alert groups, received events")
pagerduty = Blueprint("pagerduty", __name__, url_prefix="/v2",
                      description="PagerDuty Events API v2: point a PagerDuty-speaking tool at Herald")


@dataclass
class Ingest:
    buckets: TokenBuckets
    gate: ConcurrencyGate
    recent: RecentPrincipals


def init_app(app) -> None:
    config = app.config["HERALD"]
    app.extensions["herald.ingest"] = Ingest(TokenBuckets(config.ingest_rate, config.ingest_burst),
                                             ConcurrencyGate(INGEST_CONCURRENCY), RecentPrincipals())


def _ingest() -> Ingest:
    return current_app.extensions["herald.ingest"]


def _throttle_wait(credential: str | None) -> float:
    """Seconds to wait before this credential may send again (0: go ahead)."""
    return _ingest().buckets.take(hash_token(credential or ""))


def _recent_principal(token: str | None):
    return remembered(_ingest().recent, token)


def rate_limited(view):
    """429 + Retry-After when the token's bucket is empty or every ingest slot is busy (checked before
    the token is even looked up, so a flood costs no database work)."""

    @functools.wraps(view)
    def wrapper(*args, **kwargs):
        wait = _throttle_wait(presented_token())
        if wait:
            raise TooManyRequests("this token is sending too fast", retry_after=retry_after_seconds(wait))
        gate = _ingest().gate
        if not gate.try_enter():
            raise TooManyRequests("Herald is busy ingesting; retry shortly", retry_after=1)
        try:
            return view(*args, **kwargs)
        finally:
            gate.leave()

    return wrapper


def _accept(source: str, payload: dict) -> dict:
    try:
        event_id = inbox.writer.submit(source=source, group_key=webhook_group_key(source, payload),
                                       payload=payload, token_name=current_principal().name)
    except inbox.InboxUnavailable as exc:  # Alertmanager and Grafana retry a 5xx
        raise ServiceUnavailable(str(exc), retry_after=5) from exc
    return {"id": event_id, "status": "pending"}


@blp.route("/alertmanager", methods=["POST"])
@monitoring_text
@rate_limited
@require_scope("ingest", lookup=_recent_principal)
@blp.arguments(AlertmanagerWebhook())  # one instance for every request: no schema built per call
@blp.response(202, Accepted)
def alertmanager(_data):
    """Alertmanager webhook (version 4). Token as Bearer or as the HTTP basic password."""
    return _accept("alertmanager", request.get_json())


@blp.route("/grafana", methods=["POST"])
@monitoring_text
@rate_limited
@require_scope("ingest", lookup=_recent_principal)
@blp.arguments(GrafanaWebhook())
@blp.response(202, Accepted)
def grafana(_data):
    """Grafana alerting's webhook contact point. Token as Bearer or as the HTTP basic password."""
    return _accept("grafana", request.get_json())


@blp.route("/groups", methods=["GET"])
@require_scope("read")
@blp.arguments(GroupListArgs, location="query")
@blp.response(200, AlertGroupOut(many=True))
def list_groups(args):
    query = select(AlertGroup).options(selectinload(AlertGroup.incident))
    if args.get("status"):
        query = query.where(AlertGroup.status == args["status"])
    if args.get("source"):
        query = query.where(AlertGroup.source == args["source"])
    if args.get("incident"):
        incident = get_by_id_or_number(session, args["incident"])
        if incident is None:
            raise not_found(f"incident {args['incident']!r}")
        query = query.where(AlertGroup.incident_id == incident.id)
    query = query.order_by(AlertGroup.last_seen.desc(), AlertGroup.id.desc())
    return page_of(query, args)


@blp.route("/groups/<int:group_id>", methods=["GET"])
@require_scope("read")
@blp.response(200, AlertGroupOut)
def get_group(group_id):
    group = session.get(AlertGroup, group_id)
    if group is None:
        raise not_found(f"alert group {group_id}")
    return group


@blp.route("/events", methods=["GET"])
@require_scope("read")
@blp.arguments(EventListArgs, location="query")
@blp.response(200, AlertEventOut(many=True))
def list_events(args):
    """What Herald received and what it did with each (pending, done, dead after repeated failures)."""
    query = select(AlertEvent)
    if args.get("status"):
        query = query.where(AlertEvent.status == args["status"])
    if args.get("source"):
        query = query.where(AlertEvent.source == args["source"])
    query = query.order_by(AlertEvent.id.desc())
    return page_of(query, args)


@blp.route("/events/<int:event_id>", methods=["GET"])
@require_scope("read")
@blp.response(200, AlertEventDetail)
def get_event(event_id):
    event = session.get(AlertEvent, event_id)
    if event is None:
        raise not_found(f"alert event {event_id}")
    return event


# ---- PagerDuty Events API v2: PagerDuty's own answers, not Herald's error shape ----------------

def _pagerduty_error(status: int, errors: list[str]):
    body = {"status": "invalid event", "message": "Event object is invalid", "errors": errors}
    return jsonify(body), status


def _throttled(wait: float):
    body = {"status": "throttle event", "message": "Requests for this service are arriving too quickly. "
                                                   "Please retry later."}
    return jsonify(body), 429, {"Retry-After": str(retry_after_seconds(wait))}


def _error_lines(messages, path: str = "") -> list[str]:
    """marshmallow's nested errors as PagerDuty-style lines: `'payload.summary' Missing data …`."""
    if isinstance(messages, dict):
        lines = []
        for key, value in messages.items():
            name = f"{path}[{key}]" if isinstance(key, int) else (f"{path}.{key}" if path else str(key))
            lines.extend(_error_lines(value, name))
        return lines
    items = messages if isinstance(messages, list) else [messages]
    return [f"'{path}' {item}" if path else str(item) for item in items]


@pagerduty.route("/enqueue", methods=["POST"])
@pagerduty.doc(
    requestBody={"required": True, "content": {"application/json": {"schema": PagerDutyEvent}}},
    responses={
        "202": {"description": "Accepted", "content": {"application/json": {"schema": PagerDutyAccepted}}},
        "400": {"description": "Invalid event (also an unknown routing key)",
                "content": {"application/json": {"schema": PagerDutyError}}},
        "413": {"description": "Larger than 512 KB", "content": {"application/json": {"schema": PagerDutyError}}},
        "429": {"description": "Too many events for this routing key; see Retry-After"},
    },
)
def enqueue():
    """PagerDuty Events API v2: `trigger`, `acknowledge`, `resolve`. The `routing_key` is an ingest token."""
    request.max_content_length = PAGERDUTY_MAX_BYTES
    try:
        raw = request.get_data(cache=True)
    except RequestEntityTooLarge:
        return _pagerduty_error(413, ["Event payload is larger than 512 KB"])
    try:  # text is normalised (control characters, lone surrogates): monitoring must page whatever it sends
        event = load_json(raw, normalise=True)
    except TooDeep as exc:
        return _pagerduty_error(400, [f"Event object is {exc}"])
    except ValueError:
        return _pagerduty_error(400, ["Event object is not valid JSON"])
    if not isinstance(event, dict):
        return _pagerduty_error(400, ["Event object must be a JSON object"])
    routing_key = event.get("routing_key")
    if not isinstance(routing_key, str) or not routing_key.strip():
        return _pagerduty_error(400, ["'routing_key' is missing or blank"])
    wait = _throttle_wait(routing_key)
    if wait:
        return _throttled(wait)
    gate = _ingest().gate
    if not gate.try_enter():
        return _throttled(1)
    try:
        return _enqueue(event, routing_key)
    finally:
        gate.leave()


def _enqueue(event: dict, routing_key: str):
    principal = _recent_principal(routing_key)
    if principal is None or not principal.can("ingest"):
        return _pagerduty_error(400, ["Invalid routing key"])
    try:
        data = PagerDutyEvent().load(event)
    except ValidationError as exc:
        return _pagerduty_error(400, _error_lines(exc.messages))
    dedup_key = data.get("dedup_key") or uuid.uuid4().hex
    stored = {k: v for k, v in event.items() if k != "routing_key"}  # the credential is not kept
    stored["dedup_key"] = dedup_key
    scope = str(principal.token_id) if principal.token_id is not None else principal.name
    try:
        inbox.writer.submit(source="pagerduty", group_key=pagerduty_group_key(scope, dedup_key), payload=stored,
                            token_name=principal.name)
    except inbox.InboxUnavailable as exc:  # PagerDuty's senders retry a 5xx
        body = {"status": "unavailable", "message": str(exc)}
        return jsonify(body), 503, {"Retry-After": "5"}
    return jsonify({"status": "success", "message": "Event processed", "dedup_key": dedup_key}), 202
