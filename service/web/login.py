"""Signing in to the board with an API token: a signed session cookie and a per-session CSRF token.

The session keeps the token's SHA-256 digest (not the secret) and is checked against the database on
every request, so a revoked token or a lost `read` scope ends the session at once.
"""
from __future__ import annotations

import hmac
import secrets

from flask import session

from ..auth import Principal, authenticate, authenticate_digest, hash_token

SESSION_DIGEST = "token_digest"
SESSION_CSRF = "csrf"
SCOPE = "read"


class SignInError(Exception):
    """Why a sign-in was refused, worded for the person at the form, with the HTTP status to answer."""

    def __init__(self, message: str, status: int = 401):
        super().__init__(message)
        self.status = status


def csrf_token() -> str:
    """This session's CSRF token, created on first use."""
    token = session.get(SESSION_CSRF)
    if not token:
        token = session[SESSION_CSRF] = secrets.token_urlsafe(32)
    return token


def csrf_valid(presented: str | None) -> bool:
    expected = session.get(SESSION_CSRF)
    return bool(expected and presented) and hmac.compare_digest(expected.encode(), presented.encode())


def sign_in(token: str) -> Principal:
    token = (token or "").strip()
    if not token:
        raise SignInError("Enter an API token.", 400)
    principal = authenticate(token)
    if principal is None:
        raise SignInError("That token is not valid (unknown or revoked).")
    if not principal.can(SCOPE):
        raise SignInError(f"That token lacks the “{SCOPE}” scope the board needs.", 403)
    # A new session on sign-in: nothing from before (including the old CSRF token) carries over.
    session.clear()
    session[SESSION_DIGEST] = hash_token(token)
    csrf_token()
    return principal


def signed_in() -> Principal | None:
    digest = session.get(SESSION_DIGEST)
    if not digest:
        return None
    principal = authenticate_digest(digest)
    if principal is None or not principal.can(SCOPE):
        session.pop(SESSION_DIGEST, None)
        return None
    return principal


def sign_out() -> None:
    session.clear()
