"""Every console request: signed in (else to the sign-in page), CSRF checked on every form, never cached."""
from __future__ import annotations

from flask import Blueprint, abort, g, redirect, render_template, request

from ..incidents.permissions import Decision
from ..web import login
from ..web.views import private
from . import rules
from .signin import local_path, sign_in_url


class Refused(Exception):
    """The viewer may not do this: a 403 page that says why."""

    def __init__(self, decision: Decision | str):
        super().__init__(decision.reason if isinstance(decision, Decision) else decision)


def require(decision: Decision) -> None:
    if not decision:
        raise Refused(decision)


def guarded(blueprint: Blueprint) -> Blueprint:
    blueprint.before_request(_signed_in_and_csrf)
    blueprint.after_request(private)
    blueprint.errorhandler(Refused)(_refused)
    blueprint.context_processor(_context)
    return blueprint


def _signed_in_and_csrf():
    viewer = login.viewer()
    if viewer is None:
        if request.method == "GET":
            return redirect(sign_in_url(local_path(request.full_path.rstrip("?"))))
        abort(401)
    g.viewer = viewer
    if request.method == "POST" and not login.csrf_valid(request.form.get("csrf_token")):
        return render_template("console/problem.html", title="The form had expired",
                               message="Nothing was changed. Go back, reload the page and try again.",
                               retry=request.path), 400
    return None


def _refused(exc: Refused):
    return render_template("console/problem.html", title="Not allowed", message=str(exc)), 403


def _context() -> dict:
    viewer = g.get("viewer")
    return {"viewer": viewer, "csrf": login.csrf_token(), "is_admin": bool(viewer and rules.is_admin(viewer))}
