from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from .. import clock
from ..auth import require_scope
from ..db import page_of, session
from ..errors import ApiError, not_found
from ..schemas import PageArgs
from .models import Person
from .schemas import PersonCreate, PersonOut, PersonPatch

blp = Blueprint("people", __name__, url_prefix="/api/people", description="People who can be on call")


def person_or_404(handle: str) -> Person:
    person = session.scalar(select(Person).where(Person.handle == handle))
    if person is None:
        raise not_found(f"person {handle!r}")
    return person


@blp.route("", methods=["POST"])
@require_scope("admin")
@blp.arguments(PersonCreate)
@blp.response(201, PersonOut)
def create_person(data):
    if session.scalar(select(Person.id).where(Person.handle == data["handle"])) is not None:
        raise ApiError(409, "conflict", f"a person with handle {data['handle']!r} already exists",
                       {"handle": ["already exists"]})
    _claim_aad_object_id(data, None)
    person = Person(created_at=clock.now(), **data)
    session.add(person)
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
    person = person_or_404(handle)
    _claim_aad_object_id(data, person)
    for key, value in data.items():
        setattr(person, key, value)
    session.commit()
    return person


def _claim_aad_object_id(data: dict, person: Person | None) -> None:
    """Entra object ids are stored lower-case and belong to one person only (409 otherwise)."""
    if not data.get("aad_object_id"):
        return
    data["aad_object_id"] = data["aad_object_id"].lower()
    holder = session.scalar(select(Person).where(Person.aad_object_id == data["aad_object_id"]))
    if holder is not None and holder is not person:
        raise ApiError(409, "conflict", f"that Entra object id belongs to {holder.handle!r}",
                       {"aad_object_id": ["already belongs to another person"]})
