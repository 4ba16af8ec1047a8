"""The status page (public) and the on-call board (behind a token login): thin views over public.py and board.py."""
from __future__ import annotations

from flask import (Blueprint, Response, current_app, flash, redirect, render_template, request,
                   stream_template, url_for)

from .. import clock
from ..db import session
from ..notify.templates import when
from ..policy import duration_in_words
from ..runtime import config, policy
from ..streaming import json_streamed
from ..web_static import secure as _secure
from . import board as board_data
from . import login
from .feed import atom_feed
from .public import as_json, iso_utc, status_snapshot

REFRESH_SETTING = "BOARD_REFRESH_SECONDS"  # Flask setting; tests shorten it

status = Blueprint("status", __name__)
board = Blueprint("board", __name__, url_prefix="/board")


def _configure(state) -> None:
    app = state.app
    app.config.setdefault(REFRESH_SETTING, 15)
    # The board's session cookie: unreadable to scripts, not sent on cross-site requests,
    # and only over HTTPS when Herald is served over HTTPS.
    app.config.update(SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
                      SESSION_COOKIE_SECURE=config().base_url.startswith("https://"))
    app.jinja_env.filters.update(utc=when, iso=iso_utc, relative=board_data.relative, duration=duration_in_words)


status.record_once(_configure)
board.record_once(_configure)
status.after_request(_secure)


def private(response: Response) -> Response:
    """Pages for signed-in people: never cached, same security headers."""
    response.headers["Cache-Control"] = "no-store"
    return _secure(response)


board.after_request(private)


# ---- the public status page ------------------------------------------------------------------

def _snapshot():
    return status_snapshot(session, clock.now(), policy(), templates_dir=config().templates_dir)


def _fresh(response: Response, *, shared: bool = False) -> Response:
    """Public, but always revalidated: an update is visible the moment it is posted. The feeds may be
    read by other sites' scripts (dashboards, web feed readers)."""
    response.headers["Cache-Control"] = "no-cache"
    if shared:
        response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@status.get("/status")
def status_page():
    # Streamed: with 90 days of history the page runs to megabytes, and rendered whole it held several
    # copies of itself (every macro's output, the page, its bytes) at once; streamed, one card at a time.
    return _fresh(Response(stream_template("status.html", snapshot=_snapshot()), mimetype="text/html"))


@status.get("/status.json")
def status_json():
    # Streamed, incident by incident: the whole document (1.5 MB for 90 days of history) was ~8 MB at its
    # peak as dicts, the encoder's chunks and the text at once.
    return _fresh(json_streamed(as_json(_snapshot(), lazy=True)), shared=True)


@status.get("/status.atom")
def status_atom():
    body = atom_feed(_snapshot(), config().base_url)
    return _fresh(Response(body, mimetype="application/atom+xml"), shared=True)


# ---- the on-call board -----------------------------------------------------------------------

def _board_context() -> dict:
    now = clock.now()
    return {
        "now": now,
        "owners": board_data.role_owners(session, policy(), now),
        "gaps": board_data.coverage_gaps(session, policy(), now),
        "incidents": board_data.open_incidents(session, policy(), now),
    }


@board.get("")
def board_page():
    principal = login.signed_in()
    if principal is None:
        return redirect(url_for("board.sign_in"))
    return render_template("board.html", principal=principal, csrf=login.csrf_token(),
                           refresh_seconds=current_app.config[REFRESH_SETTING], **_board_context())


@board.get("/live")
def board_live():
    """The board's content alone, fetched by the page every few seconds."""
    if login.signed_in() is None:
        return Response("Signed out.", status=401, mimetype="text/plain")
    return render_template("board_live.html", **_board_context())


@board.route("/login", methods=["GET", "POST"])
def sign_in():
    if request.method == "GET":
        if login.signed_in() is not None:
            return redirect(url_for("board.board_page"))
        return render_template("login.html", csrf=login.csrf_token(), microsoft=config().oidc_configured)
    if not login.csrf_valid(request.form.get("csrf_token")):
        return _login_error("The form had expired. Please enter your token again.", 400)
    try:
        login.sign_in(request.form.get("token", ""))
    except login.SignInError as exc:
        return _login_error(str(exc), exc.status)
    return redirect(url_for("board.board_page"), code=303)


def _login_error(message: str, status_code: int):
    return render_template("login.html", csrf=login.csrf_token(), error=message,
                           microsoft=config().oidc_configured), status_code


def end_session(then: str):
    """POST sign-out (the board's and the console's): with the form's CSRF token, the server-side
    session is deleted, so a copied cookie stops working; then to the sign-in page `then`."""
    if not login.csrf_valid(request.form.get("csrf_token")):
        return Response("The sign-out form had expired; reload the page and try again.", status=400,
                        mimetype="text/plain")
    login.sign_out()
    flash("You have signed out.")
    return redirect(then, code=303)


@board.post("/logout")
def sign_out():
    return end_session(url_for("board.sign_in"))
