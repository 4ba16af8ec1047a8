"""Who is signed in to Herald's pages, and a per-session CSRF token.

Two ways in, one server-side session (`sessions.py`): an API token (wall displays, installations
without Entra ID) or a person signed in with Microsoft (the console). The session keeps the token's
SHA-256 digest (not the secret) or the person's id, and both are checked against the database on
every request, so a revoked token, a lost `read` scope or a removed person ends the session at once.
"""
from __future__ import annotations

import hmac
import secrets
from dataclasses import dataclass

from flask import session

from ..auth import Principal, authenticate, authenticate_digest, hash_token
from ..db import session as db_session
from ..people.models import Person
from . import sessions

SESSION_DIGEST = "token_digest"
SESSION_PERSON = "person_id"
SESSION_ADMIN_GROUP = "admin_group"  # the id token said the person is in the admin group
SESSION_CSRF = "csrf"
SCOPE = "read"


class SignInError(Exception):
    """Why a sign-in was refused, worded for the person at the form, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Viewer:
    """Whoever is signed in: a person (Microsoft) or an API token's principal."""

    name: str
    person: Person | None = None
    principal: Principal | None = None
    admin_group: bool = False

    @property
    def actor(self) -> str:
        """How the timeline names what this viewer does."""
        return f"console:{self.person.handle}" if self.person else f"token:{self.principal.name}"

    def has_scope(self, scope: str) -> bool:
        """A token's own scopes; a person reads everything and acts under the incident rules."""
        return self.principal.can(scope) if self.principal else scope == "read"


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_valid(presented: str | None) -> bool:
    expected = session.get(SESSION_CSRF)
    return bool(expected and presented) and hmac.compare_digest(expected.encode(), presented.encode())


def _fresh_session() -> None:
    """A new session on sign-in: nothing from before (including the old CSRF token) carries over."""
    session.clear()
    sessions.regenerate()


def sign_in(token: str) -> Principal:
    token = (token or "").strip()
    if not token:
        raise SignInError("Enter an API token.", 400)
    principal = authenticate(token)
    if principal is None:
        raise SignInError("That token is not valid (unknown or revoked).")
    if not principal.can(SCOPE):
        raise SignInError(f"That token lacks the “{SCOPE}” scope Herald's pages need.", 403)
    _fresh_session()
    session[SESSION_DIGEST] = hash_token(token)
    csrf_token()
    return principal


def sign_in_person(person: Person, *, admin_group: bool = False) -> None:
    _fresh_session()
    session[SESSION_PERSON] = person.id
    if admin_group:
        session[SESSION_ADMIN_GROUP] = True
    csrf_token()


def viewer() -> Viewer | None:
    digest = session.get(SESSION_DIGEST)
    if digest:
        principal = authenticate_digest(digest)
        if principal is None or not principal.can(SCOPE):
            session.pop(SESSION_DIGEST, None)
            return None
        return Viewer(name=f"token “{principal.name}”", principal=principal)
    person_id = session.get(SESSION_PERSON)
    if person_id:
        person = db_session.get(Person, person_id)
        if person is None:
            session.pop(SESSION_PERSON, None)
            return None
        return Viewer(name=person.name, person=person, admin_group=bool(session.get(SESSION_ADMIN_GROUP)))
    return None


def signed_in() -> Viewer | None:
    """The board's question: may this browser read? (Any viewer may.)"""
    return viewer()


def sign_out() -> None:
    _fresh_session()
