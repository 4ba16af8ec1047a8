"""Teams through a Workflows webhook ("When a Teams webhook request is received").

The payload is the documented message envelope with one Adaptive Card (rendered and size-checked
when the row was created). Webhook cards cannot post back, so every button is an Action.OpenUrl.
A 2xx is success (Workflows answers 202 with an empty body); anything else is retried, honouring
Retry-After on 429 and 503.
"""
from __future__ import annotations

import json
import threading

import requests

from ..templates import TEAMS_LIMIT_BYTES
from ...mechanics.retry import parse_retry_after
from . import Outgoing, PermanentError, Receipt, RetryableError

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
USER_AGENT = "Herald (incident communications)"


class TeamsChannel:
    name = "teams"

    def __init__(self):
        self._local = threading.local()  # a requests.Session per sending thread keeps connections alive
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def send(self, message: Outgoing) -> Receipt:
        if not message.recipient.startswith(("https://", "http://")):
            raise PermanentError(f"not a webhook URL: {message.recipient[:80]!r}")
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(body) > TEAMS_LIMIT_BYTES:
            raise PermanentError(f"the card is {len(body)} bytes; Teams takes at most {TEAMS_LIMIT_BYTES}")
        try:
            response = self._session().post(message.recipient, data=body, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                            allow_redirects=False)
        except requests.RequestException as exc:
            raise RetryableError(f"Teams webhook unreachable: {type(exc).__name__}: {exc}") from exc
        if 200 <= response.status_code < 300:
            run = response.headers.get("x-ms-workflow-run-id") or response.headers.get("x-ms-request-id")
            return Receipt(run)
        retry_after = parse_retry_after(response.headers.get("Retry-After")) \
            if response.status_code in (429, 503) else None
        detail = response.text[:300].strip()
        raise RetryableError(f"Teams webhook answered {response.status_code}{': ' + detail if detail else ''}",
                             retry_after=retry_after)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()
