"""The on-call person's API: swap and cover requests, and the hours report."""
from __future__ import annotations

from flask_smorest import Blueprint
from sqlalchemy import select

from .. import clock
from ..auth import require_scope
from ..db import page_of, session
from ..errors import ApiError, not_found, unprocessable
from ..people.models import Person
from ..rotations.views import rotation_or_404
from . import swaps
from .models import SwapRequest
from .schemas import AcceptIn, SwapIn, SwapListArgs, SwapOut

blp = Blueprint("oncall", __name__, url_prefix="/api", description="The on-call person's side: swaps, hours")


def person_named(handle: str | None, field: str) -> Person | None:
    if handle is None:
        return None
    person = session.scalar(select(Person).where(Person.handle == handle))
    if person is None:
        raise unprocessable({field: [f"no person with handle {handle!r}"]})
    return person


def refused(exc: swaps.SwapRefused) -> ApiError:
    code = {403: "forbidden", 409: "conflict"}.get(exc.status, "unprocessable_entity")
    return ApiError(exc.status, code, exc.message, {exc.field: [exc.message]} if exc.field else {})


def swap_or_404(name: str, swap_id: int) -> SwapRequest:
    rotation = rotation_or_404(name)
    swap = session.get(SwapRequest, swap_id)
    if swap is None or swap.rotation_id != rotation.id:
        raise not_found(f"swap request {swap_id} of rotation {name!r}")
    return swap


@blp.route("/rotations/<name>/swaps", methods=["POST"])
@require_scope("write")
@blp.arguments(SwapIn)
@blp.response(201, SwapOut)
def create_swap(data, name):
    """Ask `to` (or anyone on the rotation) to take [start, end) of the requester's shifts; `start` omitted: now."""
    rotation = rotation_or_404(name)
    requester = person_named(data["requester"], "requester")
    to = person_named(data["to"], "to")
    try:
        swap = swaps.request(session, rotation, requester, data["start"], data["end"], to, data["reason"], clock.now())
    except swaps.SwapRefused as exc:
        raise refused(exc) from exc
    session.commit()
    return swap


@blp.route("/rotations/<name>/swaps", methods=["GET"])
@require_scope("read")
@blp.arguments(SwapListArgs, location="query")
@blp.response(200, SwapOut(many=True))
def list_swaps(args, name):
    rotation = rotation_or_404(name)
    query = select(SwapRequest).where(SwapRequest.rotation_id == rotation.id)
    if args.get("status"):
        query = query.where(SwapRequest.status == args["status"])
    return page_of(query.order_by(SwapRequest.id.desc()), args)


@blp.route("/rotations/<name>/swaps/<int:swap_id>", methods=["GET"])
@require_scope("read")
@blp.response(200, SwapOut)
def get_swap(name, swap_id):
    return swap_or_404(name, swap_id)


@blp.route("/rotations/<name>/swaps/<int:swap_id>/accept", methods=["POST"])
@require_scope("write")
@blp.arguments(AcceptIn)
@blp.response(200, SwapOut)
def accept_swap(data, name, swap_id):
    """`person` takes the stretch: an override for them; a second acceptance is a 409."""
    return _answer(swaps.accept, name, swap_id, data["person"])


@blp.route("/rotations/<name>/swaps/<int:swap_id>/decline", methods=["POST"])
@require_scope("write")
@blp.arguments(AcceptIn)
@blp.response(200, SwapOut)
def decline_swap(data, name, swap_id):
    """The person the request asks (`to`) says no; the requester is told. A request to anyone cannot be declined (409)."""
    return _answer(swaps.decline, name, swap_id, data["person"])


def _answer(act, name: str, swap_id: int, handle: str) -> SwapRequest:
    swap = swap_or_404(name, swap_id)
    person = person_named(handle, "person")
    try:
        act(session, swap, person, clock.now(), via="api")
    except swaps.SwapRefused as exc:
        raise refused(exc) from exc
    session.commit()
    return swap


@blp.route("/rotations/<name>/swaps/<int:swap_id>/cancel", methods=["POST"])
@require_scope("write")
@blp.response(200, SwapOut)
def cancel_swap(name, swap_id):
    swap = swap_or_404(name, swap_id)
    try:
        swaps.cancel(session, swap, clock.now())
    except swaps.SwapRefused as exc:
        raise refused(exc) from exc
    session.commit()
    return swap
