"""The Teams bot against the Bot Framework double: people with Teams accounts, signed activities, the outbox."""
from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from service import db
from service.incidents.models import TimelineEntry
from service.notify.channels import close_all
from service.teams.auth import forget_verifiers
from service.teams.connector import forget_connectors
from service.wiring import run_tick
from tests.conftest import ADMIN, START
from tests.notify.conftest import certificate, outbox, responders, smtp_sink, trust  # noqa: F401  (fixtures)

ACTIVITIES = Path(__file__).parent / "activities"
CHANNEL = "19:incidents@thread.tacv2"
_ids = itertools.count(1)


@pytest.fixture
def bot(trust, config):
    """The double, and the app's configuration pointing the bot at it (the same object the app reads)."""
    forget_connectors()
    forget_verifiers()
    close_all()
    from tests.doubles.botframework import BotFrameworkDouble

    double = BotFrameworkDouble(trust).start()
    double.add_channel(CHANNEL)
    config.teams_app_id = double.app_id
    config.teams_app_password = double.app_password
    config.teams_tenant_id = double.tenant
    config.teams_authority = double.authority
    config.teams_openid_url = double.openid_url
    config.teams_service_url = double.service_url
    config.teams_channel = CHANNEL
    yield double
    double.stop()
    close_all()
    forget_connectors()
    forget_verifiers()


@pytest.fixture
def team(client, responders, bot):
    """The responders of tests/notify (Alice IC, Bob TL, Carol comms, Dave scribe, Erin on call) with Teams
    accounts; Alice, Bob and Carol are known to Herald by Entra object id, Dave and Erin only by email.
    Frank has a Teams account and an object id but holds no role."""
    people = responders()
    frank = client.post("/api/people", json={"handle": "frank", "name": "Frank Fisher",
                                             "email": "frank@example.com"}, headers=ADMIN)
    assert frank.status_code == 201
    users = {}
    for handle, name in (("alice", "Alice Archer"), ("bob", "Bob Baker"), ("carol", "Carol Clark"),
                         ("dave", "Dave Dunn"), ("erin", "Erin Ellis"), ("frank", "Frank Fisher")):
        users[handle] = bot.add_user(name, f"{handle}@example.com")
    for handle in ("alice", "bob", "carol", "frank"):
        answer = client.patch(f"/api/people/{handle}", json={"aad_object_id": users[handle].aad_object_id},
                              headers=ADMIN)
        assert answer.status_code == 200, answer.get_json()
    return users


def load(name: str, **values) -> dict:
    """A recorded activity with its {{placeholders}} filled (a placeholder that is a whole string may become any JSON)."""
    def fill(node):
        if isinstance(node, dict):
            return {k: fill(v) for k, v in node.items()}
        if isinstance(node, list):
            return [fill(v) for v in node]
        if isinstance(node, str):
            if node.startswith("{{") and node.endswith("}}") and node[2:-2] in values:
                return values[node[2:-2]]
            for key, value in values.items():
                node = node.replace("{{" + key + "}}", str(value))
        return node

    return fill(json.loads((ACTIVITIES / f"{name}.json").read_text()))


class Teams:
    """Taps and messages from the Teams client, signed like the Bot Connector signs them."""

    def __init__(self, client, bot, clock):
        self.client, self.bot, self.clock = client, bot, clock

    def base(self, user, conversation_id: str, conversation_type: str = "personal") -> dict:
        return {"id": f"f:{next(_ids)}", "serviceUrl": self.bot.service_url, "userId": user.user_id,
                "userName": user.name, "aadObjectId": user.aad_object_id, "tenantId": self.bot.tenant,
                "conversationId": conversation_id, "conversationType": conversation_type, "appId": self.bot.app_id}

    def invoke_activity(self, user, verb: str, data: dict, *, conversation_id: str, reply_to: str = "",
                        conversation_type: str = "personal", trigger: str = "manual", **override) -> dict:
        values = {**self.base(user, conversation_id, conversation_type), "verb": verb, "data": data,
                  "replyToId": reply_to, "trigger": trigger, **override}
        return load("invoke_action", **values)

    def post(self, activity: dict, *, token: str | None = None, raw: bytes | None = None):
        headers = {"Authorization": token if token is not None else self.bot.token(now=self.clock.now().timestamp())}
        if raw is not None:
            return self.client.post("/api/teams/messages", data=raw, headers={**headers,
                                                                            "Content-Type": "application/json"})
        return self.client.post("/api/teams/messages", json=activity, headers=headers)

    def tap(self, user, card_in: tuple[str, str], verb: str, inputs: dict | None = None, *,
            conversation_type: str | None = None, view: dict | None = None, **override):
        """Press the `verb` button of the card `card_in` = (conversation id, activity id) as `user`.

        `view` is the card as this user sees it (their refreshed view), else the card as posted.
        """
        conversation_id, activity_id = card_in
        card = view or self.bot.conversations[conversation_id].activities[activity_id]["attachments"][0]["content"]
        action = find_action(card, verb)
        assert action is not None, f"no {verb!r} action on the card"
        kind = conversation_type or self.bot.conversations[conversation_id].kind
        activity = self.invoke_activity(user, verb, {**action.get("data", {}), **(inputs or {})},
                                        conversation_id=conversation_id, reply_to=activity_id,
                                        conversation_type=kind, **override)
        return self.post(activity)

    def say(self, user, text: str, conversation_id: str):
        values = {**self.base(user, conversation_id), "text": text}
        return self.post(load("message", **values))


@pytest.fixture
def teams(client, bot, frozen_clock):
    return Teams(client, bot, frozen_clock)


def find_action(card: dict, verb: str) -> dict | None:
    """The Action.Execute with `verb` anywhere in the card (also inside Action.ShowCard and refresh)."""
    if isinstance(card, dict):
        if card.get("type") == "Action.Execute" and card.get("verb") == verb:
            return card
        for value in card.values():
            found = find_action(value, verb)
            if found is not None:
                return found
    elif isinstance(card, list):
        for value in card:
            found = find_action(value, verb)
            if found is not None:
                return found
    return None


def texts(card: dict) -> str:
    """Every text of a card, one per line (for asserting what a person sees)."""
    out = []

    def walk(node):
        if isinstance(node, dict):
            for key in ("text", "title", "value"):
                if isinstance(node.get(key), str):
                    out.append(node[key])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(card)
    return "\n".join(out)


@pytest.fixture
def deliver(app, frozen_clock):
    """Run a tick: the outbox sends what is due (the Bot Connector double, the SMTP sink)."""
    def run():
        with app.app_context():
            return run_tick(frozen_clock.now())

    return run


@pytest.fixture
def timeline(app):
    def entries(incident_id: int, kind: str | None = None) -> list[TimelineEntry]:
        with app.app_context(), db.transaction() as s:
            query = select(TimelineEntry).where(TimelineEntry.incident_id == incident_id).order_by(TimelineEntry.id)
            if kind:
                query = query.where(TimelineEntry.kind == kind)
            return list(s.scalars(query))

    return entries


def open_p1(client, title="Orders are failing") -> dict:
    response = client.post("/api/incidents", json={"title": title, "severity": "P1", "impact": "Nobody can trade"},
                           headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


__all__ = ["START", "CHANNEL", "open_p1", "find_action", "texts", "load"]
