"""The Got it button on the bot's stakeholder cards, against the Bot Framework double: whoever taps it is
recorded (a person Herald knows by their email, anyone else by Entra object id), once, and nothing else changes."""
from __future__ import annotations

from tests.conftest import ADMIN
from tests.teams.conftest import CHANNEL, find_action, open_p1, texts


def channel_card(bot, n: int = 0) -> tuple[str, str]:
    return CHANNEL, list(bot.conversations[CHANNEL].activities)[n]


def updates(client, incident) -> list[dict]:
    return client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN).get_json()


def test_every_stakeholder_card_has_got_it(client, team, bot, deliver):
    open_p1(client)
    deliver()
    card = bot.conversations[CHANNEL].activities[channel_card(bot)[1]]["attachments"][0]["content"]
    got_it = find_action(card, "got_it")
    assert got_it is not None and got_it["title"] == "Got it"
    assert set(got_it["data"]) == {"token", "update"}


def test_tapping_got_it_records_who_once_and_changes_nothing_else(client, team, bot, teams, deliver, timeline,
                                                                 frozen_clock):
    incident = open_p1(client)
    deliver()
    entries_before = len(timeline(incident["id"]))
    answer = teams.tap(team["frank"], channel_card(bot), "got_it")  # Frank: known to Herald, holds no role
    assert answer.status_code == 200
    card = answer.get_json()["value"]
    assert "✅ You said Got it at Mon 2 Mar 2026 10:00 UTC." in texts(card)
    assert find_action(card, "got_it") is None  # his card no longer asks
    [initial] = updates(client, incident)
    assert initial["acknowledged_by"] == [{"address": "frank@example.com", "name": "Frank Fisher",
                                           "at": "2026-03-02T10:00:00Z", "via": "teams"}]
    bot_card = next(r for r in initial["recipients"] if r["channel"] == "teams_bot")
    assert bot_card["address"] == CHANNEL and bot_card["acknowledged_at"] == "2026-03-02T10:00:00Z"
    assert initial["seen"]["count"] == 1

    # Twice (another tap: a new activity) counts once; the card still says when.
    again = teams.tap(team["frank"], channel_card(bot), "got_it")
    assert "✅ You said Got it at Mon 2 Mar 2026 10:00 UTC." in texts(again.get_json()["value"])
    assert len(updates(client, incident)[0]["acknowledged_by"]) == 1
    # A receipt is no acknowledgement of any page, and writes nothing on the timeline.
    now = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()
    assert all(r["acknowledged_at"] is None for r in now["roles"].values())
    assert len(timeline(incident["id"])) == entries_before


def test_someone_herald_does_not_know_is_recorded_by_their_teams_identity(client, team, bot, teams, deliver):
    incident = open_p1(client)
    deliver()
    stranger = bot.add_user("Zoe Zander", "zoe@partner.example")  # in the tenant, not in Herald
    answer = teams.tap(stranger, channel_card(bot), "got_it")
    assert answer.status_code == 200
    [seen] = updates(client, incident)[0]["acknowledged_by"]
    assert seen["address"] == f"teams:{stranger.aad_object_id}" and seen["name"] == "Zoe Zander"
    assert seen["via"] == "teams"


def test_a_role_holder_sees_got_it_beside_their_buttons(client, team, bot, teams, deliver):
    open_p1(client)
    deliver()
    view = teams.tap(team["carol"], channel_card(bot), "refresh", trigger="automatic").get_json()["value"]
    assert find_action(view, "got_it") is not None and find_action(view, "update") is not None
    teams.tap(team["carol"], channel_card(bot), "got_it", view=view)
    view = teams.tap(team["carol"], channel_card(bot), "refresh", trigger="automatic").get_json()["value"]
    assert find_action(view, "got_it") is None and find_action(view, "update") is not None
    assert "✅ You said Got it" in texts(view)


def test_each_update_card_has_its_own_receipts(client, team, bot, teams, deliver):
    incident = open_p1(client)
    deliver()
    posted = client.post(f"/api/incidents/{incident['id']}/updates", json={"status": "identified"}, headers=ADMIN)
    assert posted.status_code == 201
    deliver()
    progress_card = next(c for c in bot.conversations[CHANNEL].activities
                         if "UPDATE" in texts(bot.conversations[CHANNEL].activities[c]["attachments"][0]["content"]))
    teams.tap(team["frank"], (CHANNEL, progress_card), "got_it")
    initial, progress = updates(client, incident)
    assert initial["acknowledged_by"] == []
    assert [a["address"] for a in progress["acknowledged_by"]] == ["frank@example.com"]


def test_bad_taps_change_nothing(client, team, bot, teams, deliver):
    incident = open_p1(client)
    deliver()
    conversation, activity = channel_card(bot)
    card = bot.conversations[conversation].activities[activity]["attachments"][0]["content"]
    data = find_action(card, "got_it")["data"]
    stale = teams.post(teams.invoke_activity(team["frank"], "got_it", {**data, "token": "garbage"},
                                             conversation_id=conversation, reply_to=activity))
    assert "This card is out of date" in texts(stale.get_json()["value"])
    # Not the posted card (no replyToId), naming an update that is not this incident's, or none at all.
    other = open_p1(client, title="Another")
    other_update = updates(client, other)[0]["id"]
    for update in (other_update, "7", None, True):
        answer = teams.post(teams.invoke_activity(team["frank"], "got_it", {**data, "update": update},
                                                  conversation_id=conversation))
        assert answer.status_code == 200
        assert "not about a status update" in texts(answer.get_json()["value"])
    assert updates(client, incident)[0]["acknowledged_by"] == []
    assert updates(client, other)[0]["acknowledged_by"] == []


def test_the_communications_lead_gets_a_stakeholder_question_in_teams(app, client, team, bot, deliver):
    from sqlalchemy import select

    from service import db
    from service.incidents.models import Incident, IncidentUpdate
    from service.notify import receipts

    incident = open_p1(client)
    deliver()
    with app.app_context(), db.transaction() as s:
        row = s.get(Incident, incident["id"])
        update = s.scalar(select(IncidentUpdate).where(IncidentUpdate.incident_id == row.id))
        receipts.ask(s, row, update, sender="cfo@example.com", name="Chris Finance",
                     text="Are **card** payments affected too?", via="email", key="t1")
    deliver()
    chat = bot.personal_chat(team["carol"])
    question = [c for c in bot.cards_in(chat.id) if "Stakeholder question" in texts(c)]
    assert len(question) == 1
    shown = texts(question[0])
    assert "❓ Stakeholder question from Chris Finance" in shown
    assert "Are \\*\\*card\\*\\* payments affected too?" in shown  # text from outside stays text
    assert "From cfo@example.com, on the 🔴 INCIDENT of 10:00 UTC." in shown
