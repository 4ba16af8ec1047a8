"""Microsoft Entra ID (the identity platform) signing a person in, over HTTPS on 127.0.0.1.

As documented for the OpenID Connect authorization code flow with PKCE:

- GET  /{tenant}/v2.0/.well-known/openid-configuration   discovery (issuer, endpoints, jwks_uri)
- GET  /{tenant}/oauth2/v2.0/authorize                    checks client_id, a registered redirect_uri,
                                                         response_type=code, scope with openid, state,
                                                         nonce and code_challenge with method S256; then,
                                                         as with an existing Microsoft session, redirects
                                                         straight back with ?code=&state= for `signed_in`
                                                         (or with ?error= when told to refuse)
- POST /{tenant}/oauth2/v2.0/token                        grant_type=authorization_code: client secret,
                                                         single-use code, the same redirect_uri, PKCE
                                                         verifier; answers with an RS256 id token
                                                         carrying the authorize request's nonce
- GET  /{tenant}/discovery/v2.0/keys                      the JWKS (kid, RS256)

Errors answer like AADSTS: JSON {"error", "error_description", "error_codes"} with 400/401.
"""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
import uuid
from urllib.parse import parse_qs, urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .http import HttpDouble, Reply, Request


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def aad_error(status: int, error: str, description: str, code: int) -> Reply:
    return Reply.json(status, {"error": error, "error_description": f"AADSTS{code}: {description}",
                               "error_codes": [code]})


class EntraDouble(HttpDouble):
    def __init__(self, certificate, *, tenant="contoso-tenant-id", client_id="herald-console",
                 client_secret="console-s3cret", redirect_uris=(), now=time.time):
        super().__init__(tls_context=certificate.server_context())
        self.tenant, self.client_id, self.client_secret = tenant, client_id, client_secret
        self.redirect_uris = set(redirect_uris)
        self.now = now  # seconds since the epoch; tests pass the app's clock so tokens are fresh on it
        self.key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = secrets.token_hex(8)
        self.signed_in: dict | None = None  # the claims of the person at the browser (None: nobody)
        self.refuse_next: str | None = None  # e.g. "access_denied": the next authorize answers with it
        self.codes: dict[str, dict] = {}
        self.authorize_requests: list[dict] = []

    @property
    def authority(self) -> str:
        return self.base_url  # HERALD_OIDC_AUTHORITY; Herald appends the tenant

    @property
    def issuer(self) -> str:
        return f"{self.base_url}/{self.tenant}/v2.0"

    def person(self, *, oid: str | None = None, name: str, preferred_username: str, **extra) -> dict:
        """Sign this person in at the 'browser'; returns their claims."""
        self.signed_in = {"oid": oid or str(uuid.uuid4()), "name": name, "preferred_username": preferred_username,
                          "tid": self.tenant, **extra}
        return self.signed_in

    def id_token(self, claims: dict, *, key=None, kid=None, **overrides) -> str:
        now = int(self.now())
        body = {"aud": self.client_id, "iss": self.issuer, "iat": now, "nbf": now, "exp": now + 3600,
                "sub": hashlib.sha256(claims["oid"].encode()).hexdigest()[:43], "ver": "2.0", **claims, **overrides}
        return jwt.encode(body, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid})

    def handle(self, request: Request) -> Reply:
        prefix = f"/{self.tenant}"
        path = request.path
        if path == f"{prefix}/v2.0/.well-known/openid-configuration" and request.method == "GET":
            return Reply.json(200, self._discovery())
        if path == f"{prefix}/oauth2/v2.0/authorize" and request.method == "GET":
            return self._authorize(request)
        if path == f"{prefix}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if path == f"{prefix}/discovery/v2.0/keys" and request.method == "GET":
            return Reply.json(200, {"keys": [self.jwk()]})
        return aad_error(404, "invalid_request", f"no route {request.method} {path}", 90002)

    def jwk(self) -> dict:
        numbers = self.key.public_key().public_numbers()
        return {"kty": "RSA", "use": "sig", "kid": self.kid, "alg": "RS256", "n": _b64url_uint(numbers.n),
                "e": _b64url_uint(numbers.e)}

    def _discovery(self) -> dict:
        base = f"{self.base_url}/{self.tenant}"
        return {
            "issuer": self.issuer,
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "end_session_endpoint": f"{base}/oauth2/v2.0/logout",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_modes_supported": ["query", "fragment", "form_post"],
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "code_challenge_methods_supported": ["plain", "S256"],
            "tenant_region_scope": "EU",
        }

    def _authorize(self, request: Request) -> Reply:
        q = {k: v[-1] for k, v in request.query.items()}
        self.authorize_requests.append(q)
        if q.get("client_id") != self.client_id:
            return Reply(400, b"AADSTS700016: Application not found in the directory.", {"Content-Type": "text/plain"})
        redirect = q.get("redirect_uri", "")
        if redirect not in self.redirect_uris:
            return Reply(400, b"AADSTS50011: The redirect URI specified in the request does not match the "
                              b"redirect URIs configured for the application.", {"Content-Type": "text/plain"})

        def back(**params) -> Reply:
            if q.get("state"):
                params["state"] = q["state"]
            return Reply(302, b"", {"Location": f"{redirect}?{urlencode(params)}"})

        if q.get("response_type") != "code" or "openid" not in q.get("scope", "").split():
            return back(error="invalid_request", error_description="AADSTS900144: response_type=code and the "
                                                                   "openid scope are required.")
        if q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return back(error="invalid_request", error_description="AADSTS501491: PKCE with S256 is required.")
        if not q.get("nonce"):
            return back(error="invalid_request", error_description="AADSTS90014: nonce is required.")
        if self.refuse_next:
            error, self.refuse_next = self.refuse_next, None
            return back(error=error, error_description="AADSTS65004: The user declined to consent.")
        if self.signed_in is None:
            return Reply(200, b"<!doctype html><title>Sign in</title><p>Pick an account</p>",
                         {"Content-Type": "text/html"})
        code = secrets.token_urlsafe(32)
        self.codes[code] = {"redirect_uri": redirect, "challenge": q["code_challenge"], "nonce": q["nonce"],
                            "claims": dict(self.signed_in), "scope": q["scope"]}
        return back(code=code, session_state=str(uuid.uuid4()))

    def _token(self, request: Request) -> Reply:
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return aad_error(401, "invalid_client", "Invalid client secret provided.", 7000215)
        if form.get("grant_type") != "authorization_code":
            return aad_error(400, "unsupported_grant_type", "The grant type is not supported.", 70003)
        grant = self.codes.pop(form.get("code", ""), None)  # single use
        if grant is None:
            return aad_error(400, "invalid_grant", "The provided authorization code is invalid or expired.", 70008)
        if form.get("redirect_uri") != grant["redirect_uri"]:
            return aad_error(400, "invalid_grant", "The redirect URI does not match the one of the authorization "
                                                   "request.", 50148)
        verifier = form.get("code_verifier", "")
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if not verifier or challenge != grant["challenge"]:
            return aad_error(400, "invalid_grant", "The code_verifier does not match the code_challenge supplied in "
                                                   "the authorization request.", 501481)
        id_token = self.id_token(grant["claims"], nonce=grant["nonce"])
        return Reply.json(200, {"token_type": "Bearer", "scope": grant["scope"], "expires_in": 3599,
                                "ext_expires_in": 3599, "access_token": secrets.token_urlsafe(24),
                                "id_token": id_token})

