"""API tokens: scopes, SHA-256 at rest, constant-time comparison, and the `require_scope` decorator."""
from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import secrets
from datetime import datetime
from typing import Callable

from flask import current_app, g, request
from sqlalchemy import JSON, String, bindparam, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from . import clock
from .db import Base, UTCDateTime, read_transaction
from .errors import ApiError

SCOPES = ("read", "write", "ingest", "admin")
TOKEN_PREFIX = "hrld_"


class ApiToken(Base):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[list] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def create_token(s: Session, name: str, scopes: list[str]) -> str:
    """Store a new token (hashed) and return the secret, which is never shown again."""
    unknown = [sc for sc in scopes if sc not in SCOPES]
    if unknown or not scopes:
        raise ValueError(f"scopes must be among {', '.join(SCOPES)}; got {', '.join(scopes) or 'none'}")
    secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
    s.add(ApiToken(name=name, token_hash=hash_token(secret), scopes=sorted(set(scopes)), created_at=clock.now()))
    return secret


def list_tokens(s: Session, limit: int | None = None, offset: int = 0) -> list[ApiToken]:
    """Stored tokens, oldest first, revoked ones included (their `revoked_at` says so)."""
    return list(s.scalars(select(ApiToken).order_by(ApiToken.id).limit(limit).offset(offset)))


class TokenNotFound(LookupError):
    pass


def find_token(s: Session, ref: int | str) -> ApiToken:
    """A token by id, or by name when exactly one token that is not revoked bears it.

    Names are labels, not keys: two tokens may share one, and then only the id will do.
    """
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdecimal() and ref.isascii()):
        row = s.get(ApiToken, int(ref)) if int(ref) < 2**31 else None
        if row is None:
            raise TokenNotFound(f"no token with id {ref}")
        return row
    rows = list(s.scalars(select(ApiToken).where(ApiToken.name == ref, ApiToken.revoked_at.is_(None))))
    if not rows:
        raise TokenNotFound(f"no active token named {ref!r}")
    if len(rows) > 1:
        raise TokenNotFound(f"{len(rows)} active tokens are named {ref!r}; give the id "
                            f"({', '.join(str(r.id) for r in rows)})")
    return rows[0]


def revoke_token(s: Session, token: ApiToken) -> bool:
    """Revoke now; False when it already was (revoking is idempotent and keeps the first time).

    Takes effect at the token's next request (monitoring endpoints remember a token up to
    `alerts.tokens.REMEMBER_SECONDS`), and ends every board session opened with it.
    """
    if token.revoked_at is not None:
        return False
    token.revoked_at = clock.now()
    s.flush()
    return True


def has_scope(granted: list[str] | tuple[str, ...], needed: str) -> bool:
    return "admin" in granted or needed in granted


class Principal:
    """Who is calling: a token's name and its scopes."""

    def __init__(self, name: str, scopes: list[str], token_id: int | None = None):
        self.name = name
        self.scopes = list(scopes)
        self.token_id = token_id

    def can(self, scope: str) -> bool:
        return has_scope(self.scopes, scope)


def presented_token() -> str | None:
    """The token from `Authorization: Bearer …`, or the password of HTTP basic auth."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    if scheme.lower() == "basic" and value.strip():
        try:
            decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            return None
        return decoded.partition(":")[2] or None
    return None


def authenticate(token: str | None) -> Principal | None:
    if not token:
        return None
    return authenticate_digest(hash_token(token))


def authenticate_digest(digest: str) -> Principal | None:
    """The principal whose token hashes to `digest`.

    The web session keeps only this digest, never the secret: a copied session cookie cannot be
    replayed against the API, and revoking the token ends the session at its next request.
    """
    bootstrap = current_app.config["HERALD"].admin_token
    if bootstrap and hmac.compare_digest(digest.encode(), hash_token(bootstrap).encode()):
        return Principal("admin (HERALD_ADMIN_TOKEN)", ["admin"])
    # A read transaction of its own, ended before the view runs: the check never holds a lock. It runs on
    # every API request, so it reads the four columns it needs as a row (no ORM object; half the cost).
    with read_transaction() as s:
        row = s.execute(_ACTIVE_TOKEN, {"digest": digest}).first()
    # The lookup is by hash; compare again in constant time so timing says nothing about near misses.
    if row is None or not hmac.compare_digest(row.token_hash, digest):
        return None
    return Principal(row.name, row.scopes, row.id)


_ACTIVE_TOKEN = (select(ApiToken.id, ApiToken.name, ApiToken.scopes, ApiToken.token_hash)
                 .where(ApiToken.token_hash == bindparam("digest"), ApiToken.revoked_at.is_(None)))


def current_principal() -> Principal | None:
    return g.get("principal")


def require_scope(scope: str, *, lookup: Callable[[str | None], Principal | None] | None = None):
    """Decorator: 401 without a valid token, 403 when the token lacks `scope` (admin implies all).

    `lookup` replaces `authenticate` (the monitoring endpoints remember recently seen tokens).
    """

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            principal = (lookup or authenticate)(presented_token())
            if principal is None:
                raise ApiError(401, "unauthorized", "a valid API token is required (Authorization: Bearer <token>)")
            if not principal.can(scope):
                raise ApiError(403, "forbidden", f"this token lacks the {scope!r} scope")
            g.principal = principal
            return view(*args, **kwargs)

        doc = wrapper.__dict__.setdefault("_apidoc", {})
        doc.setdefault("manual_doc", {})["security"] = [{"bearerAuth": []}]
        return wrapper

    return decorate


def actor_name() -> str:
    principal = current_principal()
    return f"token:{principal.name}" if principal else "system"
