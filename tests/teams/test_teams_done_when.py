"""Issue 12's "Done when", end to end against the doubles (Bot Connector, login, JWKS; SMTP on loopback).

A P1 pages its Incident Commander and Technical Lead in Teams and by email; the IC taps Acknowledge
and the TL's card and the channel card update in place; the Communications Lead posts an update
from the channel card and the cadence restarts; a stranger's tap changes nothing; a forged token
is a 401.
"""
from datetime import timedelta

from cryptography.hazmat.primitives.asymmetric import rsa

from tests.conftest import ADMIN
from tests.teams.conftest import CHANNEL, find_action, open_p1, texts


def card_of(bot, user) -> tuple[str, str]:
    chat = bot.personal_chat(user)
    assert chat is not None, f"no chat with {user.name}"
    return chat.id, list(chat.activities)[-1]


def test_done_when(client, config, team, bot, teams, deliver, timeline, smtp_sink, frozen_clock):
    sink = smtp_sink()
    config.smtp_url = f"smtp://127.0.0.1:{sink.port}"
    config.mail_from = "herald@example.com"

    # A P1 pages the IC and the TL in Teams (1:1 chats Herald opens itself) and by email.
    incident = open_p1(client)
    deliver()
    mailed = {m["To"].addresses[0].addr_spec for m in sink.messages if "PAGE" in m["Subject"]}
    assert {"alice@example.com", "bob@example.com"} <= mailed
    alice_card, bob_card = card_of(bot, team["alice"]), card_of(bot, team["bob"])
    assert {body["members"][0]["aadObjectId"] for body in bot.created} >= {team["alice"].aad_object_id,
                                                                           team["bob"].aad_object_id}
    alice_view = bot.conversations[alice_card[0]].activities[alice_card[1]]["attachments"][0]["content"]
    assert alice_view["version"] == "1.5"
    assert "you are paged as Incident Commander" in texts(alice_view)
    assert "Respond by" in texts(alice_view)
    assert find_action(alice_view, "ack") is not None
    channel_card = (CHANNEL, list(bot.conversations[CHANNEL].activities)[0])
    assert "🔴 INCIDENT: Orders are failing" in texts(bot.cards_in(CHANNEL)[0])

    # The IC taps Acknowledge: the answer is her refreshed card …
    answer = teams.tap(team["alice"], alice_card, "ack")
    assert answer.status_code == 200
    body = answer.get_json()
    assert body["statusCode"] == 200 and body["type"] == "application/vnd.microsoft.card.adaptive"
    assert "You acknowledged" in texts(body["value"]) and find_action(body["value"], "ack") is None
    acks = timeline(incident["id"], "acknowledged")
    assert [e.text for e in acks] == ["Acknowledged by Alice Archer (Incident Commander) via teams"]

    # … and the TL's card and the channel card are updated in place.
    updated_before = len(bot.updated)
    deliver()
    updated = {(conversation, activity) for conversation, activity, _ in bot.updated[updated_before:]}
    assert bob_card in updated and channel_card in updated
    bob_now = bot.conversations[bob_card[0]].activities[bob_card[1]]["attachments"][0]["content"]
    assert "Alice Archer ✅" in texts(bob_now)
    assert find_action(bob_now, "ack") is not None  # Bob still has to acknowledge his own page

    # The Communications Lead sees "Post update" on the channel card (Teams refreshes it for her) …
    frozen_clock.advance(timedelta(minutes=6))
    refreshed = teams.tap(team["carol"], channel_card, "refresh", trigger="automatic").get_json()["value"]
    post_update = find_action(refreshed, "update")
    assert post_update is not None and find_action(refreshed, "resolve") is not None
    # … while the plain channel card, which everyone sees, has no such button.
    assert find_action(bot.cards_in(CHANNEL)[0], "update") is None

    # She posts an update from it: stakeholders hear it and the cadence restarts from now.
    answer = teams.tap(team["carol"], channel_card, "update",
                       {"status": "identified", "impact": "Nobody can trade", "learned": "A bad deploy",
                        "doing": "Rolling back"}, view=refreshed)
    assert answer.status_code == 200
    after = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()
    assert after["status"] == "identified"
    assert after["next_update_due_at"] == (frozen_clock.now() + timedelta(minutes=15)).isoformat().replace("+00:00", "Z")
    assert any("via teams" in e.text and "Carol Clark" in e.text for e in timeline(incident["id"], "via_teams"))
    deliver()
    progress = [c for c in bot.cards_in(CHANNEL) if "🟡 UPDATE" in texts(c)]
    assert len(progress) == 1 and "What we've learned: A bad deploy" in texts(progress[0])

    # A stranger's tap changes nothing: a card that says why, a timeline note, no update.
    before = client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN).get_json()
    # (Frank's own view has no "Post update"; he replays Carol's button.)
    answer = teams.tap(team["frank"], channel_card, "update", {"status": "monitoring", "learned": "x"},
                       view=refreshed)
    assert answer.status_code == 200
    assert "Only a holder of one of this incident's roles can post an update." in texts(answer.get_json()["value"])
    assert client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN).get_json() == before
    assert client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["status"] == "identified"
    refused = timeline(incident["id"], "teams_refused")
    assert len(refused) == 1 and "Frank Fisher" in refused[0].text

    # A forged token (signed by a key Teams never published) is a 401, and nothing is read.
    forger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    forged = bot.token(now=frozen_clock.now().timestamp(), key=forger)
    activity = teams.invoke_activity(team["frank"], "resolve", {**post_update["data"], "root_cause": "x",
                                                                "resolution": "y"},
                                     conversation_id=CHANNEL, reply_to=channel_card[1], conversation_type="channel")
    answer = teams.post(activity, token=forged)
    assert answer.status_code == 401
    assert client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()["status"] == "identified"
