"""The console's incident page shows each escalation step with its acknowledgement state."""
import re
from datetime import timedelta

from sqlalchemy import select

from service import db
from service.notify.models import Notification
from service.wiring import run_tick
from tests.conftest import START


def escalations_section(person, number):
    html = person.get(f"/console/incidents/{number}").get_data(as_text=True)
    start = html.index('id="esc-h"')
    return re.sub(r"\s+", " ", html[start:html.index("</section>", start)])


def test_the_incident_page_shows_each_step_and_who_acknowledged_it(app, client, as_person, p1, frozen_clock):
    frozen_clock.set(START + timedelta(minutes=15))
    run_tick(frozen_clock.now())
    alice, _ = as_person("alice@example.com")
    section = escalations_section(alice, p1["number"])
    assert "<strong>P1 not acknowledged</strong> to Engineering Manager" in section
    assert "<strong>Team not assembled</strong> to Incident Commander" in section
    assert section.count("Not acknowledged</strong>") == 2

    with app.app_context():
        token = db.session.scalar(select(Notification.ack_token).where(
            Notification.incident_id == p1["id"], Notification.kind == "escalation", Notification.slot == "assemble"))
    frozen_clock.set(START + timedelta(minutes=16))
    assert client.post(f"/ack/{token}").status_code == 200
    section = escalations_section(alice, p1["number"])
    assert section.count("Not acknowledged</strong>") == 1
    assert re.search(r"Team not assembled</strong> to Incident Commander: .*?Acknowledged</span> by Alice Archer "
                     r"via link <time datetime=\"2026-03-02T10:16:00Z\"", section), section
