"""`POST /api/teams/messages`: the bot's messaging endpoint (thin: check, parse, hand over, answer).

Order matters: the Bot Framework token is checked before the body is read (401), then the size
(413), the JSON (400), the token's serviceUrl claim against the activity's (401) and the tenant
(403). Nothing is stored for a request refused there.
"""
from __future__ import annotations

import json
import logging

from flask import jsonify, request
from flask_smorest import Blueprint
from werkzeug.exceptions import RequestEntityTooLarge

from ..db import session
from ..errors import error_body
from ..runtime import config
from . import identity
from .auth import Unauthorized, check_service_url, verifier
from .receive import receive, wants_sender

log = logging.getLogger("herald.teams")

MAX_ACTIVITY_BYTES = 256 * 1024  # Teams messages stop at about 28 KB (plus the card inputs of an invoke)

blp = Blueprint("teams", __name__, url_prefix="/api/teams",
                description="The Microsoft Teams bot's messaging endpoint (Bot Framework activities)")


def _error(status: int, code: str, message: str):
    body = error_body(status, message)
    body["code"] = code
    return jsonify(body), status


@blp.route("/messages", methods=["POST"])
@blp.doc(security=[{"bearerAuth": []}], summary="Receive a Bot Framework activity",
         description="Teams posts activities here with a Bot Framework JWT (RS256, issuer https://api.botframework.com, "
                     "audience the bot's app id), not an API token. Invokes named adaptiveCard/action are answered "
                     "with the refreshed card; other known activities with 200 and no body.")
def messages():
    cfg = config()
    if not cfg.teams_bot_configured:
        # No token can be valid without a bot: the answer is the same 401 a forged token gets.
        return _error(401, "unauthorized", "the Teams bot is not configured on this Herald")
    try:
        claims = verifier(cfg).verify(request.headers.get("Authorization"))
    except Unauthorized as exc:
        log.warning("refused a Teams activity: %s", exc)
        return _error(401, "unauthorized", "a valid Bot Framework token is required")
    if (request.content_length or 0) > MAX_ACTIVITY_BYTES:
        return _error(413, "payload_too_large", f"an activity may have at most {MAX_ACTIVITY_BYTES} bytes")
    try:
        raw = request.get_data(cache=False)
    except RequestEntityTooLarge:
        return _error(413, "payload_too_large", f"an activity may have at most {MAX_ACTIVITY_BYTES} bytes")
    if len(raw) > MAX_ACTIVITY_BYTES:
        return _error(413, "payload_too_large", f"an activity may have at most {MAX_ACTIVITY_BYTES} bytes")
    try:
        activity = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return _error(400, "bad_request", "the body is not JSON")
    if not isinstance(activity, dict) or not isinstance(activity.get("type"), str):
        return _error(400, "bad_request", "an activity is a JSON object with a type")
    try:
        check_service_url(claims, activity)
    except Unauthorized as exc:
        log.warning("refused a Teams activity: %s", exc)
        return _error(401, "unauthorized", "the token was not issued for this activity's serviceUrl")
    if _tenant(activity) != cfg.teams_tenant_id:
        return _error(403, "forbidden", "activities from this tenant are not accepted")
    member = None
    if wants_sender(activity) and identity.known(session, activity) is None:
        session.rollback()  # no transaction stays open across the lookup's round trip
        member = identity.fetch_member(activity, cfg)
    reply = receive(session, activity, cfg, member=member)
    session.commit()
    if reply.body is None:
        return "", reply.status
    return jsonify(reply.body), reply.status


def _tenant(activity: dict) -> str | None:
    channel_data = activity.get("channelData") if isinstance(activity.get("channelData"), dict) else {}
    tenant = channel_data.get("tenant") if isinstance(channel_data.get("tenant"), dict) else {}
    conversation = activity.get("conversation") if isinstance(activity.get("conversation"), dict) else {}
    return tenant.get("id") or conversation.get("tenantId")
