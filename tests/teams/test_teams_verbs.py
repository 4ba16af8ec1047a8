"""Acting from a card: each verb through the same code paths as the API, only for the right person, once."""
from sqlalchemy import func, select

from service import db
from service.teams.models import TeamsActivity
from tests.conftest import ADMIN
from tests.teams.conftest import CHANNEL, find_action, open_p1, texts


def page_of(bot, user) -> tuple[str, str]:
    chat = bot.personal_chat(user)
    return chat.id, list(chat.activities)[0]


def channel_card(bot) -> tuple[str, str]:
    return CHANNEL, list(bot.conversations[CHANNEL].activities)[0]


def view_of(teams, user, card):
    """The card as `user` sees it (Teams refreshes it for them)."""
    answer = teams.tap(user, card, "refresh", trigger="automatic")
    assert answer.status_code == 200
    return answer.get_json()["value"]


def incident_now(client, incident) -> dict:
    return client.get(f"/api/incidents/{incident['id']}", headers=ADMIN).get_json()


def test_the_same_invoke_twice_counts_once(app, client, team, bot, teams, deliver, timeline):
    incident = open_p1(client)
    deliver()
    card = page_of(bot, team["alice"])
    view = bot.conversations[card[0]].activities[card[1]]["attachments"][0]["content"]
    activity = teams.invoke_activity(team["alice"], "ack", find_action(view, "ack")["data"], conversation_id=card[0],
                                     reply_to=card[1])
    first, second = teams.post(activity), teams.post(activity)
    assert first.status_code == second.status_code == 200
    assert first.get_json() == second.get_json()
    assert len(timeline(incident["id"], "acknowledged")) == 1
    assert timeline(incident["id"], "ack_repeat") == []
    with app.app_context(), db.transaction() as s:
        assert s.scalar(select(func.count(TeamsActivity.id))) == 1
    # A second tap (a new activity) goes through the one acknowledgement path and its deduplication.
    assert teams.tap(team["alice"], card, "ack").status_code == 200
    assert len(timeline(incident["id"], "acknowledged")) == 1
    assert len(timeline(incident["id"], "ack_repeat")) == 1


def test_only_the_paged_person_acknowledges_their_page(client, team, bot, teams, deliver, timeline):
    incident = open_p1(client)
    deliver()
    alice_card = page_of(bot, team["alice"])
    # Bob replays the button of Alice's page (its token is bound to Alice).
    answer = teams.tap(team["bob"], alice_card, "ack")
    assert answer.status_code == 200
    assert "only the paged person can acknowledge it" in texts(answer.get_json()["value"])
    assert incident_now(client, incident)["roles"]["incident_commander"]["acknowledged_at"] is None
    assert incident_now(client, incident)["roles"]["technical_lead"]["acknowledged_at"] is None
    assert "Refused ack via teams from Bob Baker" in timeline(incident["id"], "teams_refused")[0].text


def test_someone_herald_does_not_know_changes_nothing(client, team, bot, teams, deliver, timeline):
    incident = open_p1(client)
    deliver()
    stranger = bot.add_user("Mallory Moss", "mallory@elsewhere.example")  # in the tenant, not in Herald
    answer = teams.tap(stranger, channel_card(bot), "refresh", trigger="automatic")
    assert answer.status_code == 200
    view = view_of(teams, team["carol"], channel_card(bot))
    answer = teams.tap(stranger, channel_card(bot), "resolve", {"root_cause": "x", "resolution": "y"}, view=view)
    assert "Herald does not know your Teams account" in texts(answer.get_json()["value"])
    assert incident_now(client, incident)["status"] == "investigating"
    assert "Mallory Moss (not known to Herald)" in timeline(incident["id"], "teams_refused")[-1].text


def test_acknowledging_a_resolved_incident_says_so(client, team, bot, teams, deliver):
    incident = open_p1(client)
    deliver()
    card = page_of(bot, team["bob"])
    view = bot.conversations[card[0]].activities[card[1]]["attachments"][0]["content"]
    client.post(f"/api/incidents/{incident['id']}/resolve", json={"root_cause": "a", "resolution": "b"},
                headers=ADMIN)
    answer = teams.tap(team["bob"], card, "ack", view=view)
    assert answer.status_code == 200
    assert "The incident is resolved; there is nothing to acknowledge." in texts(answer.get_json()["value"])
    assert incident_now(client, incident)["roles"]["technical_lead"]["acknowledged_at"] is None


def test_a_damaged_card_and_an_unknown_verb_get_a_card_not_an_error(client, team, bot, teams, deliver):
    open_p1(client)
    deliver()
    card = page_of(bot, team["alice"])
    stale = teams.post(teams.invoke_activity(team["alice"], "ack", {"token": "garbage"}, conversation_id=card[0],
                                             reply_to=card[1]))
    assert stale.status_code == 200 and "This card is out of date" in texts(stale.get_json()["value"])
    unknown = teams.post(teams.invoke_activity(team["alice"], "launch", {}, conversation_id=card[0]))
    assert unknown.status_code == 200 and "Herald does not know this button" in texts(unknown.get_json()["value"])
    for data in ("not an object", None, ["x"]):
        odd = teams.post(teams.invoke_activity(team["alice"], "ack", data, conversation_id=card[0]))
        assert odd.status_code == 200


def test_a_bad_update_is_refused_with_the_reason(client, team, bot, teams, deliver):
    incident = open_p1(client)
    deliver()
    view = view_of(teams, team["carol"], channel_card(bot))
    answer = teams.tap(team["carol"], channel_card(bot), "update", {"status": "resolved", "learned": "x"}, view=view)
    assert "The update was not posted" in texts(answer.get_json()["value"])
    answer = teams.tap(team["carol"], channel_card(bot), "update", {"status": "identified", "doing": "x" * 10_001},
                       view=view)
    assert "The update was not posted" in texts(answer.get_json()["value"])
    assert client.get(f"/api/incidents/{incident['id']}/updates", headers=ADMIN).get_json()[-1]["kind"] == "initial"


def test_a_role_holder_resolves_and_every_card_loses_its_buttons(client, team, bot, teams, deliver, timeline):
    incident = open_p1(client)
    deliver()
    view = view_of(teams, team["bob"], channel_card(bot))
    answer = teams.tap(team["bob"], channel_card(bot), "resolve",
                       {"root_cause": "A bad deploy", "resolution": "Rolled back"}, view=view)
    assert answer.status_code == 200
    assert find_action(answer.get_json()["value"], "resolve") is None
    now = incident_now(client, incident)
    assert now["status"] == "resolved"
    assert any("Resolved by Bob Baker via teams" == e.text for e in timeline(incident["id"], "via_teams"))
    deliver()
    cards = bot.cards_in(CHANNEL)
    assert any("🟢 RESOLVED" in texts(c) for c in cards)
    alice = bot.cards_in(page_of(bot, team["alice"])[0])[0]
    assert find_action(alice, "ack") is None and "This incident is resolved" in texts(alice)


def test_handover_by_the_holder_or_the_commander_only(client, team, bot, teams, deliver, timeline):
    incident = open_p1(client)
    deliver()
    card = channel_card(bot)
    carol_view = view_of(teams, team["carol"], card)
    choices = find_action(carol_view, "handover")
    assert choices is not None  # Carol may hand over her own role …
    # … but not the Technical Lead's: the rules refuse it even when she sends it.
    answer = teams.tap(team["carol"], card, "handover", {"role": "technical_lead", "person": "erin"}, view=carol_view)
    assert "Only the role's holder or the Incident Commander can hand this role over." \
        in texts(answer.get_json()["value"])
    assert incident_now(client, incident)["roles"]["technical_lead"]["person"] == "bob"
    # The Incident Commander may.
    alice_view = view_of(teams, team["alice"], card)
    answer = teams.tap(team["alice"], card, "handover", {"role": "technical_lead", "person": "erin"},
                       view=alice_view)
    assert answer.status_code == 200
    assert incident_now(client, incident)["roles"]["technical_lead"]["person"] == "erin"
    assert any("Technical Lead handed over to Erin Ellis by Alice Archer via teams" == e.text
               for e in timeline(incident["id"], "via_teams"))
    # Nobody hands a role to someone Herald does not know.
    answer = teams.tap(team["alice"], card, "handover", {"role": "scribe", "person": "nobody"}, view=alice_view)
    assert "Herald knows nobody called 'nobody'" in texts(answer.get_json()["value"])


def test_refresh_shows_buttons_only_to_role_holders(client, team, bot, teams, deliver):
    open_p1(client)
    deliver()
    card = channel_card(bot)
    posted = bot.cards_in(CHANNEL)[0]
    assert posted["refresh"]["action"]["verb"] == "refresh"
    assert find_action(view_of(teams, team["carol"], card), "update") is not None
    frank = view_of(teams, team["frank"], card)
    assert find_action(frank, "update") is None and find_action(frank, "resolve") is None
