"""The Bot Connector REST API, spoken directly (the Python Bot Framework SDK is end-of-life).

Outbound calls carry a client-credentials token for `https://api.botframework.com/.default` from
`<HERALD_TEAMS_AUTHORITY>/<tenant>`, obtained and cached by msal through `service/microsoft.py`.
Every method names the conversation's service URL: the one an inbound activity gave for it, else
HERALD_TEAMS_SERVICE_URL. Errors come back as `ConnectorError` with the HTTP status, the Bot
Framework error code (e.g. `BotNotInConversationRoster`) and Retry-After; the outbox decides
whether to try again.

Other domains post into any conversation with `send_card` and update it with `update_card`, or,
better, through the outbox (`service/teams/outbox.py`), which retries and records what was sent.
"""
from __future__ import annotations

import logging
import threading
from urllib.parse import quote

import requests

from ..microsoft import Microsoft, TokenError
from ..mechanics.clients import PerConfig
from ..mechanics.retry import parse_retry_after

log = logging.getLogger("herald.teams.connector")

BOT_SCOPE = "https://api.botframework.com/.default"
CARD_CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
CONNECT_TIMEOUT = 5
READ_TIMEOUT = 20
USER_AGENT = "Herald (incident communications)"


class ConnectorError(Exception):
    """The Bot Connector (or the token endpoint) said no; `status` 0 when it could not be reached."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after

    @property
    def retryable(self) -> bool:
        """Worth trying again later: throttled, a server error, unreachable, or no token right now."""
        return self.status in (0, 401, 408, 412, 429) or self.status >= 500

    @property
    def gone(self) -> bool:
        """The person removed the bot, or the conversation no longer exists: Teams cannot reach them."""
        return self.status in (403, 404)

    @classmethod
    def from_response(cls, response: requests.Response) -> "ConnectorError":
        code, message = "error", response.text[:300]
        try:
            error = response.json().get("error", {})
            if isinstance(error, dict):
                code, message = error.get("code") or code, error.get("message") or message
        except ValueError:
            pass
        retry_after = parse_retry_after(response.headers.get("Retry-After")) \
            if response.status_code in (429, 503) else None
        return cls(response.status_code, code, message, retry_after)


def card_activity(card: dict, *, summary: str = "") -> dict:
    """A `message` activity carrying one Adaptive Card."""
    activity = {"type": "message", "attachments": [{"contentType": CARD_CONTENT_TYPE, "content": card}]}
    if summary:
        activity["summary"] = summary[:200]
    return activity


class BotConnector:
    def __init__(self, *, app_id: str, app_password: str, tenant_id: str, authority: str,
                 service_url: str):
        self.app_id = app_id
        self.tenant_id = tenant_id
        self.service_url = service_url
        self.identity = Microsoft(tenant_id=tenant_id, client_id=app_id, client_secret=app_password,
                                  authority=f"{authority.rstrip('/')}/{tenant_id}", scope=BOT_SCOPE)
        self._local = threading.local()  # a requests.Session per sending thread keeps connections alive
        self._sessions: list[requests.Session] = []
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg) -> "BotConnector":
        if not cfg.teams_bot_configured:
            raise ConnectorError(0, "not_configured",
                                 "set HERALD_TEAMS_APP_ID, HERALD_TEAMS_APP_PASSWORD and HERALD_TEAMS_TENANT_ID")
        return cls(app_id=cfg.teams_app_id, app_password=cfg.teams_app_password, tenant_id=cfg.teams_tenant_id,
                   authority=cfg.teams_authority, service_url=cfg.teams_service_url)

    # ---- the REST calls ------------------------------------------------------------------

    def create_conversation(self, *, aad_object_id: str, user_id: str | None = None,
                            service_url: str | None = None) -> str:
        """Open (or find) the 1:1 chat with a person; returns the conversation id."""
        body = {
            "bot": {"id": f"28:{self.app_id}"},
            "members": [{"id": user_id or aad_object_id, "aadObjectId": aad_object_id}],
            "channelData": {"tenant": {"id": self.tenant_id}},
            "isGroup": False,
        }
        answer = self._call("POST", self._url(service_url, "/v3/conversations"), body).json()
        if not isinstance(answer, dict) or not answer.get("id"):
            raise ConnectorError(502, "bad_answer", f"no conversation id in {str(answer)[:200]}")
        return answer["id"]

    def send(self, conversation_id: str, activity: dict, *, service_url: str | None = None) -> str:
        """Post an activity into a conversation; returns the new activity's id."""
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/activities"
        answer = self._call("POST", self._url(service_url, path), activity).json()
        if not isinstance(answer, dict) or not answer.get("id"):
            raise ConnectorError(502, "bad_answer", f"no activity id in {str(answer)[:200]}")
        return answer["id"]

    def update(self, conversation_id: str, activity_id: str, activity: dict, *,
               service_url: str | None = None) -> None:
        """Replace a posted activity in place (PUT …/activities/{id})."""
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/activities/{quote(activity_id, safe='')}"
        self._call("PUT", self._url(service_url, path), {**activity, "id": activity_id})

    def member(self, conversation_id: str, user_id: str, *, service_url: str | None = None) -> dict:
        """`{id, name, aadObjectId, email, userPrincipalName}` of a conversation member."""
        path = f"/v3/conversations/{quote(conversation_id, safe='')}/members/{quote(user_id, safe='')}"
        answer = self._call("GET", self._url(service_url, path), None).json()
        return answer if isinstance(answer, dict) else {}

    def send_card(self, conversation_id: str, card: dict, *, service_url: str | None = None) -> str:
        return self.send(conversation_id, card_activity(card), service_url=service_url)

    def update_card(self, conversation_id: str, activity_id: str, card: dict, *,
                    service_url: str | None = None) -> None:
        self.update(conversation_id, activity_id, card_activity(card), service_url=service_url)

    # ---- plumbing ------------------------------------------------------------------------

    def _url(self, service_url: str | None, path: str) -> str:
        return (service_url or self.service_url).rstrip("/") + path

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            self._local.session = session
            with self._lock:
                self._sessions.append(session)
        return session

    def _token(self) -> str:
        try:
            return self.identity.token()
        except TokenError as exc:
            raise ConnectorError(0, f"token_{exc.code}", exc.message) from exc

    def _call(self, method: str, url: str, body: dict | None) -> requests.Response:
        for attempt in (0, 1):
            headers = {"Authorization": f"Bearer {self._token()}"}
            try:
                response = self._session().request(method, url, json=body, headers=headers,
                                                   timeout=(CONNECT_TIMEOUT, READ_TIMEOUT), allow_redirects=False)
            except requests.RequestException as exc:
                raise ConnectorError(0, "unreachable", f"{type(exc).__name__}: {exc}") from exc
            if response.status_code == 401 and attempt == 0:
                self.identity.forget_token()  # revoked before its expiry: a new token, once
                continue
            if response.status_code >= 400:
                raise ConnectorError.from_response(response)
            return response
        raise AssertionError("unreachable")

    def close(self) -> None:
        with self._lock:
            sessions, self._sessions = self._sessions, []
        for session in sessions:
            session.close()


connector = PerConfig(BotConnector.from_config, "teams_app_id", "teams_app_password", "teams_tenant_id",
                      "teams_authority", "teams_service_url")
"""The process's Bot Connector client for the configured bot (one msal application, one token cache)."""
forget_connectors = connector.forget
