from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import or_, select

from ..auth import actor_name, require_scope
from ..db import page_in_batches, session
from ..errors import conflict, not_found
from ..incidents.views import incident_or_404
from .outbox import NotRetryable, send_again
from .models import Notification
from ..people.models import Person
from .schemas import NotificationListArgs, NotificationOut, OutboxListArgs
from ..streaming import json_array

blp = Blueprint("notifications", __name__, url_prefix="/api", description="The outbox: every message Herald sends")


@blp.route("/incidents/<ident>/notifications", methods=["GET"])
@require_scope("read")
@blp.arguments(NotificationListArgs, location="query")
@blp.response(200, NotificationOut(many=True))
def list_notifications(args, ident):
    incident = incident_or_404(ident)
    query = _filtered(select(Notification).where(Notification.incident_id == incident.id), args)
    return _streamed(query, args)


@blp.route("/notifications", methods=["GET"])
@require_scope("read")
@blp.arguments(OutboxListArgs, location="query")
@blp.response(200, NotificationOut(many=True))
def list_outbox(args):
    """Every outbox row, also those of no incident (shift reminders, swap requests, coverage gaps)."""
    query = _filtered(select(Notification), args)
    if args.get("recipient"):
        by_handle = select(Person.id).where(Person.handle == args["recipient"])
        query = query.where(or_(Notification.recipient == args["recipient"], Notification.person_id.in_(by_handle)))
    return _streamed(query, args)


def _streamed(query, args):
    """Up to 1,000 rows with their rendered payloads (3.5 MB of JSON): streamed, 100 rows at a time."""
    return json_array(NotificationOut().dump, page_in_batches(query.order_by(Notification.id), args))


def _filtered(query, args):
    for field in ("status", "kind", "channel"):
        if args.get(field):
            query = query.where(getattr(Notification, field) == args[field])
    return query


@blp.route("/notifications/<int:notification_id>", methods=["GET"])
@require_scope("read")
@blp.response(200, NotificationOut)
def get_notification(notification_id):
    row = session.get(Notification, notification_id)
    if row is None:
        raise not_found(f"notification {notification_id}")
    return row


@blp.route("/notifications/<int:notification_id>/retry", methods=["POST"])
@require_scope("write")
@blp.response(200, NotificationOut)
def retry(notification_id):
    """Send a dead (or failed) notification again now, with a fresh set of attempts."""
    row = session.get(Notification, notification_id, with_for_update=True)
    if row is None:
        raise not_found(f"notification {notification_id}")
    try:
        send_again(session, row, actor=actor_name())
    except NotRetryable as exc:
        raise conflict(str(exc)) from exc
    session.commit()
    return row
