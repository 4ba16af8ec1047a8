"""Issue 13: the war room. Graph (channels, chats, onlineMeetings) and the Bot Connector are doubles on
127.0.0.1; everything else is real. A P1 gets its channel, status card and bridge within one tick; a
breach-flagged P1 gets a private chat of exactly its role holders; closing archives the channel."""
from __future__ import annotations

import html

import pytest
from sqlalchemy import select

from service import db
from service.notify.models import Notification
from service.teams.models import WarRoom
from service.teams.warroom import channel_name
from tests.conftest import ADMIN
from tests.teams.conftest import open_p1, texts
from tests.web.test_web_board import sign_in

TEAM = "team-0000-incidents"
ORGANIZER = "bridge@contoso.example"


@pytest.fixture
def graph(trust, config, bot):
    from service.microsoft import forget_clients
    from tests.doubles.graph import GraphDouble

    forget_clients()
    double = GraphDouble(trust).start()
    double.add_team(TEAM, "General")
    double.meeting_policy.add(ORGANIZER)
    double.on_conversation.append(bot.add_channel)  # the bot is installed in the team and added to the chats
    config.graph_tenant_id, config.graph_client_id = double.tenant, double.client_id
    config.graph_client_secret, config.graph_authority = double.client_secret, double.authority
    config.graph_url = double.graph_url
    config.teams_team_id = TEAM
    config.teams_meeting_organizer = ORGANIZER
    yield double
    double.stop()
    forget_clients()


def room_rows(app, incident_id):
    with app.app_context(), db.transaction() as s:
        return [(n.kind, n.status, n.last_error) for n in s.scalars(
            select(Notification).where(Notification.incident_id == incident_id,
                                       Notification.channel == "teams_graph").order_by(Notification.id))]


def the_room(app, incident_id) -> WarRoom:
    with app.app_context(), db.transaction() as s:
        room = s.scalar(select(WarRoom).where(WarRoom.incident_id == incident_id))
        s.expunge(room)
        return room


def test_p1_gets_channel_card_and_bridge_in_one_tick_and_close_archives(client, app, team, bot, graph, deliver,
                                                                        timeline, teams):
    incident = open_p1(client, title="Orders: failing? for *everyone* / EU")
    deliver()
    room = the_room(app, incident["id"])
    channel = graph.teams[TEAM][room.conversation_id]
    assert channel["displayName"] == room.name and len(room.name) <= 50 and ":" not in room.name
    assert room.name.startswith(incident["number"])
    # the bot's live status card is in the channel, with the bridge
    card = bot.cards_in(room.conversation_id)[-1]
    assert room.bridge_url and room.bridge_url in str(card)
    assert "Alice Archer" in texts(card) and "P1" in texts(card)
    assert "for \\*everyone\\*" in texts(card)  # the title's Markdown is shown as text
    answer = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()
    assert answer["links"]["war_room"] == channel["webUrl"]
    assert answer["links"]["bridge"] == room.bridge_url
    assert {e.kind for e in timeline(incident["id"])} >= {"war_room", "bridge"}
    # the join link is in the pages (Alice's card, updated in place), never on the public status page
    assert room.bridge_url in str(bot.cards_in(bot.personal_chat(team["alice"]).id))
    for page in ("/status", "/status.json", "/status.atom"):
        assert room.bridge_url not in client.get(page).get_data(as_text=True)
    # the board and the console show the room and the bridge
    sign_in(client, ADMIN["Authorization"].removeprefix("Bearer "))
    board = html.unescape(client.get("/board/live").get_data(as_text=True))
    assert room.bridge_url in board and channel["webUrl"] in board
    # every Graph call was an outbox row, visible in …/notifications
    assert [(k, s) for k, s, _ in room_rows(app, incident["id"])] == [("room", "sent"), ("bridge", "sent")]
    listed = client.get(f"/api/incidents/{incident['id']}/notifications", headers=ADMIN).get_json()
    assert {"teams_graph"} <= {row["channel"] for row in listed}

    # a role holder acknowledges from the room's card; it is updated in place; someone else is refused
    activity_id = next(iter(bot.conversations[room.conversation_id].activities))
    assert teams.tap(team["frank"], (room.conversation_id, activity_id), "ack").status_code == 200
    assert [e.kind for e in timeline(incident["id"], "teams_refused")] == ["teams_refused"]
    assert teams.tap(team["alice"], (room.conversation_id, activity_id), "ack").status_code == 200
    deliver()
    assert "Alice Archer (acknowledged)" in texts(bot.conversations[room.conversation_id]
                                                  .activities[activity_id]["attachments"][0]["content"])

    url = f"/api/incidents/{incident['id']}"
    assert client.post(f"{url}/resolve", json={"root_cause": "x", "resolution": "y"}, headers=ADMIN).status_code == 200
    assert not graph.teams[TEAM][room.conversation_id]["archived"]
    assert client.patch(url, json={"status": "closed"}, headers=ADMIN).status_code == 200
    deliver()
    assert graph.teams[TEAM][room.conversation_id]["archived"]
    assert ("room_archive", "sent") in [(k, s) for k, s, _ in room_rows(app, incident["id"])]


def test_breach_p1_gets_a_private_chat_of_exactly_its_role_holders(client, app, team, bot, graph, deliver):
    response = client.post("/api/incidents", json={"title": "Customer data exposed", "severity": "P1",
                                                   "impact": "PII", "data_breach_suspected": True}, headers=ADMIN)
    incident = response.get_json()
    deliver()
    room = the_room(app, incident["id"])
    assert room.kind == "chat" and room.conversation_id in graph.chats
    assert not any(c.get("description", "") and incident["number"] in str(c)
                   for c in graph.teams[TEAM].values())  # no channel anyone in the team could read
    holders = {team[h].aad_object_id.lower() for h in ("alice", "bob", "carol")}  # the holders Teams knows
    assert set(graph.chats[room.conversation_id]["members"]) == holders
    assert bot.cards_in(room.conversation_id)


def test_taken_name_throttling_and_no_meeting_policy(client, app, team, bot, graph, deliver, timeline, frozen_clock):
    from datetime import timedelta

    graph.meeting_policy.clear()
    probe = type("I", (), {"title": "Orders are failing", "number": "", "severity": "P1"})()
    graph.script(429, b'{"error":{"code":"TooManyRequests","message":"slow down"}}',
                 {"Retry-After": "7", "Content-Type": "application/json"}, path="/channels")
    incident = open_p1(client)
    probe.number = incident["number"]
    graph.add_team(TEAM, channel_name(probe))  # someone took the name meanwhile
    deliver()
    rows = room_rows(app, incident["id"])
    assert rows[0][:2] == ("room", "failed") and "429" in rows[0][2]   # failed: tried again after Retry-After
    assert rows[1][:2] == ("bridge", "dead")
    notes = [e.text for e in timeline(incident["id"], "bridge")]
    assert len(notes) == 1 and "application access policy" in notes[0]
    frozen_clock.advance(timedelta(seconds=5))
    deliver()
    assert room_rows(app, incident["id"])[0][:2] == ("room", "failed")  # Retry-After (7 s) not over yet
    frozen_clock.advance(timedelta(seconds=25))  # past Retry-After (7 s) and its jitter
    deliver()
    deliver()
    room = the_room(app, incident["id"])
    assert room.conversation_id and room.name == channel_name(probe, 1) and room.name.endswith("(2)")
    assert room.bridge_url is None and len(timeline(incident["id"], "bridge")) == 1
    answer = client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()
    assert "bridge" not in answer["links"] and answer["links"]["war_room"]


def test_channel_names_keep_teams_rules():
    probe = type("I", (), {"title": "a" * 80 + "..#%", "number": "INC-7", "severity": "P2"})()
    name = channel_name(probe)
    assert len(name) <= 50 and not set(name) & set('~#%&*{}+/\\:<>?|\'"') and ".." not in name
    assert len(channel_name(probe, 3)) <= 50 and channel_name(probe, 3).endswith("(4)")


def test_p3_gets_no_room(client, app, team, bot, graph, deliver):
    response = client.post("/api/incidents", json={"title": "Slow page", "severity": "P3", "impact": "some"},
                           headers=ADMIN)
    deliver()
    assert room_rows(app, response.get_json()["id"]) == []


def test_following_the_incident_rename_on_severity_breach_move_and_a_later_role_holder(client, app, team, bot, graph, deliver,
                                                                           timeline):
    incident = open_p1(client)
    url = f"/api/incidents/{incident['id']}"
    deliver()
    channel_room = the_room(app, incident["id"])
    assert client.patch(url, json={"severity": "P2"}, headers=ADMIN).status_code == 200
    deliver()
    renamed = the_room(app, incident["id"])
    assert renamed.name == f"{incident['number']} P2 Orders are failing" != channel_room.name
    assert graph.teams[TEAM][channel_room.conversation_id]["displayName"] == renamed.name

    # a breach suspected later: a private chat takes over; the channel only says it continues elsewhere
    assert client.patch(url, json={"data_breach_suspected": True}, headers=ADMIN).status_code == 200
    deliver()
    chat_room = the_room(app, incident["id"])
    assert chat_room.kind == "chat" and chat_room.conversation_id in graph.chats
    channel_card = texts(bot.cards_in(channel_room.conversation_id)[0])
    assert "continues elsewhere" in channel_card and "Alice" not in channel_card
    answer = client.get(url, headers=ADMIN).get_json()
    assert answer["links"]["war_room"] == graph.chats[chat_room.conversation_id]["webUrl"]
    assert bot.cards_in(chat_room.conversation_id)

    # Frank takes over as scribe: he joins the chat
    assert client.put(f"{url}/roles/scribe", json={"person": "frank"}, headers=ADMIN).status_code == 200
    deliver()
    assert team["frank"].aad_object_id.lower() in graph.chats[chat_room.conversation_id]["members"]
