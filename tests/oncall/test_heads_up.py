"""Heads-up before shifts and one message per schedule change, timed by a frozen clock across DST in both
hemispheres (London moves on 29 March 2026, Sydney on 5 April 2026)."""
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from service import db
from service.rotations.models import Rotation
from tests.conftest import ADMIN

from .conftest import weekly

UTC = timezone.utc
IC = "incident-commander"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def texts(rows) -> list[str]:
    return [row["payload"]["text"] for row in rows]


def test_the_heads_up_comes_a_day_before_each_shift_in_the_persons_own_zone(app, client, people, put_calendar,
                                                                            outbox, tick):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))  # alice from Mon 2 Mar, bob from Mon 9 Mar (09:00 London)
    tick()
    assert outbox("shift_reminder") == []  # alice's shift is under way; bob's is a week off
    with app.app_context():
        due = db.session.scalar(select(Rotation.oncall_due_at).where(Rotation.name == IC))
    assert due == at("2026-03-02T11:00:00")  # nothing sooner than the hourly look

    tick(at("2026-03-08T08:59:59"))
    assert outbox("shift_reminder") == []
    tick(at("2026-03-08T09:00:00"))  # 24 hours before Mon 9 Mar 09:00 GMT
    [reminder] = outbox("shift_reminder")
    assert reminder["recipient"] == "bob@example.com" and reminder["incident_id"] is None
    assert reminder["payload"]["subject"] == "⏰ On call from Mon 9 Mar 2026 20:00 AEDT: Incident Commander"
    assert "Until: Mon 16 Mar 2026 20:00 AEDT (7 days)" in reminder["payload"]["text"]
    assert "Taking over from: Alice Archer" in reminder["payload"]["text"]
    tick(at("2026-03-08T12:00:00"))
    assert len(outbox("shift_reminder")) == 1  # once per shift

    # London springs forward on 29 March: alice's shift from Mon 30 Mar 09:00 BST is at 08:00 UTC.
    tick(at("2026-03-29T07:59:59"))
    assert len(outbox("shift_reminder", "alice")) == 0
    tick(at("2026-03-29T08:00:00"))
    [alice] = outbox("shift_reminder", "alice")
    assert alice["payload"]["subject"] == "⏰ On call from Mon 30 Mar 2026 09:00 BST: Incident Commander"

    # Sydney falls back on 5 April: bob's shift from Mon 6 Apr 08:00 UTC is 18:00 AEST (it was 20:00 AEDT).
    tick(at("2026-04-05T07:59:59"))
    assert len(outbox("shift_reminder", "bob")) == 1
    tick(at("2026-04-05T08:00:00"))
    latest = outbox("shift_reminder", "bob")[-1]
    assert latest["payload"]["subject"] == "⏰ On call from Mon 6 Apr 2026 18:00 AEST: Incident Commander"
    assert "Until: Mon 13 Apr 2026 18:00 AEST (7 days)" in latest["payload"]["text"]


def test_a_late_tick_still_sends_the_heads_up_and_a_near_shift_gets_it_at_once(client, people, put_calendar, outbox,
                                                                              tick):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))
    tick(at("2026-03-09T08:30:00"))  # the worker was down all Sunday: the heads-up still goes, late
    [late] = outbox("shift_reminder", "bob")
    assert "Mon 9 Mar 2026 20:00 AEDT" in late["payload"]["subject"]

    override = client.post(f"/api/rotations/{IC}/overrides", headers=ADMIN, json={
        "person": "carol", "start": "2026-03-09T12:00:00Z", "end": "2026-03-09T18:00:00Z"})
    assert override.status_code == 201
    tick()
    [carol] = outbox("shift_reminder", "carol")  # nearer than notify_before: at once, in the policy's zone (UTC)
    assert carol["payload"]["subject"] == "⏰ On call from Mon 9 Mar 2026 12:00 UTC: Incident Commander"
    assert "Taking over from: Bob Baker" in carol["payload"]["text"]
    # bob's run after the override is a new run of his: it gets its own heads-up (it starts within a day)
    assert [r["payload"]["subject"] for r in outbox("shift_reminder", "bob")][-1].startswith(
        "⏰ On call from Tue 10 Mar 2026 05:00 AEDT")


def test_one_schedule_change_per_person_says_what_changed(client, people, put_calendar, outbox, tick):
    put_calendar(IC, weekly("Alice Archer", "Bob Baker"))
    put_calendar("technical-lead", weekly("Bob Baker", "Alice Archer"))
    tick()
    assert outbox("schedule_change") == []  # the first look only takes note

    tick(at("2026-03-02T12:00:00"))
    # Both calendars now give every shift to Carol: bob loses shifts in two rotations, one message for him.
    put_calendar(IC, weekly("Carol Chen", "Carol Chen"))
    put_calendar("technical-lead", weekly("Carol Chen", "Carol Chen"))
    tick()
    [bob] = outbox("schedule_change", "bob")
    text = bob["payload"]["text"]
    assert "Incident Commander (rotation incident-commander):" in text
    assert "Technical Lead (rotation technical-lead):" in text
    assert "- no longer on call Mon 9 Mar 2026 20:00 AEDT – Mon 16 Mar 2026 20:00 AEDT" in text
    assert "- no longer on call Mon 2 Mar 2026 23:00 AEDT – Mon 9 Mar 2026 20:00 AEDT" in text  # cut at the import
    [carol] = outbox("schedule_change", "carol")
    assert "+ now on call" in carol["payload"]["text"]
    assert len(outbox("schedule_change")) == 3  # alice, bob, carol: once each
    tick(at("2026-03-02T13:00:00"))
    assert len(outbox("schedule_change")) == 3  # nothing new changed
