"""Signing in to the console: with Microsoft (Entra ID, OpenID Connect) or with an API token; signing out."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for

from .. import clock
from ..db import session as db_session
from ..microsoft import SignInFailed, microsoft_sign_in
from ..people.directory import person_signing_in
from ..runtime import config
from ..web import login
from ..web.views import end_session, private

blp = Blueprint("signin", __name__, url_prefix="/auth")
blp.after_request(private)

PENDING = "oidc"  # the session key of a sign-in on its way through Microsoft
HOME = "/console"


def local_path(value: str | None, default: str = HOME) -> str:
    """Only a path on this site: never another host (`//evil.example`, `https://…`, `/\\evil`)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return default
    parts = urlsplit(value)
    if parts.scheme or parts.netloc or any(ord(c) < 32 for c in value):
        return default
    return value


def sign_in_url(next_path: str) -> str:
    return url_for("signin.sign_in", next=next_path)


def _page(error: str | None = None, status: int = 200, next_path: str | None = None):
    nxt = local_path(next_path if next_path is not None else request.values.get("next"))
    return render_template("console/signin.html", csrf=login.csrf_token(), error=error, next=nxt,
                           microsoft=config().oidc_configured), status


def _problem(status: int, message: str):
    return render_template("console/problem.html", title="You are not signed in", message=message,
                           retry=url_for("signin.sign_in")), status


@blp.get("/sign-in")
def sign_in():
    if login.viewer() is not None:
        return redirect(local_path(request.args.get("next")))
    return _page()


@blp.post("/token")
def token_sign_in():
    if not login.csrf_valid(request.form.get("csrf_token")):
        return _page("The form had expired. Please enter your token again.", 400)
    try:
        login.sign_in(request.form.get("token", ""))
    except login.SignInError as exc:
        return _page(str(exc), exc.status)
    return redirect(local_path(request.form.get("next")), code=303)


@blp.get("/microsoft")
def microsoft():
    cfg = config()
    if not cfg.oidc_configured:
        return _problem(404, "Sign-in with Microsoft is not set up here. Sign in with an API token instead.")
    try:
        flow = microsoft_sign_in(cfg).begin(redirect_uri=f"{cfg.base_url}/auth/microsoft/callback")
    except SignInFailed as exc:
        return _problem(exc.status, exc.message)
    session[PENDING] = {"flow": flow, "next": local_path(request.args.get("next"))}
    return redirect(flow["auth_uri"])


@blp.get("/microsoft/callback")
def microsoft_callback():
    cfg = config()
    pending = session.pop(PENDING, None)
    if not cfg.oidc_configured:
        return _problem(404, "Sign-in with Microsoft is not set up here.")
    if not pending or not request.args.get("state"):
        return _problem(400, "This sign-in was not started from this browser, or it took too long. "
                             "Please start again.")
    try:
        claims = microsoft_sign_in(cfg).finish(pending["flow"], request.args.to_dict(), clock.now())
    except SignInFailed as exc:
        return _problem(exc.status, exc.message)
    addresses = [claims.get("preferred_username", ""), claims.get("email", ""), claims.get("upn", "")]
    person = person_signing_in(db_session, object_id=claims.get("oid"), addresses=addresses)
    if person is None:
        who = claims.get("preferred_username") or claims.get("email") or claims.get("name") or "this account"
        return _problem(403, f"You signed in to Microsoft as {who}, but nobody in Herald has that address. "
                             "Ask an admin to add it to your person (email or aliases).")
    group = cfg.oidc_admin_group
    login.sign_in_person(person, admin_group=bool(group and group in (claims.get("groups") or [])))
    return redirect(local_path(pending.get("next")), code=303)


@blp.post("/logout")
def logout():
    return end_session(url_for("signin.sign_in"))
