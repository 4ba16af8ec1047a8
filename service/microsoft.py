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
import warnings
from datetime import timedelta
from urllib.parse import urlsplit

import jwt
import msal
import requests

from .mechanics.clients import PerConfig
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
                 graph_url: str = "https://graph.microsoft.com/v1.0", scope: str | None = None):
        self.client_id = client_id
        self.authority = (authority or f"https://login.microsoftonline.com/{tenant_id}").rstrip("/")
        self.graph_url = graph_url.rstrip("/")
        origin = urlsplit(self.graph_url)
        # Graph's own scope by default; the Teams bot asks for https://api.botframework.com/.default.
        self.scope = scope or f"{origin.scheme}://{origin.netloc}/.default"
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
        """An app-only access token for `scope` (from msal's cache while it is fresh)."""
        try:
            result = self._application().acquire_token_for_client(scopes=[self.scope])
        except requests.RequestException as exc:
            raise TokenError(0, "token_endpoint_unreachable", str(exc)) from exc
        if "access_token" not in result:
            raise TokenError(0, result.get("error", "no_token"), result.get("error_description", str(result)))
        return result["access_token"]

    def forget_token(self) -> None:
        """Drop the cached token (the resource said it was revoked), so the next call gets a new one."""
        if self._app is not None:
            self._app.remove_tokens_for_client()

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


microsoft = PerConfig(Microsoft.from_config, "graph_tenant_id", "graph_client_id", "graph_client_secret",
                      "graph_authority", "graph_url")
"""The process's Graph client for the configured tenant and app (one msal application, one token cache)."""
forget_clients = microsoft.forget


# ---- signing people in (OpenID Connect, authorization code flow with PKCE) --------------------------

SIGN_IN_SCOPES = ["email"]  # msal adds openid and profile itself (offline_access is excluded below)
ID_TOKEN_SKEW = 300  # seconds of clock difference tolerated on exp/nbf/iat


class SignInFailed(Exception):
    """Microsoft sign-in did not produce a trustworthy identity; `status` is the HTTP status to answer."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


class MicrosoftSignIn:
    """Entra ID sign-in for the console: msal runs the flow (state, nonce, PKCE S256, code exchange);
    the id token is then checked here, because msal no longer validates it: RS256 signature by a key of
    the tenant's JWKS, issuer, audience, lifetime on the app's clock.

    A new msal application per sign-in keeps one person's tokens out of the next person's cache.
    """

    def __init__(self, *, tenant_id: str, client_id: str, client_secret: str,
                 authority: str = "https://login.microsoftonline.com"):
        self.tenant_id = tenant_id
        self.client_id = client_id
        self._secret = client_secret
        self.authority = f"{authority.rstrip('/')}/{tenant_id}"
        self._keys: dict[str, object] = {}
        self._metadata: dict | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, cfg) -> "MicrosoftSignIn":
        return cls(tenant_id=cfg.oidc_tenant_id, client_id=cfg.oidc_client_id, client_secret=cfg.oidc_client_secret,
                   authority=cfg.oidc_authority)

    def _application(self) -> msal.ConfidentialClientApplication:
        try:
            return msal.ConfidentialClientApplication(
                self.client_id, client_credential=self._secret, authority=self.authority, instance_discovery=False,
                exclude_scopes=["offline_access"], timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
        except (ValueError, requests.RequestException) as exc:
            raise SignInFailed(502, f"Microsoft sign-in is unreachable right now ({type(exc).__name__}).") from exc

    def begin(self, redirect_uri: str) -> dict:
        """The flow to keep in the session until the callback; `flow["auth_uri"]` is where to send the browser.

        The answer comes back as a GET with the code in the query: a form_post answer is a cross-site
        POST, which would not carry the SameSite=Lax session cookie that holds this flow.
        """
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="response_mode='form_post' is recommended")
            return self._application().initiate_auth_code_flow(SIGN_IN_SCOPES, redirect_uri=redirect_uri,
                                                               response_mode="query")

    def finish(self, flow: dict, response: dict, now) -> dict:
        """The verified id token claims of the person who signed in."""
        try:
            result = self._application().acquire_token_by_auth_code_flow(flow, response)
        except ValueError as exc:  # msal: state mismatch or a malformed answer
            raise SignInFailed(400, "This sign-in answer does not belong to the sign-in this browser started. "
                                    "Please start again.") from exc
        except RuntimeError as exc:  # msal: the id token's nonce is not ours
            raise SignInFailed(400, "The sign-in could not be verified (nonce). Please start again.") from exc
        except requests.RequestException as exc:
            raise SignInFailed(502, f"Microsoft sign-in is unreachable right now ({type(exc).__name__}).") from exc
        if "error" in result:
            detail = str(result.get("error_description") or result["error"]).splitlines()[0][:300]
            raise SignInFailed(401, f"Microsoft did not sign you in: {detail}")
        if "id_token" not in result:
            raise SignInFailed(502, "Microsoft answered without an id token.")
        return self.verify(result["id_token"], now)

    def verify(self, id_token: str, now) -> dict:
        metadata = self._discovery()
        try:
            header = jwt.get_unverified_header(id_token)
            key = self._key(header.get("kid"), metadata["jwks_uri"])
            claims = jwt.decode(id_token, key, algorithms=["RS256"], audience=self.client_id,
                                options={"verify_exp": False, "verify_nbf": False, "verify_iat": False,
                                         "verify_iss": False, "require": ["exp", "iat", "aud", "iss"]})
        except jwt.PyJWTError as exc:
            raise SignInFailed(401, f"The id token from Microsoft is not valid: {exc}") from exc
        issuer = metadata["issuer"].replace("{tenantid}", str(claims.get("tid", "")))
        if claims["iss"] != issuer:
            raise SignInFailed(401, "The id token comes from another issuer than this tenant.")
        stamp = now.timestamp()
        if claims["exp"] < stamp - ID_TOKEN_SKEW or claims.get("nbf", claims["iat"]) > stamp + ID_TOKEN_SKEW:
            raise SignInFailed(401, "The id token from Microsoft has expired or is not valid yet.")
        return claims

    def _discovery(self) -> dict:
        with self._lock:
            if self._metadata is None:
                url = f"{self.authority}/v2.0/.well-known/openid-configuration"
                try:
                    response = requests.get(url, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
                    response.raise_for_status()
                    self._metadata = response.json()
                except (requests.RequestException, ValueError) as exc:
                    raise SignInFailed(502, "Microsoft's sign-in metadata cannot be read right now.") from exc
            return self._metadata

    def _key(self, kid: str | None, jwks_uri: str):
        """The signing key `kid` from the JWKS; fetched again once when the key is unknown (keys rotate)."""
        with self._lock:
            if kid not in self._keys:
                try:
                    response = requests.get(jwks_uri, timeout=(CONNECT_TIMEOUT, READ_TIMEOUT))
                    response.raise_for_status()
                    keys = jwt.PyJWKSet.from_dict(response.json()).keys
                except (requests.RequestException, ValueError, jwt.PyJWTError) as exc:
                    raise SignInFailed(502, "Microsoft's signing keys cannot be read right now.") from exc
                self._keys = {k.key_id: k for k in keys if k.key_id}
            if kid not in self._keys:
                raise SignInFailed(401, "The id token is signed with a key this tenant does not publish.")
            return self._keys[kid]


microsoft_sign_in = PerConfig(MicrosoftSignIn.from_config, "oidc_tenant_id", "oidc_client_id",
                              "oidc_client_secret", "oidc_authority")
"""The process's sign-in helper (it caches the tenant's metadata and signing keys)."""
