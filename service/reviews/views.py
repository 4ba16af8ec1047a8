"""The review API: the post-mortem (Markdown), the review meeting, action items."""
from __future__ import annotations

from datetime import timedelta

from flask import Response, jsonify, request
from flask_smorest import Blueprint
from marshmallow import ValidationError
from sqlalchemy import select

from .. import clock
from ..auth import actor_name, require_scope
from ..db import page_of, session
from ..errors import ApiError, not_found, unprocessable
from ..incidents.views import incident_or_404
from ..people.models import Person
from ..runtime import config
from ..schemas import PageArgs
from . import actions, postmortem, review
from .models import ActionItem
from .schemas import ActionCreate, ActionOut, ActionPatch, PostmortemIn, PostmortemOut, ReviewIn, ReviewOut

blp = Blueprint("reviews", __name__, url_prefix="/api/incidents",
                description="Post-incident review: post-mortem, review meeting, action items")

MARKDOWN_TYPES = ("text/markdown", "text/x-markdown", "text/plain")
_MARKDOWN_DOC = {"text/markdown": {"schema": {"type": "string"}}}
_JSON_DOC = {"application/json": {"schema": PostmortemOut}}


# ---- post-mortem ---------------------------------------------------------------------------------

@blp.route("/<ident>/postmortem", methods=["GET"])
@require_scope("read")
@blp.doc(summary="The post-mortem: the stored version if any, else the draft from the timeline",
         responses={"200": {"description": "Markdown (or JSON with Accept: application/json); header "
                                           "Herald-Postmortem says draft or edited",
                            "content": {**_MARKDOWN_DOC, **_JSON_DOC}}})
def get_postmortem(ident):
    return _postmortem_response(incident_or_404(ident))


@blp.route("/<ident>/postmortem", methods=["PUT"])
@require_scope("write")
@blp.doc(summary="Store an edited post-mortem",
         requestBody={"required": True, "content": {"text/markdown": {"schema": {"type": "string", "pattern": r"\S"}},
                                                    "application/json": {"schema": PostmortemIn}}},
         responses={"200": {"description": "the stored version", "content": {**_MARKDOWN_DOC, **_JSON_DOC}}})
def put_postmortem(ident):
    incident = incident_or_404(ident)
    try:
        postmortem.save(session, incident, _markdown_body(), actor=actor_name())
    except postmortem.EmptyPostmortem as exc:
        raise unprocessable({"markdown": [str(exc)]}) from exc
    session.commit()
    return _postmortem_response(incident)


@blp.route("/<ident>/postmortem", methods=["DELETE"])
@require_scope("write")
@blp.doc(summary="Discard the edited version; GET serves the draft again", responses={"204": {"description": "gone"}})
def delete_postmortem(ident):
    if not postmortem.discard(session, incident_or_404(ident)):
        raise not_found("edited post-mortem")
    session.commit()
    return "", 204


def _markdown_body() -> str:
    """Markdown from a text/markdown body or from JSON {"markdown": …}."""
    if request.mimetype == "application/json":
        try:
            return PostmortemIn().load(request.get_json(silent=False))["markdown"]
        except ValidationError as exc:
            raise unprocessable(exc.messages if isinstance(exc.messages, dict) else {"_schema": exc.messages})
    if request.mimetype in MARKDOWN_TYPES:
        try:
            return request.get_data().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise ApiError(400, "bad_request", "the body is not UTF-8") from exc
    raise ApiError(415, "unsupported_media_type",
                   "send the post-mortem as text/markdown, or as JSON {\"markdown\": …}")


def _postmortem_response(incident):
    found = postmortem.current(session, incident, config().templates_dir)
    body = {"markdown": found.markdown, "source": found.source, "updated_at": found.updated_at,
            "updated_by": found.updated_by}
    headers = {"Herald-Postmortem": body["source"], "Vary": "Accept"}
    if request.accept_mimetypes.best_match(["text/markdown", "application/json"]) == "application/json":
        return jsonify(PostmortemOut().dump(body)), 200, headers
    return Response(body["markdown"], mimetype="text/markdown", headers=headers)


# ---- the review meeting --------------------------------------------------------------------------

@blp.route("/<ident>/review", methods=["GET"])
@require_scope("read")
@blp.response(200, ReviewOut)
def get_review(ident):
    incident = incident_or_404(ident)
    meeting = review.meeting_of(session, incident)
    if meeting is None:
        raise not_found(f"review meeting of {incident.number}")
    return _review_out(incident, meeting)


@blp.route("/<ident>/review", methods=["PUT"])
@require_scope("write")
@blp.arguments(ReviewIn)
@blp.response(200, ReviewOut)
def put_review(data, ident):
    """Book or move the review meeting; a change raises SEQUENCE and re-sends the invitation."""
    incident = incident_or_404(ident)
    if data["start"] <= clock.now():
        raise unprocessable({"start": ["must be in the future"]})
    people = _people(data["attendees"], "attendees") if "attendees" in data else None
    end = data.get("end") or data["start"] + timedelta(hours=1)
    meeting = review.book(session, incident, data["start"], end, actor=actor_name(), attendees=people)
    session.commit()
    return _review_out(incident, meeting)


def _review_out(incident, meeting) -> dict:
    return {
        "uid": meeting.uid, "start": meeting.start, "end": meeting.end,
        "attendees": [{"person": p.handle, "name": p.name, "email": p.email}
                      for p in review.attendees_of(session, meeting)],
        "sequence": meeting.sequence, "status": meeting.status, "done": meeting.status == "done",
        "done_at": meeting.done_at, "within_deadline": meeting.within_deadline,
        "postmortem_due_at": incident.postmortem_due_at, "booked_by": meeting.booked_by,
        "updated_at": meeting.updated_at,
    }


# ---- action items --------------------------------------------------------------------------------

@blp.route("/<ident>/actions", methods=["POST"])
@require_scope("write")
@blp.arguments(ActionCreate)
@blp.response(201, ActionOut)
def create_action(data, ident):
    incident = incident_or_404(ident)
    owner = _person(data["owner"], "owner") if data["owner"] else None
    item = actions.add_action(session, incident, action=data["action"], owner=owner, due_date=data["due_date"],
                              actor=actor_name())
    session.commit()
    return item


@blp.route("/<ident>/actions", methods=["GET"])
@require_scope("read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, ActionOut(many=True))
def list_actions(page, ident):
    incident = incident_or_404(ident)
    query = select(ActionItem).where(ActionItem.incident_id == incident.id).order_by(ActionItem.number)
    return page_of(query, page)


@blp.route("/<ident>/actions/<int:number>", methods=["GET"])
@require_scope("read")
@blp.response(200, ActionOut)
def get_action(ident, number):
    return _action_or_404(incident_or_404(ident), number)


@blp.route("/<ident>/actions/<int:number>", methods=["PATCH"])
@require_scope("write")
@blp.arguments(ActionPatch)
@blp.response(200, ActionOut)
def patch_action(data, ident, number):
    item = _action_or_404(incident_or_404(ident), number)
    if "owner" in data:
        data["owner"] = _person(data["owner"], "owner") if data["owner"] else None
    actions.change_action(session, item, **data)
    session.commit()
    return item


def _action_or_404(incident, number: int) -> ActionItem:
    item = session.scalar(select(ActionItem).where(ActionItem.incident_id == incident.id,
                                                   ActionItem.number == number))
    if item is None:
        raise not_found(f"action item {number} of {incident.number}")
    return item


def _person(handle: str, field: str) -> Person:
    return _people([handle], field)[0]


def _people(handles: list[str], field: str) -> list[Person]:
    """People named in a request body; an unknown handle is a 422 on that field."""
    found = {p.handle: p for p in session.scalars(select(Person).where(Person.handle.in_(handles)))}
    unknown = [h for h in handles if h not in found]
    if unknown:
        raise unprocessable({field: [f"unknown person {h!r}" for h in unknown]})
    return [found[h] for h in dict.fromkeys(handles)]
