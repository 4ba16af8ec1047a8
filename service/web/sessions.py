"""Browser sessions kept in the database: the cookie carries only a random id.

The board and the console share this. Because the server holds the session, signing out deletes
it, so a copied cookie stops working at once; a sign-in issues a new id (no session fixation);
and a session nobody has used for a day is gone. Only the SHA-256 of the id is stored, so a copy
of the table signs nobody in.

Machine endpoints (the API, feeds, static files) never read or write a session: they pay nothing.
"""
from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import JSON, ForeignKey, String, delete
from sqlalchemy.orm import Mapped, mapped_column
from werkzeug.datastructures import CallbackDict

from .. import clock, db
from ..db import Base, UTCDateTime

IDLE = timedelta(hours=24)            # a signed-in session nobody used for this long ends
LIFETIME = timedelta(days=14)         # and none lives longer than this, used or not
ANONYMOUS_IDLE = timedelta(hours=1)   # a session that only carries a form's CSRF token or a pending sign-in
TOUCH_EVERY = timedelta(minutes=5)    # how stale last_seen_at may get before a request writes it
SIGNED_IN_KEYS = ("token_digest", "person_id")
SESSIONLESS = ("/static/", "/api/", "/v2/", "/openapi.json", "/docs", "/metrics", "/calendars/", "/status",
               "/ack/")


class WebSession(Base):
    __tablename__ = "web_sessions"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # SHA-256 (hex) of the cookie's value
    data: Mapped[dict] = mapped_column(JSON, default=dict)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime())
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime())
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime(), index=True)


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


class DatabaseSession(CallbackDict, SessionMixin):
    def __init__(self, initial: dict | None = None, *, sid: str | None = None, stored: bool = True,
                 last_seen: datetime | None = None, created: datetime | None = None):
        def changed(_self):
            self.modified = True

        super().__init__(initial or {}, changed)
        self.sid = sid
        self.stored = stored          # False on machine endpoints: never saved
        self.last_seen = last_seen
        self.created = created
        self.modified = False
        self.rotate = False

    @property
    def new(self) -> bool:  # SessionMixin API
        return self.sid is None

    def regenerate(self) -> None:
        """Issue a new id when this response is saved (at sign-in); the old one stops working."""
        self.rotate = True
        self.modified = True


def regenerate() -> None:
    from flask import session

    if isinstance(session, DatabaseSession):
        session.regenerate()


def _expiry(data: dict, created: datetime, now: datetime) -> datetime:
    if any(data.get(key) for key in SIGNED_IN_KEYS):
        return min(now + IDLE, created + LIFETIME)
    return now + ANONYMOUS_IDLE


class DatabaseSessionInterface(SessionInterface):
    def open_session(self, app: Flask, request: Request) -> DatabaseSession:
        if request.path.startswith(SESSIONLESS):
            return DatabaseSession(stored=False)
        sid = request.cookies.get(self.get_cookie_name(app))
        if not sid or len(sid) > 128:
            return DatabaseSession()
        row = db.session.get(WebSession, _digest(sid))
        if row is None or row.expires_at <= clock.now():
            return DatabaseSession()
        return DatabaseSession(dict(row.data or {}), sid=sid, last_seen=row.last_seen_at, created=row.created_at)

    def save_session(self, app: Flask, session: DatabaseSession, response: Response) -> None:
        if not getattr(session, "stored", False):
            return
        name = self.get_cookie_name(app)
        domain, path = self.get_cookie_domain(app), self.get_cookie_path(app)
        now = clock.now()
        if not session:
            if session.sid is not None:
                self._write(lambda s: s.execute(delete(WebSession).where(WebSession.id == _digest(session.sid))))
                response.delete_cookie(name, domain=domain, path=path)
            return
        if session.sid is None or session.rotate:
            old = session.sid
            sid = secrets.token_urlsafe(32)
            data = dict(session)

            def insert(s):
                if old is not None:
                    s.execute(delete(WebSession).where(WebSession.id == _digest(old)))
                s.execute(delete(WebSession).where(WebSession.expires_at <= now))  # tidy up as we go
                s.add(WebSession(id=_digest(sid), data=data, person_id=data.get("person_id"), created_at=now,
                                 last_seen_at=now, expires_at=_expiry(data, now, now)))

            self._write(insert)
            # A browser-session cookie: the server decides when the session ends.
            response.set_cookie(name, sid, domain=domain, path=path, httponly=self.get_cookie_httponly(app),
                                secure=self.get_cookie_secure(app), samesite=self.get_cookie_samesite(app))
            response.vary.add("Cookie")
            return
        if not session.modified and session.last_seen and now - session.last_seen < TOUCH_EVERY:
            return  # nothing to write: reading pages costs no write
        data = dict(session)

        def update(s):
            row = s.get(WebSession, _digest(session.sid))
            if row is None:  # signed out elsewhere meanwhile: do not bring it back
                return
            if session.modified:
                row.data = data
                row.person_id = data.get("person_id")
            row.last_seen_at = now
            row.expires_at = _expiry(data, row.created_at, now)

        self._write(update)

    @staticmethod
    def _write(change) -> None:
        """On the request's own session: whatever a view left uncommitted is discarded first, as the
        end of the request would discard it (and on SQLite a second connection would wait for this one)."""
        s = db.session
        s.rollback()
        change(s)
        s.commit()



def init_app(app: Flask) -> None:
    app.session_interface = DatabaseSessionInterface()
