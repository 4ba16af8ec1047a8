"""Rotations API (rotations, overrides, who is on call) and the public iCal feeds."""
from __future__ import annotations

from datetime import timedelta

from flask import Blueprint as FlaskBlueprint
from flask import Response, abort, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select

from .. import clock
from ..auth import actor_name, require_scope
from ..db import page_of, session
from ..errors import ApiError, not_found, unprocessable
from ..people.models import Person
from ..people.views import person_or_404
from ..runtime import policy
from . import feeds, overrides
from .calendar import MAX_CALENDAR_BYTES, CalendarError, decode
from .fetch import FetchError
from .gaps import find_gaps
from .materialise import resolve_for, rotation_named, upload
from .models import Override, Rotation
from .oncall import OnCall, effective_schedule, every_owner_at, on_call, who_is_on_call
from .schemas import (
    NAME,
    FeedUrlOut,
    ImportReportOut,
    OnCallArgs,
    OnCallNowOut,
    OverrideIn,
    OverrideListArgs,
    OverrideOut,
    RefreshOut,
    RotationOut,
    GapOut,
    ShiftOut,
    SubscriptionIn,
    WindowArgs,
    compact_duration,
)
from .subscriptions import refresh, subscribe

blp = Blueprint("rotations", __name__, url_prefix="/api", description="On-call rotations, overrides and feeds")
calendars = FlaskBlueprint("calendars", __name__)

MAX_SHIFT_WINDOW = timedelta(days=400)
DEFAULT_SHIFT_WINDOW = timedelta(days=14)


def rotation_or_404(name: str) -> Rotation:
    rotation = rotation_named(session, name)
    if rotation is None:
        raise not_found(f"rotation {name!r}")
    return rotation


def invalid_calendar(exc: CalendarError) -> ApiError:
    return ApiError(422, "invalid_calendar", f"the calendar cannot be imported: {exc.problems[0]}",
                    {"calendar": exc.problems})


def rotation_view(rotation: Rotation, owner: OnCall | None | bool = False) -> dict:
    """A rotation as the API shows it; `owner` is who is on call now when the caller already knows it."""
    if owner is False:
        owner = on_call(session, rotation, clock.now())
    return {
        "name": rotation.name,
        "kind": "subscription" if rotation.is_subscription else "upload",
        "url": rotation.source_url,
        "refresh_every": compact_duration(rotation.refresh_every_seconds) if rotation.refresh_every_seconds else None,
        "last_refreshed_at": rotation.last_refreshed_at,
        "next_refresh_at": rotation.next_refresh_at,
        "last_error": rotation.last_error,
        "updated_at": rotation.updated_at,
        "shifts_from": rotation.materialised_from,
        "shifts_until": rotation.materialised_until,
        "roles": [key for key, role in policy().roles.items() if role.rotation == rotation.name],
        "on_call": owner.as_json() if owner else None,
        "report": rotation.report,
    }


@blp.route("/oncall", methods=["GET"])
@require_scope("read")
@blp.arguments(OnCallArgs, location="query")
@blp.response(200, OnCallNowOut)
def oncall(args):
    """Who is on call at `at` (default now), per rotation and per policy role."""
    # Already in its JSON form (`OnCall.as_json`), which is what OnCallNowOut describes (a test holds the
    # two together): sent as it is, not dumped field by field a second time (a third of the request).
    return jsonify(who_is_on_call(session, args["at"] or clock.now()))


@blp.route("/rotations", methods=["GET"])
@require_scope("read")
@blp.response(200, RotationOut(many=True))
def list_rotations():
    owners = every_owner_at(session, clock.now())  # every rotation's owner in one query, not two per rotation
    return [rotation_view(r, owners.get(r.name)) for r in session.scalars(select(Rotation).order_by(Rotation.name))]


@blp.route("/rotations", methods=["POST"])
@require_scope("admin")
@blp.arguments(SubscriptionIn)
@blp.response(201, RotationOut)
def create_subscription(data):
    """Subscribe a rotation to an iCal URL (or re-point an existing one) and fetch it at once."""
    try:
        rotation = subscribe(session, data["name"], data["url"].strip(), data["refresh_every"], clock.now())
    except FetchError as exc:
        session.rollback()
        raise unprocessable({"url": [str(exc)]}, f"the URL cannot be subscribed: {exc}") from exc
    session.commit()
    refresh(rotation.id)
    session.expire_all()
    return rotation_view(rotation_or_404(data["name"]))


@blp.route("/rotations/<name>", methods=["GET"])
@require_scope("read")
@blp.response(200, RotationOut)
def get_rotation(name):
    return rotation_view(rotation_or_404(name))


@blp.route("/rotations/<name>", methods=["DELETE"])
@require_scope("admin")
@blp.response(204)
def delete_rotation(name):
    """Delete a rotation; one that a role uses answers 409 unless `?force=1` (its roles then have nobody)."""
    rotation = rotation_or_404(name)
    roles = policy().rotations_in_use().get(rotation.name, ())
    if roles and request.args.get("force") not in ("1", "true", "yes"):
        titles = ", ".join(policy().role_title(key) for key in roles)
        raise ApiError(409, "conflict", f"rotation {name!r} is used by {titles}: deleting it leaves nobody on call "
                                        "for it; add ?force=1 to delete it anyway", {"roles": list(roles)})
    session.delete(rotation)
    session.commit()


@blp.route("/rotations/<name>/calendar", methods=["PUT"])
@require_scope("admin")
@blp.response(200, ImportReportOut)
@blp.doc(requestBody={"required": True, "content": {"text/calendar": {"schema": {
             "type": "string", "pattern": r"\S",
             "description": "an iCalendar (RFC 5545) text; one that cannot be read is a 422 listing its problems"}}}},
         parameters=[{"in": "path", "name": "name", "required": True,
                      "schema": {"type": "string", "pattern": NAME.regex.pattern}}])
def put_calendar(name):
    """Import a calendar (body `text/calendar`, up to 10 MiB); the rotation's shifts are replaced at once."""
    try:
        NAME(name)
    except ValidationError as exc:
        raise unprocessable({"name": exc.messages}) from exc
    request.max_content_length = MAX_CALENDAR_BYTES
    body = request.get_data(cache=False)
    if not body.strip():
        raise unprocessable({"calendar": ["the request body is empty"]},
                            "the request body is empty: send the calendar (text/calendar)")
    text, now = decode(body, request.mimetype_params.get("charset")), clock.now()
    session.rollback()  # parse and resolve with no transaction open: a costly calendar holds no lock
    try:
        prepared = resolve_for(name, text, now)
    except CalendarError as exc:
        raise invalid_calendar(exc) from exc
    report = upload(session, name, text, prepared)
    session.commit()
    return report.as_json(name)


@blp.route("/rotations/<name>/refresh", methods=["POST"])
@require_scope("admin")
@blp.response(200, RefreshOut)
def refresh_now(name):
    """Fetch a subscription now; 502 when its server cannot be reached, 422 when its calendar cannot be read."""
    rotation = rotation_or_404(name)
    if not rotation.is_subscription:
        raise ApiError(409, "conflict", f"rotation {name!r} is not a subscription; PUT its calendar instead")
    rotation_id = rotation.id
    session.rollback()  # end this request's transaction: the refresh writes in its own
    outcome = refresh(rotation_id)
    if outcome.status == "invalid":
        raise ApiError(422, "invalid_calendar", outcome.error, {"calendar": [outcome.error]})
    if outcome.status == "failed":
        raise ApiError(502, "bad_gateway", outcome.error, {"url": [outcome.error]})
    return {"status": outcome.status, "report": outcome.report}


@blp.route("/rotations/<name>/shifts", methods=["GET"])
@require_scope("read")
@blp.arguments(WindowArgs, location="query")
@blp.response(200, ShiftOut(many=True))
def list_shifts(args, name):
    """Who is on call from `from` (default now) to `to` (default two weeks later), overrides applied."""
    rotation = rotation_or_404(name)
    start, end = window(args, DEFAULT_SHIFT_WINDOW)
    return effective_schedule(session, rotation, start, end)


@blp.route("/rotations/<name>/gaps", methods=["GET"])
@require_scope("read")
@blp.arguments(WindowArgs, location="query")
@blp.response(200, GapOut(many=True))
def list_gaps(args, name):
    """Stretches with nobody known on call, from `from` (default now) over the policy's `gap_horizon`:
    no event (`label` null), or an event that names nobody Herald knows (`label` its title)."""
    rotation = rotation_or_404(name)
    start, end = window(args, policy().oncall.gap_horizon)
    return [gap.as_json() for gap in find_gaps(effective_schedule(session, rotation, start, end), start, end)]


def window(args: dict, default: timedelta) -> tuple:
    """The `from`/`to` of a listing: now and `default` later unless given, at most MAX_SHIFT_WINDOW long."""
    start = args["from_"] or clock.now()
    end = args["to"] or start + default
    if end <= start:
        raise unprocessable({"to": ["must be after 'from'"]})
    if end - start > MAX_SHIFT_WINDOW:
        raise unprocessable({"to": [f"at most {MAX_SHIFT_WINDOW.days} days after 'from'"]})
    return start, end


@blp.route("/rotations/<name>/overrides", methods=["POST"])
@require_scope("write")
@blp.arguments(OverrideIn)
@blp.response(201, OverrideOut)
def create_override(data, name):
    """Put `person` on call from `start` to `end`, whatever the calendar says (the newest override wins)."""
    rotation = rotation_or_404(name)
    person = session.scalar(select(Person).where(Person.handle == data["person"]))
    if person is None:
        raise unprocessable({"person": [f"no person with handle {data['person']!r}"]})
    override = overrides.add_override(session, rotation, person, data["start"], data["end"], actor=actor_name())
    session.commit()
    return override


@blp.route("/rotations/<name>/overrides", methods=["GET"])
@require_scope("read")
@blp.arguments(OverrideListArgs, location="query")
@blp.response(200, OverrideOut(many=True))
def list_overrides(args, name):
    rotation = rotation_or_404(name)
    query = select(Override).where(Override.rotation_id == rotation.id)
    if args["from_"]:
        query = query.where(Override.end > args["from_"])
    if args["to"]:
        query = query.where(Override.start < args["to"])
    return page_of(query.order_by(Override.start, Override.id), args)


@blp.route("/rotations/<name>/overrides/<int:override_id>", methods=["DELETE"])
@require_scope("write")
@blp.response(204)
def delete_override(name, override_id):
    rotation = rotation_or_404(name)
    override = overrides.find_override(session, rotation, override_id)
    if override is None:
        raise not_found(f"override {override_id} of rotation {name!r}")
    overrides.remove_override(session, rotation, override)
    session.commit()


@blp.route("/rotations/<name>/calendar-token", methods=["POST"])
@require_scope("admin")
@blp.response(201, FeedUrlOut)
def rotation_feed_token(name):
    """A secret iCal feed URL of the rotation's shifts; any previous URL stops working."""
    url = feeds.new_token(session, now=clock.now(), actor=actor_name(), rotation=rotation_or_404(name))
    session.commit()
    return {"url": url}


@blp.route("/people/<handle>/calendar-token", methods=["POST"])
@require_scope("admin")
@blp.response(201, FeedUrlOut)
def person_feed_token(handle):
    """A secret iCal feed URL of the person's shifts across rotations; any previous URL stops working."""
    url = feeds.new_token(session, now=clock.now(), actor=actor_name(), person=person_or_404(handle))
    session.commit()
    return {"url": url}


@calendars.get("/calendars/<token>.ics")
def calendar_feed(token: str):
    feed = feeds.feed_for(session, token)
    if feed is None:
        abort(404)
    response = Response(feeds.render(session, feed, clock.now()), mimetype="text/calendar")
    response.headers["Cache-Control"] = "private, max-age=300"
    response.add_etag()
    return response.make_conditional(request)
