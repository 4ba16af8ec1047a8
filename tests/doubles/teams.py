"""A Teams Workflows webhook double ("When a Teams webhook request is received").

It checks what the real flow needs: POST with a `sig` query parameter, JSON
`{"type": "message", "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
"content": <AdaptiveCard>}]}`, under about 28 KB, and no Action.Submit/Execute (webhook cards cannot
post back). The real service answers 202 even when the flow fails later; this double answers 400
on a wrong shape so our tests see the mistake. Accepted cards are kept in `messages`.
"""
from __future__ import annotations

import json
import secrets

from .http import HttpDouble, Reply, Request

LIMIT = 28_000  # Teams counts decimal kilobytes


def shape_problems(message) -> list[str]:
    if not isinstance(message, dict) or message.get("type") != "message":
        return ['top level must be {"type": "message", ...}']
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["attachments missing or empty"]
    problems = []
    for a in attachments:
        if a.get("contentType") != "application/vnd.microsoft.card.adaptive":
            problems.append(f"bad contentType {a.get('contentType')!r}")
        card = a.get("content") or {}
        if card.get("type") != "AdaptiveCard" or not card.get("version") or not isinstance(card.get("body"), list):
            problems.append("content is not an AdaptiveCard with version and body")
        for action in card.get("actions", []):
            if action.get("type") != "Action.OpenUrl":
                problems.append(f"{action.get('type')} cannot be used in a webhook card")
    return problems


class TeamsWebhook(HttpDouble):
    def __init__(self):
        super().__init__()
        self.sig = secrets.token_urlsafe(16)
        self.messages: list[dict] = []

    @property
    def url(self) -> str:
        return (f"{self.base_url}/workflows/3f2a/triggers/manual/paths/invoke"
                f"?api-version=2016-06-01&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={self.sig}")

    def handle(self, request: Request) -> Reply:
        if request.method != "POST" or not request.path.startswith("/workflows/"):
            return Reply.json(404, {"error": {"code": "TriggerNotFound"}})
        if request.query.get("sig") != [self.sig]:
            return Reply.json(401, {"error": {"code": "DirectApiAuthorizationRequired",
                                              "message": "The request must be authenticated"}})
        if len(request.body) > LIMIT:
            return Reply.json(413, {"error": {"code": "MessageTooLarge"}})
        if not request.headers.get("Content-Type", "").startswith("application/json"):
            return Reply.json(415, {"error": {"code": "UnsupportedMediaType"}})
        try:
            message = json.loads(request.body)
        except ValueError:
            return Reply.json(400, {"error": {"code": "InvalidJson"}})
        problems = shape_problems(message)
        if problems:
            return Reply.json(400, {"error": {"code": "InvalidPayload", "message": "; ".join(problems)}})
        self.messages.append(message)
        return Reply(202, b"", {"x-ms-workflow-run-id": f"08585{len(self.messages):06d}"})

    def cards(self) -> list[dict]:
        return [m["attachments"][0]["content"] for m in self.messages]
