"""Microsoft identity platform + Microsoft Graph, as far as Herald uses them, over HTTPS on 127.0.0.1.

- GET  /{tenant}/v2.0/.well-known/openid-configuration   (msal reads it when the app is built)
- POST /{tenant}/oauth2/v2.0/token                       client_credentials; wrong secret -> 401
                                                         invalid_client, as AAD answers
- POST /v1.0/users/{mailbox}/sendMail                    base64 MIME (Content-Type text/plain) or
                                                         the JSON message; 202 with no body
- GET  /v1.0/users/{user}/mailboxSettings                the user's automaticRepliesSetting (status disabled |
                                                         alwaysEnabled | scheduled, scheduledStart/EndDateTime as
                                                         dateTimeTimeZone); 404 ErrorInvalidUser for a stranger
- GET  /v1.0/users/{user}/calendarView?startDateTime=&endDateTime=   the events overlapping the window (both
                                                         parameters required, else 400 ErrorInvalidParameter), paged
                                                         by $top with @odata.nextLink; times in the zone of `Prefer:
                                                         outlook.timezone`, else UTC; honours $select
- GET  /v1.0/users/{mailbox}/mailFolders/inbox/messages/delta   paged, with deltaLink; 410 when
                                                         a delta token has been expired. Honours $select
                                                         (only the selected properties, plus id) and the
                                                         one $filter the delta supports, `receivedDateTime
                                                         ge|gt <ISO>`, for the whole sync (the options live
                                                         in the links, as Graph encodes them); removals come
                                                         as `@removed` entries
Everything under /v1.0 needs a bearer token this double issued. Wrong shapes get Graph's error
JSON with 400. `script()` makes the next answer a 429/500 etc.
"""
from __future__ import annotations

import base64
import binascii
import json
import secrets
from email import message_from_bytes, policy
from datetime import datetime
from urllib.parse import parse_qs, quote, unquote, urlencode

from .http import HttpDouble, Reply, Request


def graph_error(status: int, code: str, message: str, headers: dict | None = None) -> Reply:
    return Reply.json(status, {"error": {"code": code, "message": message}}, headers)


class GraphDouble(HttpDouble):
    def __init__(self, certificate, *, tenant="contoso-tenant", client_id="herald-app", client_secret="s3cret",
                 mailbox="herald@contoso.example"):
        super().__init__(tls_context=certificate.server_context())
        self.tenant, self.client_id, self.client_secret, self.mailbox = tenant, client_id, client_secret, mailbox
        self.tokens: set[str] = set()
        self.token_requests = 0
        self.sent: list = []          # parsed MIME messages (email.message.EmailMessage)
        self.sent_json: list[dict] = []
        self.inbox: list[dict] = []   # what the delta query reports, in arrival order: messages and removals
        self._delta_tokens: dict[str, tuple[int, dict]] = {}  # token -> (inbox entries seen, query options)
        self._skip_tokens: dict[str, tuple[int, dict]] = {}
        self.users: dict[str, dict] = {}  # address -> {"automaticRepliesSetting": {...}, "events": [...]}
        self.user_requests: list[tuple[str, dict]] = []  # (path, query) of the users' calls

    def add_user(self, address: str, *, replies: dict | None = None, events: list[dict] | None = None) -> None:
        """A mailbox Graph knows: its automatic replies (default disabled) and calendar events (UTC times)."""
        self.users[address.lower()] = {"automaticRepliesSetting": replies or {"status": "disabled"},
                                       "events": events or []}

    @property
    def authority(self) -> str:
        return f"{self.base_url}/{self.tenant}"

    @property
    def graph_url(self) -> str:
        return f"{self.base_url}/v1.0"

    def deliver_to_inbox(self, message: dict) -> None:
        self.inbox.append(message)

    def remove_from_inbox(self, message_id: str) -> None:
        self.inbox.append({"id": message_id, "@removed": {"reason": "deleted"}})

    def expire_delta_tokens(self) -> None:
        self._delta_tokens.clear()

    def revoke_tokens(self) -> None:
        self.tokens.clear()

    def handle(self, request: Request) -> Reply:
        path = request.path
        if path == f"/{self.tenant}/v2.0/.well-known/openid-configuration" and request.method == "GET":
            return Reply.json(200, self._openid_configuration())
        if path == f"/{self.tenant}/oauth2/v2.0/token" and request.method == "POST":
            return self._token(request)
        if path.startswith("/v1.0/"):
            auth = request.headers.get("Authorization", "")
            if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
                return graph_error(401, "InvalidAuthenticationToken", "Access token is empty or invalid.")
            user_prefix = f"/v1.0/users/{self.mailbox}"
            if path == f"{user_prefix}/sendMail" and request.method == "POST":
                return self._send_mail(request)
            if path == f"{user_prefix}/mailFolders/inbox/messages/delta" and request.method == "GET":
                return self._delta(request)
            if path.startswith("/v1.0/users/") and request.method == "GET":
                user, _, rest = path[len("/v1.0/users/"):].partition("/")
                mailbox = self.users.get(unquote(user).lower())
                if mailbox is not None and rest in ("mailboxSettings", "calendarView"):
                    self.user_requests.append((path, request.query))
                    return self._settings(mailbox) if rest == "mailboxSettings" else self._calendar_view(request,
                                                                                                       mailbox)
            if path.startswith("/v1.0/users/"):
                return graph_error(404, "ErrorInvalidUser", "The requested user is invalid.")
        return graph_error(404, "UnknownError", f"no route {request.method} {path}")

    def _settings(self, mailbox: dict) -> Reply:
        return Reply.json(200, {"@odata.context": f"{self.graph_url}/$metadata#users('x')/mailboxSettings",
                                "automaticRepliesSetting": {"externalAudience": "all", "internalReplyMessage": "",
                                                            "externalReplyMessage": "",
                                                            "scheduledStartDateTime": {"dateTime": "", "timeZone": "UTC"},
                                                            "scheduledEndDateTime": {"dateTime": "", "timeZone": "UTC"},
                                                            **mailbox["automaticRepliesSetting"]},
                                "timeZone": "UTC", "language": {"locale": "en-GB"}})

    def _calendar_view(self, request: Request, mailbox: dict) -> Reply:
        start = request.query.get("startDateTime", [None])[-1]
        end = request.query.get("endDateTime", [None])[-1]
        if not start or not end:
            return graph_error(400, "ErrorInvalidParameter", "This request requires a time window specified by the "
                               "query string parameters StartDateTime and EndDateTime.")
        try:
            lo, hi = (datetime.fromisoformat(v.replace("Z", "+00:00")) for v in (start, end))
        except ValueError:
            return graph_error(400, "ErrorInvalidParameter", "The value of StartDateTime or EndDateTime is invalid.")
        prefer = request.headers.get("Prefer", "")
        if prefer and prefer != 'outlook.timezone="UTC"':
            return graph_error(400, "ErrorInvalidParameter", "the double only speaks UTC")
        skip = int(request.query.get("$skip", ["0"])[-1])
        top = int(request.query.get("$top", ["10"])[-1])

        def moment(value: dict) -> datetime:
            return datetime.fromisoformat(value["dateTime"].split(".")[0]).replace(tzinfo=lo.tzinfo)

        overlapping = [e for e in mailbox["events"] if moment(e["start"]) < hi and moment(e["end"]) > lo]
        select = request.query.get("$select", [None])[-1]
        shaped = [{k: v for k, v in e.items() if not select or k in set(select.split(",")) | {"id"}}
                  for e in overlapping[skip:skip + top]]
        body = {"@odata.context": f"{self.graph_url}/$metadata#users('x')/calendarView", "value": shaped}
        if skip + top < len(overlapping):
            query = {"startDateTime": start, "endDateTime": end, "$top": top, "$skip": skip + top}
            if select:
                query["$select"] = select
            body["@odata.nextLink"] = f"{self.base_url}{request.path}?{urlencode(query)}"
        return Reply.json(200, body)

    def _openid_configuration(self) -> dict:
        base = self.authority
        return {
            "issuer": f"{base}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{self.base_url}/{self.tenant}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "id_token token"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt", "client_secret_basic"],
            "tenant_region_scope": "EU",
        }

    def _token(self, request: Request) -> Reply:
        self.token_requests += 1
        form = {k: v[-1] for k, v in parse_qs(request.body.decode()).items()}
        if form.get("grant_type") != "client_credentials":
            return Reply.json(400, {"error": "unsupported_grant_type", "error_description": "AADSTS70003"})
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return Reply.json(401, {"error": "invalid_client", "error_description":
                                    "AADSTS7000215: Invalid client secret provided.", "error_codes": [7000215]})
        if form.get("scope") != f"{self.base_url}/.default":
            return Reply.json(400, {"error": "invalid_scope", "error_description":
                                    f"AADSTS70011: The provided scope {form.get('scope')!r} is not valid."})
        token = secrets.token_urlsafe(24)
        self.tokens.add(token)
        return Reply.json(200, {"token_type": "Bearer", "expires_in": 3599, "ext_expires_in": 3599,
                                "access_token": token})

    def _send_mail(self, request: Request) -> Reply:
        content_type = request.headers.get("Content-Type", "")
        if content_type.startswith("text/plain"):
            try:
                raw = base64.b64decode(request.body, validate=True)
            except (binascii.Error, ValueError):
                return graph_error(400, "ErrorMimeContentInvalidBase64String", "Invalid base64 string for MIME content.")
            message = message_from_bytes(raw, policy=policy.default)
            if not (message["From"] and message["To"] and message["Subject"] is not None):
                return graph_error(400, "ErrorMimeContentInvalid", "The MIME content is missing From, To or Subject.")
            if self.mailbox not in str(message["From"]):
                return graph_error(400, "ErrorSendAsDenied", "The user account which was used to submit this "
                                   "request does not have the right to send mail on behalf of the specified sending "
                                   "account.")
            self.sent.append(message)
            return Reply(202, b"", {"request-id": f"req-{len(self.sent)}"})
        if content_type.startswith("application/json"):
            body = request.json()
            message = body.get("message") if isinstance(body, dict) else None
            if not isinstance(message, dict) or not message.get("toRecipients"):
                return graph_error(400, "ErrorInvalidRecipients", "At least one recipient is not valid.")
            self.sent_json.append(body)
            return Reply(202, b"", {"request-id": f"req-json-{len(self.sent_json)}"})
        return graph_error(415, "UnsupportedMediaType", f"Content-Type {content_type!r} is not supported.")

    def _delta(self, request: Request) -> Reply:
        token = request.query.get("$deltatoken", [None])[-1]
        skip = request.query.get("$skiptoken", [None])[-1]
        if token is not None and token not in self._delta_tokens:
            return graph_error(410, "SyncStateNotFound", "The sync state generation is not found.")
        if token is not None:
            start, options = self._delta_tokens[token]
        elif skip is not None:
            start, options = self._skip_tokens[skip]
        else:
            options = {"select": request.query.get("$select", [None])[-1],
                       "filter": request.query.get("$filter", [None])[-1]}
            if options["filter"] is not None and _received_since(options["filter"]) is None:
                return graph_error(400, "ErrorInvalidUrlQueryFilter",
                                   "The query filter contains one or more invalid nodes.")
            start = 0
        entries = self.inbox[start:start + 2]  # small pages, so paging is exercised
        link = f"{self.graph_url}/users/{quote(self.mailbox)}/mailFolders/inbox/messages/delta"
        page = [self._shape(entry, options) for entry in entries if self._wanted(entry, options)]
        body = {"@odata.context": f"{self.graph_url}/$metadata#Collection(message)", "value": page}
        if start + 2 < len(self.inbox):
            skip_token = secrets.token_urlsafe(8)
            self._skip_tokens[skip_token] = (start + 2, options)
            body["@odata.nextLink"] = f"{link}?$skiptoken={skip_token}"
        else:
            new_token = secrets.token_urlsafe(8)
            self._delta_tokens[new_token] = (len(self.inbox), options)
            body["@odata.deltaLink"] = f"{link}?$deltatoken={new_token}"
        return Reply(200, json.dumps(body).encode(), {"Content-Type": "application/json"})

    @staticmethod
    def _wanted(entry: dict, options: dict) -> bool:
        since = _received_since(options["filter"]) if options["filter"] else None
        return "@removed" in entry or since is None or since(entry.get("receivedDateTime", ""))

    @staticmethod
    def _shape(entry: dict, options: dict) -> dict:
        if "@removed" in entry or not options["select"]:
            return entry
        wanted = set(options["select"].split(",")) | {"id"}
        return {key: value for key, value in entry.items() if key in wanted}


def _received_since(expression: str):
    """The only $filter a messages delta takes: `receivedDateTime ge|gt <ISO 8601>` (None for anything else)."""
    import re

    found = re.fullmatch(r"receivedDateTime (ge|gt) (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ)", expression.strip())
    if found is None:
        return None
    operator, moment = found.groups()
    return (lambda value: value >= moment) if operator == "ge" else (lambda value: value > moment)
