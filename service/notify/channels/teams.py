"""Teams through a Workflows webhook ("When a Teams webhook request is received").

The payload is the documented message envelope with one Adaptive Card (rendered and size-checked
when the row was created). Webhook cards cannot post back, so every button is an Action.OpenUrl.
A 2xx is success (Workflows answers 202 with an empty body); anything else is retried, honouring
Retry-After on 429 and 503. Only the status is kept as the error: a body may echo anything.

A URL Herald does not own (a person's `teams_webhook`: anything but HERALD_TEAMS_WEBHOOK_URL and the
policy's contacts) goes through the address policy of `service/netguard.py`, checked before the request
and on the connected socket; a refused address is final at once.
"""
from __future__ import annotations

import json
import threading

import requests

from ...netguard import AddressPolicy, OutboundError, UnsafeURL, check_url, guarded_session, host_of, \
    redact_url, unsafe_cause
from ..templates import TEAMS_LIMIT_BYTES
from ...mechanics.retry import parse_retry_after
from . import Outgoing, PermanentError, Receipt, RetryableError

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 15
USER_AGENT = "Herald (incident communications)"


class TeamsChannel:
    name = "teams"

    def __init__(self, address_policy: AddressPolicy | None = None, owned: frozenset[str] = frozenset()):
        self.address_policy = address_policy or AddressPolicy()
        self.owned = owned  # the operator's own webhooks (environment, policy): not subject to the guard
        self._local = threading.local()  # a requests.Session per sending thread keeps connections alive
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    def _session(self, guarded: bool) -> requests.Session:
        name = "guarded" if guarded else "session"
        session = getattr(self._local, name, None)
        if session is None:
            session = guarded_session(self.address_policy) if guarded else requests.Session()
            session.headers.update({"User-Agent": USER_AGENT, "Content-Type": "application/json"})
            setattr(self._local, name, session)
            with self._lock:
                self._sessions.append(session)
        return session

    def send(self, message: Outgoing) -> Receipt:
        url = message.recipient
        if not url.startswith(("https://", "http://")):
            raise PermanentError(f"not a webhook URL: {redact_url(url[:80])!r}")
        guarded = url not in self.owned
        if guarded:
            try:
                check_url(url, self.address_policy)
            except UnsafeURL as exc:
                raise PermanentError(f"Teams webhook refused: {exc}") from exc
            except OutboundError as exc:
                raise RetryableError(f"Teams webhook host {host_of(url)} does not resolve") from exc
        body = json.dumps(message.payload, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        if len(body) > TEAMS_LIMIT_BYTES:
            raise PermanentError(f"the card is {len(body)} bytes; Teams takes at most {TEAMS_LIMIT_BYTES}")
        try:
            response = self._session(guarded).post(url, data=body, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                                                   allow_redirects=False)
        except UnsafeURL as exc:  # the connected socket's peer (raised inside urllib3)
            raise PermanentError(f"Teams webhook refused: {exc}") from exc
        except requests.RequestException as exc:
            unsafe = unsafe_cause(exc)
            if unsafe is not None:
                raise PermanentError(f"Teams webhook refused: {unsafe}") from exc
            raise RetryableError(f"Teams webhook at {host_of(url)} unreachable: {_reason(exc)}") from exc
        if 200 <= response.status_code < 300:
            run = response.headers.get("x-ms-workflow-run-id") or response.headers.get("x-ms-request-id")
            return Receipt(run)
        retry_after = parse_retry_after(response.headers.get("Retry-After")) \
            if response.status_code in (429, 503) else None
        raise RetryableError(f"Teams webhook answered {response.status_code}", retry_after=retry_after)

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


def _reason(exc: BaseException) -> str:
    """The innermost cause's type (and its words when they hold no URL): never the URL with its sig=."""
    while exc.__context__ is not None:
        exc = exc.__context__
    text = str(exc)
    return type(exc).__name__ + (f": {text}" if text and "://" not in text and "?" not in text else "")
