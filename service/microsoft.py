"""The one door to Microsoft: msal app-only tokens and a small Microsoft Graph client.

One `ConfidentialClientApplication` per configured tenant and app (client credentials), whose
token cache serves every caller in the process: msal hands back the cached token until it is
within five minutes of expiry. The authority (`HERALD_GRAPH_AUTHORITY`) and the Graph base URL
(`HERALD_GRAPH_URL`) come from configuration, so sovereign clouds and local test doubles work
unchanged. TLS trust follows requests (`REQUESTS_CA_BUNDLE` for a private CA).

Graph answers 429 (and 503/504) with Retry-After when it throttles; `request(..., retries=N)`
waits and tries again when the wait is short, otherwise `GraphError.retry_after` tells the caller
(the outbox reschedules rather than sleeping in a sending thread).
"""
from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from urllib.parse import urlsplit

import msal
import requests

from .mechanics.retry import backoff, parse_retry_after

log = logging.getLogger("herald.microsoft")

CONNECT_TIMEOUT = 5
READ_TIMEOUT = 30
THROTTLED = (429, 503, 504)


class GraphError(Exception):
    """Graph (or the token endpoint) said no. `status` is the HTTP status (0 when unreachable)."""

    def __init__(self, status: int, code: str, message: str, retry_after: float | None = None):
        super().__init__(f"{status} {code}: {message}" if status else f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.retry_after = retry_after

    @property
    def throttled(self) -> bool:
        return self.status in THROTTLED

    @classmethod
    def from_response(cls, response: requests.Response) -> "GraphError":
        code, message = "error", response.text[:300]
        try:
            error = response.json().get("error", {})
            if isinstance(error, dict):
                code, message = error.get("code", code), error.get("message", message)
        except ValueError:
            pass
        retry_after = parse_retry_after(response.headers.get("Retry-After")) if response.status_code in THROTTLED \
            else None
        return cls(response.status_code, code, message, retry_after)


class TokenError(GraphError):
    """No token: wrong secret, unknown tenant, unreachable authority."""


class DeltaExpired(GraphError):
    """A delta link is no longer valid (410 Gone): start a new delta round without it."""


class Microsoft:
    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str, authority: str | None = None,
                 graph_url: str = "https://graph.microsoft.com/v1.0"):
        self.client_id = client_id
        self.authority = (authority or f"https://login.microsoftonline.com/{tenant_id}").rstrip("/")
        self.graph_url = graph_url.rstrip("/")
        origin = urlsplit(self.graph_url)
        self.scope = f"{origin.scheme}://{origin.netloc}/.default"
        self._secret = client_secret
        self._app: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()
        self.http = requests.Session()
        self.http.headers["User-Agent"] = "Herald (incident communications)"

    @classmethod
    def from_config(cls, cfg) -> "Microsoft":
        if not (cfg.graph_tenant_id and cfg.graph_client_id and cfg.graph_client_secret):
            raise TokenError(0, "not_configured", "set HERALD_GRAPH_TENANT_ID, _CLIENT_ID and _CLIENT_SECRET")
        return cls(tenant_id=cfg.graph_tenant_id, client_id=cfg.graph_client_id,
                   client_secret=cfg.graph_client_secret, authority=cfg.graph_authority, graph_url=cfg.graph_url)

    # ---- tokens --------------------------------------------------------------------------

    def _application(self) -> msal.ConfidentialClientApplication:
        with self._lock:
            if self._app is None:
                try:
                    # Construction fetches the authority's OpenID configuration.
                    self._app = msal.ConfidentialClientApplication(
                        self.client_id, client_credential=self._secret, authority=self.authority,
                        instance_discovery=False, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                    )
                except (ValueError, requests.RequestException) as exc:
                    raise TokenError(0, "authority_unavailable", str(exc)) from exc
            return self._app

    def token(self) -> str:
        """An app-only access token for Graph (from msal's cache while it is fresh)."""
        try:
            result = self._application().acquire_token_for_client(scopes=[self.scope])
        except requests.RequestException as exc:
            raise TokenError(0, "token_endpoint_unreachable", str(exc)) from exc
        if "access_token" not in result:
            raise TokenError(0, result.get("error", "no_token"), result.get("error_description", str(result)))
        return result["access_token"]

    # ---- Graph ---------------------------------------------------------------------------

    def url(self, path: str) -> str:
        return path if path.startswith(("https://", "http://")) else f"{self.graph_url}/{path.lstrip('/')}"

    def request(self, method: str, path: str, *, params: dict | None = None, json=None, data=None,
                headers: dict | None = None, retries: int = 2, max_wait: float = 30) -> requests.Response:
        """One Graph call; throttling answers are retried up to `retries` times when Retry-After <= max_wait."""
        for attempt in range(retries + 1):
            merged = {"Authorization": f"Bearer {self.token()}", **(headers or {})}
            try:
                response = self.http.request(method, self.url(path), params=params, json=json, data=data,
                                             headers=merged, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
            except requests.RequestException as exc:
                raise GraphError(0, "unreachable", f"{type(exc).__name__}: {exc}") from exc
            if response.status_code < 400:
                return response
            if response.status_code == 401:
                # A token revoked before its expiry: forget it, so the next call gets a new one.
                self._application().remove_tokens_for_client()
                if attempt == 0 and retries > 0:
                    continue
            error = (DeltaExpired if response.status_code == 410 else GraphError).from_response(response)
            wait = error.retry_after if error.retry_after is not None \
                else backoff(attempt + 1, cap=timedelta(days=1)).total_seconds()
            if error.throttled and attempt < retries and wait <= max_wait:
                log.info("Graph throttled %s %s; retrying in %ss", method, path, wait)
                time.sleep(wait)
                continue
            raise error
        raise AssertionError("unreachable")

    def get(self, path: str, params: dict | None = None, **kwargs) -> dict:
        return self.request("GET", path, params=params, **kwargs).json()

    def post(self, path: str, *, json=None, data=None, content_type: str | None = None, **kwargs) -> requests.Response:
        headers = {"Content-Type": content_type} if content_type else None
        return self.request("POST", path, json=json, data=data, headers=headers, **kwargs)

    def delta(self, path_or_link: str, params: dict | None = None, **kwargs) -> tuple[list[dict], str | None]:
        """All changes of a delta query: follows @odata.nextLink pages; returns (items, the new deltaLink).

        Pass the stored deltaLink to get what changed since; on DeltaExpired (410) start again from `path`.
        """
        items: list[dict] = []
        page = self.get(path_or_link, params=params, **kwargs)
        while True:
            items.extend(page.get("value", []))
            if "@odata.nextLink" in page:
                page = self.get(page["@odata.nextLink"], **kwargs)
                continue
            return items, page.get("@odata.deltaLink")


_clients: dict[tuple, Microsoft] = {}
_clients_lock = threading.Lock()


def microsoft(cfg) -> Microsoft:
    """The process's client for the configured tenant and app (one msal application, one token cache)."""
    key = (cfg.graph_tenant_id, cfg.graph_client_id, cfg.graph_client_secret, cfg.graph_authority, cfg.graph_url)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = Microsoft.from_config(cfg)
        return client


def forget_clients() -> None:
    """Drop every cached client (configuration changed, or a test wants a fresh msal cache)."""
    with _clients_lock:
        _clients.clear()
