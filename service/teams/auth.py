"""Is this activity really from the Bot Connector? ("Authenticate requests from the Bot Connector service")

The bearer token must be an RS256 JWT signed by a key of the JWKS that the OpenID configuration
(HERALD_TEAMS_OPENID_URL) names, issued by `https://api.botframework.com` for our app id
(`aud`), unexpired and already valid with five minutes' skew, and its `serviceUrl` claim must
equal the activity's. Keys are cached and fetched again when a token names an unknown `kid`
(they rotate). Expiry is judged by the app's clock, so tests move time instead of waiting.
TLS trust follows REQUESTS_CA_BUNDLE / SSL_CERT_FILE.
"""
from __future__ import annotations

import logging
import os
import ssl
import threading
import time

import jwt
import requests

from .. import clock

log = logging.getLogger("herald.teams.auth")

ISSUER = "https://api.botframework.com"
SKEW_SECONDS = 300
OPENID_TTL_SECONDS = 24 * 3600  # the configuration rarely changes; the keys are refetched on an unknown kid


class Unauthorized(Exception):
    """Not a genuine Bot Connector request for this bot; the message says why (for the log, not the caller)."""


def _ssl_context() -> ssl.SSLContext:
    cafile = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("SSL_CERT_FILE")
    return ssl.create_default_context(cafile=cafile) if cafile else ssl.create_default_context()


class BotTokenVerifier:
    def __init__(self, *, openid_url: str, app_id: str):
        self.openid_url = openid_url
        self.app_id = app_id
        self._jwks: jwt.PyJWKClient | None = None
        self._fetched_at = 0.0
        self._lock = threading.Lock()
        # An unknown kid fetches the keys again, but not more often than this (PyJWT's guard against floods).
        self.refetch_cooldown = 30.0

    def _keys(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._jwks is None or time.monotonic() - self._fetched_at > OPENID_TTL_SECONDS:
                try:
                    response = requests.get(self.openid_url, timeout=(5, 15))
                    response.raise_for_status()
                    jwks_uri = response.json()["jwks_uri"]
                except (requests.RequestException, ValueError, KeyError, TypeError) as exc:
                    if self._jwks is None:
                        raise Unauthorized(f"cannot read the OpenID configuration {self.openid_url}: {exc}") from exc
                    log.warning("OpenID configuration unavailable (%s); keeping the keys we have", exc)
                else:
                    self._jwks = jwt.PyJWKClient(jwks_uri, cache_jwk_set=True, lifespan=3600,
                                                 ssl_context=_ssl_context(), timeout=15,
                                                 cooldown_duration=self.refetch_cooldown)
                self._fetched_at = time.monotonic()
            return self._jwks

    def verify(self, authorization: str | None) -> dict:
        """The token's claims, or Unauthorized. The serviceUrl claim is checked by `check_service_url`."""
        scheme, _, token = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("no bearer token")
        token = token.strip()
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"not a JWT: {exc}") from exc
        if header.get("alg") != "RS256":
            raise Unauthorized(f"algorithm {header.get('alg')!r} is not RS256")
        try:
            key = self._keys().get_signing_key(header.get("kid") or "")
        except jwt.PyJWKClientError as exc:
            raise Unauthorized(f"no published key signs this token: {exc}") from exc
        try:
            claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=self.app_id, issuer=ISSUER,
                                options={"require": ["exp", "iss", "aud"], "verify_exp": False,
                                         "verify_nbf": False, "verify_iat": False})
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"{type(exc).__name__}: {exc}") from exc
        now = clock.now().timestamp()
        if not isinstance(claims.get("exp"), (int, float)) or claims["exp"] + SKEW_SECONDS < now:
            raise Unauthorized("the token has expired")
        if isinstance(claims.get("nbf"), (int, float)) and claims["nbf"] - SKEW_SECONDS > now:
            raise Unauthorized("the token is not valid yet")
        return claims


def check_service_url(claims: dict, activity: dict) -> None:
    """The token was issued for the service URL the activity names (else it could be replayed elsewhere)."""
    claimed, named = claims.get("serviceUrl"), activity.get("serviceUrl")
    if not claimed or not isinstance(named, str) or claimed.rstrip("/") != named.rstrip("/"):
        raise Unauthorized(f"serviceUrl claim {claimed!r} does not match the activity's {named!r}")


_verifiers: dict[tuple[str, str], BotTokenVerifier] = {}
_verifiers_lock = threading.Lock()


def verifier(cfg) -> BotTokenVerifier:
    key = (cfg.teams_openid_url, cfg.teams_app_id or "")
    with _verifiers_lock:
        found = _verifiers.get(key)
        if found is None:
            found = _verifiers[key] = BotTokenVerifier(openid_url=cfg.teams_openid_url, app_id=cfg.teams_app_id or "")
        return found


def forget_verifiers() -> None:
    with _verifiers_lock:
        _verifiers.clear()
