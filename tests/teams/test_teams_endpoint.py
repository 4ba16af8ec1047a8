"""The messaging endpoint refuses what is not a genuine activity for this bot before reading it, and
answers bad input with a clear status (never a 500)."""
from datetime import timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import func, select

from service import db
from service.teams.models import TeamsActivity
from tests.teams.conftest import load


@pytest.fixture
def hello(teams, team, bot):
    """A chat message from Alice, as Teams sends it."""
    def make(**override) -> dict:
        values = {**teams.base(team["alice"], "a:1alice-chat"), "text": "help", **override}
        return load("message", **values)

    return make


def stored(app) -> int:
    with app.app_context(), db.transaction() as s:
        return s.scalar(select(func.count(TeamsActivity.id)))


def now(clock) -> float:
    return clock.now().timestamp()


@pytest.mark.parametrize("case", ["missing", "not_bearer", "garbage", "forged", "wrong_audience", "wrong_issuer",
                                  "expired", "not_yet_valid", "hs256", "service_url"])
def test_tokens_that_are_not_the_bot_connectors_are_401(case, app, teams, bot, hello, frozen_clock):
    t = now(frozen_clock)
    tokens = {
        "missing": "",
        "not_bearer": "Basic " + bot.token(now=t)[7:],
        "garbage": "Bearer not.a.jwt",
        "forged": bot.token(now=t, key=rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        "wrong_audience": bot.token(now=t, audience="another-bot"),
        "wrong_issuer": bot.token(now=t, issuer="https://sts.windows.net/evil/"),
        "expired": bot.token(now=t - 3600 - 301, lifetime=3600),
        "not_yet_valid": bot.token(now=t + 600),
        "hs256": "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpc3MiOiJodHRwczovL2FwaS5ib3RmcmFtZXdvcmsuY29tIn0.x",
        "service_url": bot.token(now=t, service_url="https://smba.evil.example/teams/"),
    }
    answer = teams.post(hello(), token=tokens[case] or "")
    assert answer.status_code == 401, answer.get_json()
    assert answer.get_json()["code"] == "unauthorized"
    assert stored(app) == 0


def test_five_minutes_of_clock_skew_are_tolerated(teams, bot, hello, frozen_clock):
    t = now(frozen_clock)
    assert teams.post(hello(), token=bot.token(now=t - 3600 - 240, lifetime=3600)).status_code == 200
    assert teams.post(hello(), token=bot.token(now=t + 240)).status_code == 200


def test_a_rotated_key_is_fetched_when_a_token_names_it(config, teams, bot, hello, frozen_clock):
    from service.teams.auth import verifier

    verifier(config).refetch_cooldown = 0  # PyJWT waits 30 real seconds between fetches; tests do not wait
    assert teams.post(hello()).status_code == 200
    bot.rotate_key()  # Microsoft publishes a new key and signs with it
    assert teams.post(hello()).status_code == 200


def test_another_tenant_is_403_and_nothing_is_stored(app, teams, hello):
    activity = hello(tenantId="11111111-2222-3333-4444-555555555555")
    answer = teams.post(activity)
    assert answer.status_code == 403
    assert stored(app) == 0


@pytest.mark.parametrize("raw, status", [(b"{not json", 400), (b"[1, 2]", 400), (b'{"text": "no type"}', 400),
                                         (b"\xff\xfe", 400)])
def test_malformed_bodies_are_400(app, teams, raw, status):
    answer = teams.post({}, raw=raw)
    assert answer.status_code == status
    assert stored(app) == 0


def test_unknown_activity_types_are_200_and_change_nothing(app, teams, hello):
    for kind in ("typing", "messageReaction", "event", "endOfConversation", "somethingNew"):
        answer = teams.post({**hello(), "type": kind})
        assert answer.status_code == 200 and answer.data == b""
    assert stored(app) == 0


def test_an_oversized_body_is_413(app, teams, hello):
    activity = hello(text="x" * (300 * 1024))
    answer = teams.post(activity)
    assert answer.status_code == 413
    assert stored(app) == 0


def test_an_unknown_invoke_is_answered_without_a_500(teams, team, bot):
    activity = teams.invoke_activity(team["alice"], "ack", {}, conversation_id="a:1x")
    activity["name"] = "task/fetch"
    answer = teams.post(activity)
    assert answer.status_code == 200
    assert answer.get_json()["statusCode"] == 501


def test_without_the_bot_configured_every_activity_is_refused_401(client, config, teams, hello):
    config.teams_app_id = None
    assert client.post("/api/teams/messages", json=hello()).status_code == 401


def test_expired_token_check_uses_the_apps_clock(teams, bot, hello, frozen_clock):
    token = bot.token(now=now(frozen_clock), lifetime=600)
    assert teams.post(hello(), token=token).status_code == 200
    frozen_clock.advance(timedelta(minutes=16))  # 10 minutes' lifetime + 5 minutes' skew, and then some
    assert teams.post(hello(), token=token).status_code == 401
