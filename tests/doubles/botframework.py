"""Microsoft's side of a Teams bot, over HTTPS on 127.0.0.1, as documented (INTERFACES.md, CONTRACT §6).

- Login (Microsoft identity platform) for msal's client credentials:
  GET  /{tenant}/v2.0/.well-known/openid-configuration, POST /{tenant}/oauth2/v2.0/token
  (scope https://api.botframework.com/.default; wrong secret -> 401 invalid_client; expires_in 3599).
- Bot Framework's OpenID configuration and JWKS: GET /v1/.well-known/openidconfiguration ->
  {issuer, jwks_uri, …}; GET /v1/.well-known/keys -> {"keys": [RSA JWK with kid and endorsements]}.
  `token(...)` signs an inbound activity's JWT the way the Bot Connector does (RS256, iss
  https://api.botframework.com, aud the app id, serviceUrl claim); `rotate_key()` publishes a new key.
- The Bot Connector under /teams/ (the service URL): POST /v3/conversations (creates a 1:1 chat;
  checks bot, members, tenant, isGroup), POST /v3/conversations/{id}/activities (a message with an
  Adaptive Card, at most 28 KB -> 201 {id}), PUT /v3/conversations/{id}/activities/{activityId}
  (update in place), GET /v3/conversations/{id}/members/{userId}. Every call needs a token this
  double issued. A person who removed the bot (`remove_bot`) gets 403 BotNotInConversationRoster;
  `script(429, headers={"Retry-After": "7"})` throttles the next call.
"""
from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa

from .http import HttpDouble, Reply, Request

BOT_SCOPE = "https://api.botframework.com/.default"
ISSUER = "https://api.botframework.com"
CARD = "application/vnd.microsoft.card.adaptive"
LIMIT = 28 * 1024


def connector_error(status: int, code: str, message: str, headers: dict | None = None) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}}, headers)


@dataclass
class Conversation:
    id: str
    kind: str                     # personal | channel
    members: list = field(default_factory=list)
    activities: dict = field(default_factory=dict)  # activity id -> the activity as it is now


@dataclass
class TeamsUser:
    """A person in the tenant, as Teams knows them."""

    user_id: str                  # "29:…"
    aad_object_id: str
    name: str
    email: str

    def member(self) -> dict:
        return {"id": self.user_id, "name": self.name, "aadObjectId": self.aad_object_id, "email": self.email,
                "userPrincipalName": self.email, "tenantId": None}


class BotFrameworkDouble(HttpDouble):
    def __init__(self, certificate, *, tenant="72f988bf-86f1-41af-91ab-2d7cd011db47",
                 app_id="9d2d5c3a-6c4e-4d7a-9b0f-3a2b1c0d9e8f", app_password="bot-s3cret"):
        super().__init__(tls_context=certificate.server_context())
        self.tenant, self.app_id, self.app_password = tenant, app_id, app_password
        self._keys: list[tuple[str, rsa.RSAPrivateKey]] = []
        self.rotate_key()
        self.access_tokens: set[str] = set()
        self.token_requests = 0
        self.conversations: dict[str, Conversation] = {}
        self.created: list[dict] = []          # bodies of POST /v3/conversations
        self.posted: list[tuple[str, dict]] = []   # (conversation id, activity) in order
        self.updated: list[tuple[str, str, dict]] = []  # (conversation id, activity id, activity)
        self.users: dict[str, TeamsUser] = {}  # by user id
        self.removed: set[str] = set()         # aad object ids of people who removed the bot
        self._count = 0

    # ---- set-up ---------------------------------------------------------------------------

    @property
    def authority(self) -> str:
        return self.base_url  # Herald appends the tenant

    @property
    def openid_url(self) -> str:
        return f"{self.base_url}/v1/.well-known/openidconfiguration"

    @property
    def service_url(self) -> str:
        return f"{self.base_url}/teams/"

    def add_user(self, name: str, email: str) -> TeamsUser:
        n = len(self.users) + 1
        user = TeamsUser(f"29:1user{n}-{secrets.token_hex(6)}", f"00000000-0000-4000-8000-{n:012d}", name, email)
        self.users[user.user_id] = user
        return user

    def add_channel(self, conversation_id: str = "19:incidents@thread.tacv2") -> str:
        self.conversations[conversation_id] = Conversation(conversation_id, "channel")
        return conversation_id

    def open_chat(self, user: TeamsUser) -> str:
        """The person opens a 1:1 chat with the bot in Teams (installs it): the conversation exists."""
        conversation_id = f"a:1{secrets.token_hex(12)}"
        self.conversations[conversation_id] = Conversation(conversation_id, "personal", [user.member()])
        return conversation_id

    def remove_bot(self, user: TeamsUser) -> None:
        self.removed.add(user.aad_object_id)

    def rotate_key(self) -> str:
        kid = f"key-{len(self._keys) + 1}-{secrets.token_hex(4)}"
        self._keys.append((kid, rsa.generate_private_key(public_exponent=65537, key_size=2048)))
        return kid

    # ---- what Teams sends to the bot ------------------------------------------------------

    def token(self, *, now: float, audience: str | None = None, issuer: str = ISSUER, lifetime: float = 3600,
              service_url: str | None = None, key: rsa.RSAPrivateKey | None = None, kid: str | None = None) -> str:
        """The `Authorization` header value of an inbound activity, signed with the published key."""
        current_kid, current_key = self._keys[-1]
        claims = {"iss": issuer, "aud": audience or self.app_id, "serviceUrl": service_url or self.service_url,
                  "nbf": int(now) - 5, "exp": int(now + lifetime), "iat": int(now) - 5}
        encoded = jwt.encode(claims, key or current_key, algorithm="RS256", headers={"kid": kid or current_kid})
        return f"Bearer {encoded}"

    def cards_in(self, conversation_id: str) -> list[dict]:
        """The cards of a conversation as they are now (after updates in place), oldest first."""
        conversation = self.conversations[conversation_id]
        return [a["attachments"][0]["content"] for a in conversation.activities.values()]

    def personal_chat(self, user: TeamsUser) -> Conversation | None:
        return next((c for c in self.conversations.values()
                     if c.kind == "personal" and any(m.get("aadObjectId") == user.aad_object_id for m in c.members)),
                    None)

    # ---- serving --------------------------------------------------------------------------

    def handle(self, request: Request) -> Reply:
        path = request.path
        if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration" and request.method == "GET":
            base = f"{self.base_url}/{self.tenant}"
            return Reply.json(200, {"issuer": f"{base}/v2.0", "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
                                    "token_endpoint": f"{base}/oauth2/v2.0/token",
                                    "jwks_uri": f"{base}/discovery/v2.0/keys"})
        if path == f"/{self.tenant}/oauth2/v2.0/token" and request.method == "POST":
            return self._issue(request)
        if path == "/v1/.well-known/openidconfiguration" and request.method == "GET":
            return Reply.json(200, {"issuer": ISSUER, "authorization_endpoint": "https://invalid.botframework.com",
                                    "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
                                    "id_token_signing_alg_values_supported": ["RS256"],
                                    "token_endpoint_auth_methods_supported": ["private_key_jwt"]})
        if path == "/v1/.well-known/keys" and request.method == "GET":
            keys = []
            for kid, key in self._keys:
                jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key.public_key()))
                keys.append({**jwk, "kid": kid, "use": "sig", "endorsements": ["msteams"]})
            return Reply.json(200, {"keys": keys})
        if path.startswith("/teams/v3/"):
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.access_tokens:
                return connector_error(401, "Unauthorized", "Authorization has been denied for this request.")
            return self._connector(request, path[len("/teams"):])
        return connector_error(404, "NotFound", f"no route {request.method} {path}")

    def _issue(self, request: Request) -> Reply:
        self.token_requests += 1
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply.json(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"})
        if form.get("client_id") != self.app_id or form.get("client_secret") != self.app_password:
            return Reply.json(401, {"error": "invalid_client", "error_description":
                                    "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]})
        if form.get("scope") != BOT_SCOPE:
            return Reply.json(400, {"error": "invalid_scope", "error_description":
                                    f"AADSTS70011: The provided scope {form.get('scope')!r} is not valid."})
        token = secrets.token_urlsafe(24)
        self.access_tokens.add(token)
        return Reply.json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                "access_token": token})

    def _connector(self, request: Request, path: str) -> Reply:
        parts = path.strip("/").split("/")  # v3, conversations, {id}, activities|members, {x}
        try:
            body = request.json() if request.body else None
        except ValueError:
            return connector_error(400, "BadSyntax", "The request body is not JSON.")
        if parts == ["v3", "conversations"] and request.method == "POST":
            return self._create(body)
        if len(parts) < 4 or parts[:2] != ["v3", "conversations"]:
            return connector_error(404, "NotFound", f"no route {request.method} {path}")
        conversation = self.conversations.get(parts[2])
        if conversation is None:
            return connector_error(404, "ConversationNotFound", "Conversation not found.")
        if conversation.kind == "personal" and any(m.get("aadObjectId") in self.removed for m in conversation.members):
            return connector_error(403, "BotNotInConversationRoster", "The bot is not part of the conversation roster.")
        if parts[3] == "members" and len(parts) == 5 and request.method == "GET":
            user = self.users.get(parts[4]) or next(  # Teams also takes the Entra object id here
                (u for u in self.users.values() if u.aad_object_id == parts[4]), None)
            if user is None:
                return connector_error(404, "MemberNotFoundInConversation", "The member was not found.")
            return Reply.json(200, user.member())
        if parts[3] == "activities" and len(parts) == 4 and request.method == "POST":
            problem = _card_message_problem(body, request.body)
            if problem:
                return connector_error(413 if "bytes" in problem else 400, "BadArgument", problem)
            self._count += 1
            activity_id = f"1:{self._count:04d}{secrets.token_hex(3)}"
            conversation.activities[activity_id] = body
            self.posted.append((conversation.id, body))
            return Reply.json(201, {"id": activity_id})
        if parts[3] == "activities" and len(parts) == 5 and request.method == "PUT":
            if parts[4] not in conversation.activities:
                return connector_error(404, "ActivityNotFound", "The activity was not found.")
            problem = _card_message_problem(body, request.body)
            if problem:
                return connector_error(400, "BadArgument", problem)
            conversation.activities[parts[4]] = body
            self.updated.append((conversation.id, parts[4], body))
            return Reply.json(200, {"id": parts[4]})
        return connector_error(405, "MethodNotAllowed", f"{request.method} {path}")

    def _create(self, body) -> Reply:
        if not isinstance(body, dict) or body.get("bot", {}).get("id") != f"28:{self.app_id}":
            return connector_error(400, "BadArgument", "bot.id must be 28:<app id>")
        members = body.get("members")
        if not isinstance(members, list) or len(members) != 1 or not members[0].get("id"):
            return connector_error(400, "BadArgument", "a 1:1 conversation needs exactly one member")
        if (body.get("channelData") or {}).get("tenant", {}).get("id") != self.tenant:
            return connector_error(400, "BadArgument", "channelData.tenant.id is required")
        if body.get("isGroup") is not False:
            return connector_error(400, "BadArgument", "isGroup must be false")
        member = members[0]
        known = next((u for u in self.users.values()
                      if member.get("aadObjectId") == u.aad_object_id or member["id"] == u.user_id), None)
        if known is None:
            return connector_error(404, "MemberNotFound", "The user is not in this tenant.")
        if known.aad_object_id in self.removed:
            return connector_error(403, "BotNotInConversationRoster", "The user has not installed the bot.")
        self.created.append(body)
        existing = self.personal_chat(known)
        if existing is not None:
            return Reply.json(200, {"id": existing.id})
        conversation_id = f"a:1{secrets.token_hex(12)}"
        self.conversations[conversation_id] = Conversation(conversation_id, "personal", [known.member()])
        return Reply.json(201, {"id": conversation_id})


def _card_message_problem(activity, raw: bytes) -> str | None:
    if len(raw) > LIMIT:
        return f"the message is {len(raw)} bytes; at most {LIMIT}"
    if not isinstance(activity, dict) or activity.get("type") != "message":
        return "an activity of type message is required"
    attachments = activity.get("attachments")
    if not isinstance(attachments, list) or len(attachments) != 1:
        return "one attachment is required"
    attachment = attachments[0]
    card = attachment.get("content") or {}
    if attachment.get("contentType") != CARD or card.get("type") != "AdaptiveCard":
        return "the attachment must be an Adaptive Card"
    if card.get("version") not in ("1.4", "1.5"):
        return "Universal Actions need card version 1.4 or later"
    return None
