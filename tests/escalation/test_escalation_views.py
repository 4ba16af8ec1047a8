"""Where people see escalations and their acknowledgements: the board and the post-mortem draft's timeline."""
import re
from datetime import timedelta

from sqlalchemy import select

from service import db
from service.notify.models import Notification
from service.wiring import run_tick
from tests.conftest import ADMIN, START
from tests.web.test_web_board import live, sign_in

RULE = "P1 not acknowledged"


def tick_at(frozen_clock, minutes):
    frozen_clock.set(START + timedelta(minutes=minutes))
    run_tick(frozen_clock.now())


def token_to(app, incident, recipient):
    with app.app_context():
        return db.session.scalar(select(Notification.ack_token).where(
            Notification.incident_id == incident["id"], Notification.kind == "escalation",
            Notification.recipient == recipient))


def card_of(html, incident):
    return re.sub(r"\s+", " ", html[html.index(f'id="{incident["number"]}"'):])


def test_the_board_shows_each_escalation_with_its_acknowledgement(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 15)
    sign_in(client, "test-admin-token")
    card = card_of(live(client), incident)
    assert f"<strong>{RULE}</strong> to Engineering Manager: P1 not acknowledged within 15 minutes." in card
    assert "Not acknowledged</strong> <span class=\"muted\">(sent to 1 recipient)" in card
    assert card.count("Escalated to Engineering Manager") == 0  # the step says it; the timeline line is not repeated

    frozen_clock.set(START + timedelta(minutes=21))
    client.post(f"/ack/{token_to(app, incident, 'eng-manager@example.com')}")
    card = card_of(live(client), incident)
    assert re.search(r"Acknowledged</span> by eng-manager@example.com via link <time datetime=\"2026-03-02T10:21:00Z\"",
                     card), card
    assert "Not acknowledged</strong> <span" not in card.split("Team not assembled")[0]


def test_the_postmortem_draft_lists_escalation_acknowledgements(app, client, frozen_clock, open_incident):
    incident = open_incident("P1")
    tick_at(frozen_clock, 15)
    frozen_clock.set(START + timedelta(minutes=21))
    client.post(f"/ack/{token_to(app, incident, 'eng-manager@example.com')}")
    client.post(f"/api/incidents/{incident['id']}/resolve", json={"root_cause": "A bad deploy",
                                                                   "resolution": "Rolled back"}, headers=ADMIN)
    draft = client.get(f"/api/incidents/{incident['id']}/postmortem", headers=ADMIN).get_data(as_text=True)
    assert "Escalated to Engineering Manager: P1 not acknowledged within 15 minutes" in draft
    assert (f"Escalation '{RULE}' (step 1) acknowledged by Engineering Manager <eng-manager@example.com> via link"
            in draft)
