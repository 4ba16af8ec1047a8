from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from ..auth import actor_name, require_scope
from ..db import page_of, session
from ..errors import not_found
from ..people.views import person_or_404
from ..runtime import policy
from ..schemas import PageArgs
from ..streaming import json_array
from . import lifecycle
from .models import OPEN_STATUSES, Incident, TimelineEntry
from .read import incident_view, incident_views_in_batches
from .schemas import (
    AcknowledgeIn,
    IncidentCreate,
    IncidentListArgs,
    IncidentOut,
    IncidentPatch,
    ResolveIn,
    RoleHandover,
    TimelineOut,
    UpdateCreate,
    UpdateOut,
)

blp = Blueprint("incidents", __name__, url_prefix="/api/incidents", description="Incidents and their lifecycle")


def incident_or_404(ident: str) -> Incident:
    incident = lifecycle.get_by_id_or_number(session, ident)
    if incident is None:
        raise not_found(f"incident {ident!r}")
    return incident


def _rule(fn, *args, **kwargs):
    """Run a lifecycle change and keep it (a broken rule raises RuleError: 409, nothing kept)."""
    result = fn(session, *args, **kwargs)
    session.commit()
    return result


@blp.route("", methods=["POST"])
@require_scope("write")
@blp.arguments(IncidentCreate)
@blp.response(201, IncidentOut)
def create_incident(data):
    return _rule(lifecycle.open_incident, actor=actor_name(), **data)


@blp.route("", methods=["GET"])
@require_scope("read")
@blp.arguments(IncidentListArgs, location="query")
@blp.response(200, IncidentOut(many=True))
def list_incidents(args):
    query = select(Incident.__table__).order_by(Incident.started_at.desc(), Incident.id.desc())
    if args.get("status") == "open":
        query = query.where(Incident.status.in_(OPEN_STATUSES))
    elif args.get("status"):
        query = query.where(Incident.status == args["status"])
    if args.get("severity"):
        query = query.where(Incident.severity == args["severity"].upper())
    # Rows, not ORM objects (see read.py); up to 1,000 with their roles (1.5 MB of JSON): streamed.
    page = query.limit(args["limit"]).offset(args["offset"])
    return json_array(IncidentOut().dump, incident_views_in_batches(session, page))


@blp.route("/<ident>", methods=["GET"])
@require_scope("read")
@blp.response(200, IncidentOut)
def get_incident(ident):
    incident = incident_view(session, ident)  # rows, not ORM objects: the hot read (see read.py)
    if incident is None:
        raise not_found(f"incident {ident!r}")
    return incident


@blp.route("/<ident>", methods=["PATCH"])
@require_scope("write")
@blp.arguments(IncidentPatch)
@blp.response(200, IncidentOut)
def patch_incident(data, ident):
    incident = incident_or_404(ident)
    _rule(lifecycle.change_incident, incident, actor=actor_name(), **data)
    return incident


@blp.route("/<ident>/roles/<role>", methods=["PUT"])
@require_scope("write")
@blp.arguments(RoleHandover)
@blp.response(200, IncidentOut)
def hand_over(data, ident, role):
    incident = incident_or_404(ident)
    if role not in policy().roles:
        raise not_found(f"role {role!r}")
    person = person_or_404(data["person"])
    _rule(lifecycle.hand_over_role, incident, role, person, actor=actor_name())
    return incident


@blp.route("/<ident>/updates", methods=["POST"])
@require_scope("write")
@blp.arguments(UpdateCreate)
@blp.response(201, UpdateOut)
def post_update(data, ident):
    incident = incident_or_404(ident)
    return _rule(lifecycle.post_update, incident, actor=actor_name(), **data)


# GET …/updates (each update with whom it reached and who has seen it) is service/web/updates.py.


@blp.route("/<ident>/resolve", methods=["POST"])
@require_scope("write")
@blp.arguments(ResolveIn)
@blp.response(200, IncidentOut)
def resolve(data, ident):
    incident = incident_or_404(ident)
    _rule(lifecycle.resolve_incident, incident, actor=actor_name(), **data)
    return incident


@blp.route("/<ident>/acknowledgements", methods=["POST"])
@require_scope("write")
@blp.arguments(AcknowledgeIn)
@blp.response(201, IncidentOut)
def acknowledge(data, ident):
    incident = incident_or_404(ident)
    person = person_or_404(data["person"])
    _rule(lifecycle.acknowledge, incident, person, via="api", actor=actor_name())
    return incident


@blp.route("/<ident>/timeline", methods=["GET"])
@require_scope("read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, TimelineOut(many=True))
def timeline(page, ident):
    incident = incident_or_404(ident)
    query = (select(TimelineEntry).where(TimelineEntry.incident_id == incident.id)
             .order_by(TimelineEntry.at, TimelineEntry.id))
    return page_of(query, page)
