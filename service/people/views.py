from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from ..auth import require_scope
from ..db import page_of, session
from ..errors import ApiError, not_found
from ..schemas import PageArgs
from . import directory
from .models import Person
from .schemas import PersonCreate, PersonOut, PersonPatch

blp = Blueprint("people", __name__, url_prefix="/api/people", description="People who can be on call")


def person_or_404(handle: str) -> Person:
    person = directory.person_by_handle(session, handle)
    if person is None:
        raise not_found(f"person {handle!r}")
    return person


@blp.route("", methods=["POST"])
@require_scope("admin")
@blp.arguments(PersonCreate)
@blp.response(201, PersonOut)
def create_person(data):
    try:
        person = directory.add_person(session, **data)
    except directory.HandleTaken as exc:
        raise ApiError(409, "conflict", str(exc), {"handle": ["already exists"]}) from exc
    except directory.ObjectIdTaken as exc:
        raise ApiError(409, "conflict", str(exc), {"aad_object_id": ["already belongs to another person"]}) from exc
    session.commit()
    return person


@blp.route("", methods=["GET"])
@require_scope("read")
@blp.arguments(PageArgs, location="query")
@blp.response(200, PersonOut(many=True))
def list_people(page):
    return page_of(select(Person).order_by(Person.handle), page)


@blp.route("/<handle>", methods=["GET"])
@require_scope("read")
@blp.response(200, PersonOut)
def get_person(handle):
    return person_or_404(handle)


@blp.route("/<handle>", methods=["PATCH"])
@require_scope("admin")
@blp.arguments(PersonPatch)
@blp.response(200, PersonOut)
def patch_person(data, handle):
    try:
        person = directory.change_person(session, person_or_404(handle), **data)
    except directory.ObjectIdTaken as exc:
        raise ApiError(409, "conflict", str(exc), {"aad_object_id": ["already belongs to another person"]}) from exc
    session.commit()
    return person
