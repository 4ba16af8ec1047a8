"""An escalation that reaches a person the bot knows: the card's Acknowledge button (verb `ack`, kind
`escalation`), through the verb registry, for that person only, once."""
from datetime import timedelta

import pytest

from service.config import PROJECT_ROOT
from tests.conftest import ADMIN, START
from tests.teams.conftest import find_action, open_p1, texts

RULE = "P1 not acknowledged"


@pytest.fixture(autouse=True)
def manager_rotation(config, tmp_path):
    """The example policy, with the Engineering Manager also reached through a rotation (Frank is on it);
    autouse, so it is in place before the app reads the policy."""
    text = (PROJECT_ROOT / "schedules" / "policy.toml").read_text()
    text = text.replace('email = ["eng-manager@example.com"]\n',
                        'email = ["eng-manager@example.com"]\nrotation = "engineering-managers"\n', 1)
    path = tmp_path / "policy.toml"
    path.write_text(text)
    config.policy_path = str(path)


@pytest.fixture
def escalated(client, team, put_on_call, frozen_clock, deliver):
    put_on_call("engineering-managers", "frank", START - timedelta(days=1))
    incident = open_p1(client)
    deliver()
    frozen_clock.set(START + timedelta(minutes=15))
    deliver()
    return incident


def frank_card(bot, team):
    chat = bot.personal_chat(team["frank"])
    assert chat is not None, "Frank got no card"
    [activity_id] = [a for a, activity in chat.activities.items()
                     if "ESCALATION" in texts(activity["attachments"][0]["content"])]
    return chat.id, activity_id


def steps(client, incident):
    return [e for e in client.get(f"/api/incidents/{incident['id']}/escalations", headers=ADMIN).get_json()
            if e["rule"] == RULE]


def test_the_card_carries_the_button_and_it_acknowledges_once(client, bot, team, teams, escalated, timeline,
                                                             frozen_clock, deliver):
    card = frank_card(bot, team)
    content = bot.conversations[card[0]].activities[card[1]]["attachments"][0]["content"]
    button = find_action(content, "ack")
    assert button["title"] == "Acknowledge escalation" and button["data"]["kind"] == "escalation"
    assert button["fallback"]["url"].startswith("http://herald.test/ack/")
    [step] = steps(client, escalated)
    assert {(r["channel"], r["address"]) for r in step["recipients"]} == {
        ("log", "eng-manager@example.com"), ("log", "frank@example.com"), ("teams_bot", "frank")}

    frozen_clock.set(START + timedelta(minutes=16))
    answer = teams.tap(team["frank"], card, "ack")
    assert answer.status_code == 200
    shown = answer.get_json()["value"]
    assert "You acknowledged this escalation" in texts(shown)
    assert find_action(shown, "ack") is None
    [step] = steps(client, escalated)
    assert (step["acknowledged_at"], step["acknowledged_by"], step["via"]) == ("2026-03-02T10:16:00Z", "frank", "teams")
    bot_row = [r for r in step["recipients"] if r["channel"] == "teams_bot"][0]
    assert bot_row["acknowledged_at"] == "2026-03-02T10:16:00Z"

    again = teams.tap(team["frank"], card, "ack")
    assert again.status_code == 200
    assert [e.text for e in timeline(escalated["id"], "escalation_acknowledged")] == [
        f"Escalation '{RULE}' (step 1) acknowledged by Frank Fisher via teams"]
    # The chain stops: nobody at VP level hears of this rule.
    frozen_clock.set(START + timedelta(minutes=45))
    deliver()
    assert [e["step"] for e in steps(client, escalated)] == [0]


def test_only_the_person_it_reached_may_press_it(client, bot, team, teams, escalated, timeline):
    card = frank_card(bot, team)
    answer = teams.tap(team["bob"], card, "ack")
    assert answer.status_code == 200
    assert "only they can acknowledge it here" in texts(answer.get_json()["value"])
    assert steps(client, escalated)[0]["acknowledged_at"] is None
    assert "Refused ack via teams from Bob Baker" in timeline(escalated["id"], "teams_refused")[0].text


def test_a_damaged_escalation_token_is_a_stale_card(client, bot, team, teams, escalated):
    card = frank_card(bot, team)
    content = bot.conversations[card[0]].activities[card[1]]["attachments"][0]["content"]
    data = dict(find_action(content, "ack")["data"])
    data["token"] = "W" + data["token"][1:]
    activity = teams.invoke_activity(team["frank"], "ack", data, conversation_id=card[0], reply_to=card[1])
    answer = teams.post(activity)
    assert answer.status_code == 200
    assert "out of date" in texts(answer.get_json()["value"])
    assert steps(client, escalated)[0]["acknowledged_at"] is None


def test_a_second_recipient_acknowledging_is_kept_but_the_first_is_the_steps(app, client, bot, team, teams,
                                                                            escalated, timeline, frozen_clock):
    from sqlalchemy import select

    from service import db
    from service.notify.models import Notification

    frozen_clock.set(START + timedelta(minutes=16))
    assert teams.tap(team["frank"], frank_card(bot, team), "ack").status_code == 200
    with app.app_context():
        token = db.session.scalar(select(Notification.ack_token).where(
            Notification.incident_id == escalated["id"], Notification.recipient == "eng-manager@example.com"))
    frozen_clock.set(START + timedelta(minutes=17))
    assert client.post(f"/ack/{token}").status_code == 200
    [step] = steps(client, escalated)
    assert (step["acknowledged_by"], step["via"], step["acknowledged_at"]) == ("frank", "teams", "2026-03-02T10:16:00Z")
    acked = {r["address"]: r["acknowledged_at"] for r in step["recipients"]}
    assert acked == {"eng-manager@example.com": "2026-03-02T10:17:00Z", "frank@example.com": None,
                     "frank": "2026-03-02T10:16:00Z"}
    assert [e.text for e in timeline(escalated["id"], "escalation_acknowledged")] == [
        f"Escalation '{RULE}' (step 1) acknowledged by Frank Fisher via teams",
        f"Escalation '{RULE}' (step 1) acknowledged by Engineering Manager <eng-manager@example.com> via link "
        "(acknowledged before by frank)"]
