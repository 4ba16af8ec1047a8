"""The swap accept link: GET shows the request (mail scanners follow links, so it changes nothing); POST
accepts (or, from the one person a request asks, declines). The signed token in the URL is the credential: it names the request and the candidate."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from .. import clock
from ..db import session
from ..notify.templates import local
from ..people.models import Person
from ..web_static import private
from . import swaps
from .messages import zone_of
from .models import SwapRequest

blp = Blueprint("swap", __name__)
blp.add_app_template_filter(local, "local")


blp.after_request(private)  # the token in the URL is a credential


@blp.get("/swap/<token>")
def show(token: str):
    swap, person = _request(token)
    if not isinstance(swap, SwapRequest):
        return swap
    problem = None
    try:
        swaps.may_accept(session, swap, person, clock.now())
    except swaps.SwapRefused as exc:
        problem = exc.message
    return render_template("swap/confirm.html", problem=problem, **_facts(swap, person))


@blp.post("/swap/<token>")
def answer(token: str):
    """Take the shift; with `answer=decline` (the asked person's second button), decline the request."""
    swap, person = _request(token)
    if not isinstance(swap, SwapRequest):
        return swap
    declining = request.form.get("answer") == "decline"
    try:
        if declining:
            swaps.decline(session, swap, person, clock.now(), via="link")
        else:
            swaps.accept(session, swap, person, clock.now(), via="link")
    except swaps.SwapRefused as exc:
        session.rollback()
        return render_template("swap/confirm.html", problem=exc.message, **_facts(swap, person)), exc.status
    session.commit()
    return render_template("swap/declined.html" if declining else "swap/done.html", **_facts(swap, person))


def _request(token: str):
    found = swaps.read_swap_token(token)
    if found is None:
        return _problem(403, "This link is not valid", "The link is damaged or has expired."), None
    swap, person = session.get(SwapRequest, found[0]), session.get(Person, found[1])
    if swap is None or person is None:
        return _problem(404, "Request not found", "The swap request or the person it was for no longer exists."), None
    return swap, person


def _problem(status: int, title: str, message: str):
    return render_template("ack/problem.html", title=title, message=message), status


def _facts(swap: SwapRequest, person: Person) -> dict:
    return {"swap": swaps.swap_data(swap), "person": person, "tz": zone_of(person)}
