"""Cards through the outbox: proactive chats, Retry-After, a person who removed the bot, who a sender is,
chat commands."""
from datetime import timedelta

from sqlalchemy import select

from service import db
from service.notify.models import Notification
from service.teams.models import TeamsCard, TeamsConversation
from tests.conftest import ADMIN
from tests.teams.conftest import CHANNEL, find_action, open_p1, texts


def rows(app, **filters) -> list[Notification]:
    with app.app_context(), db.transaction() as s:
        query = select(Notification).order_by(Notification.id)
        for key, value in filters.items():
            query = query.where(getattr(Notification, key) == value)
        return list(s.scalars(query))


def test_pages_go_by_teams_in_addition_to_email_and_every_card_is_an_outbox_row(app, client, team, bot, deliver):
    incident = open_p1(client)
    bot_rows = rows(app, channel="teams_bot")
    assert sorted((r.kind, r.recipient) for r in bot_rows) == [
        ("initial", CHANNEL), ("notice", "carol"), ("page", "alice"), ("page", "bob")]
    # Dave (scribe) has no Entra object id: email (here the log channel) only; the others get both.
    by_person = {}
    for row in rows(app, incident_id=incident["id"]):
        by_person.setdefault(row.recipient, set()).add(row.channel)
    assert by_person["alice@example.com"] == {"log"} and by_person["dave@example.com"] == {"log"}
    deliver()
    assert {r.status for r in rows(app, channel="teams_bot")} == {"sent"}
    with app.app_context(), db.transaction() as s:
        cards = list(s.scalars(select(TeamsCard)))
        assert len(cards) == 4 and all(c.activity_id for c in cards)
        chats = {c.person_id for c in s.scalars(select(TeamsConversation)
                                                .where(TeamsConversation.conversation_type == "personal"))}
        assert len(chats) == 3
    assert len(bot.created) == 3
    # Updates in place are outbox rows too.
    assert client.post(f"/api/incidents/{incident['id']}/acknowledgements", json={"person": "bob"},
                       headers=ADMIN).status_code == 201
    updates = rows(app, kind="card_update")
    assert len(updates) == 4 and {r.status for r in updates} == {"pending"}
    deliver()
    assert {r.status for r in rows(app, kind="card_update")} == {"sent"}
    assert len(bot.updated) == 4
    assert all(r.payload["card"]["type"] == "AdaptiveCard" for r in rows(app, kind="card_update"))


def test_a_throttled_connector_is_retried_after_its_retry_after(app, client, team, bot, deliver, frozen_clock):
    open_p1(client)
    bot.script(429, b'{"error": {"code": "TooManyRequests", "message": "slow down"}}',
               {"Retry-After": "7", "Content-Type": "application/json"}, path="/activities")
    deliver()
    failed = [r for r in rows(app, channel="teams_bot") if r.status == "failed"]
    assert len(failed) == 1 and "429" in failed[0].last_error
    wait = failed[0].next_attempt_at - frozen_clock.now()
    assert timedelta(seconds=7) <= wait <= timedelta(seconds=7 * 1.2)  # what Teams asked for, plus jitter
    deliver()
    assert failed[0].id in {r.id for r in rows(app, status="failed")}  # not before
    frozen_clock.advance(wait)
    deliver()
    assert {r.status for r in rows(app, channel="teams_bot")} == {"sent"}


def test_a_server_error_is_retried(app, client, team, bot, deliver, frozen_clock):
    open_p1(client)
    bot.script(503, b"", path="/v3/conversations")
    deliver()
    assert any(r.status == "failed" and "503" in r.last_error for r in rows(app, channel="teams_bot"))
    frozen_clock.advance(timedelta(seconds=5))
    deliver()
    assert {r.status for r in rows(app, channel="teams_bot")} == {"sent"}


def test_a_person_who_removed_the_bot_is_reached_by_email_and_the_timeline_says_so(
        app, client, team, bot, deliver, timeline, smtp_sink, config):
    sink = smtp_sink()
    config.smtp_url = f"smtp://127.0.0.1:{sink.port}"
    bot.remove_bot(team["bob"])
    incident = open_p1(client)
    deliver()
    bob = [r for r in rows(app, channel="teams_bot") if r.recipient == "bob"]
    assert len(bob) == 1 and bob[0].status == "dead" and "BotNotInConversationRoster" in bob[0].last_error
    note = timeline(incident["id"], "teams_unreachable")
    assert len(note) == 1 and "Teams could not reach Bob Baker" in note[0].text and "by email" in note[0].text
    assert any(m["To"].addresses[0].addr_spec == "bob@example.com" and "PAGE" in m["Subject"] for m in sink.messages)


def test_a_person_reached_only_through_teams_still_gets_an_email_when_the_bot_is_gone(
        app, client, team, bot, deliver, timeline, config):
    from service.runtime import policy

    bot.remove_bot(team["alice"])
    # A severity that pages on Teams only, to a person whose Teams webhook counts as reaching them.
    client.patch("/api/people/alice", json={"teams_webhook": "https://example.invalid/hook"}, headers=ADMIN)
    severity = policy().severities["P1"]
    object.__setattr__(severity, "channels", ("teams",))
    try:
        incident = open_p1(client)
        assert not rows(app, recipient="alice@example.com")
        deliver()
        note = timeline(incident["id"], "teams_unreachable")
        assert note and "an email copy is on its way" in note[0].text
        copy = rows(app, recipient="alice@example.com")
        assert len(copy) == 1 and copy[0].kind == "page"
    finally:
        object.__setattr__(severity, "channels", ("teams", "email"))


def test_a_new_sender_is_recognised_by_email_and_learned(client, team, bot, teams, deliver):
    dave = team["dave"]  # in Herald by email only
    chat = bot.open_chat(dave)
    answer = teams.say(dave, "help", chat)
    assert answer.status_code == 200
    person = client.get("/api/people/dave", headers=ADMIN).get_json()
    assert person["aad_object_id"] == dave.aad_object_id
    deliver()
    assert "oncall" in texts(bot.cards_in(chat)[0])


def test_an_unknown_sender_is_told_how_to_be_known(client, team, bot, teams, deliver):
    stranger = bot.add_user("Mallory Moss", "mallory@elsewhere.example")
    chat = bot.open_chat(stranger)
    assert teams.say(stranger, "ack", chat).status_code == 200
    deliver()
    assert "Herald does not know you yet" in texts(bot.cards_in(chat)[0])


def test_chat_commands(app, client, team, bot, teams, deliver, timeline):
    chat = bot.open_chat(team["alice"])
    assert teams.say(team["alice"], "ack", chat).status_code == 200
    deliver()
    assert "Nothing waits for your acknowledgement" in texts(bot.cards_in(chat)[-1])

    first = open_p1(client, "Orders are failing")
    assert teams.say(team["alice"], "ack", chat).status_code == 200
    assert [e.text for e in timeline(first["id"], "acknowledged")] == [
        "Acknowledged by Alice Archer (Incident Commander) via teams"]
    deliver()
    assert f"Acknowledged {first['number']}" in texts(bot.cards_in(chat)[-1])

    second, third = open_p1(client, "Payments are slow"), open_p1(client, "Search is down")
    assert teams.say(team["alice"], "<at>Herald</at> ACK", chat).status_code == 200
    deliver()
    choose = bot.cards_in(chat)[-1]
    assert second["number"] in texts(choose) and third["number"] in texts(choose)
    # Pressing one of the choices acknowledges that incident only.
    answer = teams.tap(team["alice"], (chat, list(bot.conversations[chat].activities)[-1]), "ack")
    assert answer.status_code == 200
    assert timeline(second["id"], "acknowledged") and not timeline(third["id"], "acknowledged")
    assert teams.say(team["alice"], f"ack {third['number']}", chat).status_code == 200
    assert timeline(third["id"], "acknowledged")

    assert teams.say(team["alice"], "oncall", chat).status_code == 200
    deliver()
    oncall = texts(bot.cards_in(chat)[-1])
    assert "Incident Commander" in oncall and "Alice Archer" in oncall
    assert teams.say(team["alice"], "what?", chat).status_code == 200
    deliver()
    assert "I did not understand" in texts(bot.cards_in(chat)[-1])


def test_installing_the_bot_greets_and_remembers_the_chat(app, client, team, bot, teams, deliver):
    from tests.teams.conftest import load

    chat = bot.open_chat(team["bob"])
    activity = load("conversation_update", **teams.base(team["bob"], chat))
    assert teams.post(activity).status_code == 200
    deliver()
    assert "Hello from Herald" in texts(bot.cards_in(chat)[0])
    # Bob's pages now go to that chat: no new conversation is opened.
    open_p1(client)
    deliver()
    assert not any(b["members"][0]["aadObjectId"] == team["bob"].aad_object_id for b in bot.created)
    assert any(find_action(card, "ack") for card in bot.cards_in(chat))


def test_outside_text_is_escaped_for_markdown_on_bot_cards(client, team, bot, deliver):
    open_p1(client, "[Acknowledge here](https://evil.example) **now**")
    deliver()
    for card in bot.cards_in(CHANNEL) + bot.cards_in(bot.personal_chat(team["alice"]).id):
        shown = texts(card)
        assert "[Acknowledge here](https://evil.example)" not in shown
        assert "Acknowledge here" in shown
