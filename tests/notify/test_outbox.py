"""The outbox end to end on both databases: enqueue, claim, send, retry, give up, revive."""
import json
from datetime import datetime, timedelta, timezone

from sqlalchemy import select

from service import db
from service.ack_tokens import read_ack_token, read_token
from service.incidents.models import Incident, TimelineEntry
from service.notify import dispatcher
from service.notify.outbox import Recipient, notify, recipients_for_contact, recipients_for_person
from service.people.models import Person
from service.wiring import run_tick
from tests.conftest import ADMIN, START


def open_incident(client, severity="P1", **body):
    payload = {"title": "Orders are failing", "severity": severity, "impact": "Nobody can trade", **body}
    response = client.post("/api/incidents", json=payload, headers=ADMIN)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_opening_a_p1_pages_its_roles_notices_the_others_and_tells_stakeholders(client, config, responders, teams,
                                                                                 outbox, frozen_clock):
    config.teams_webhook_url = teams.url
    responders(bob_webhook=teams.url + "&person=bob")
    incident = open_incident(client)

    rows = outbox()
    summary = sorted((n.kind, n.channel, n.recipient_name) for n in rows)
    assert summary == [
        ("initial", "log", "Stakeholders"),  # no mail transport configured: kept, shown, not sent
        ("initial", "teams", "Incident channel"),
        ("notice", "log", "Carol Clark"),
        ("notice", "log", "Dave Dunn"),
        ("page", "log", "Alice Archer"),
        ("page", "log", "Bob Baker"),
        ("page", "teams", "Bob Baker"),
    ]
    assert {n.status for n in rows} == {"pending"}
    assert {n.incident_id for n in rows} == {incident["id"]}

    run_tick(frozen_clock.now())
    rows = outbox()
    assert {n.status for n in rows} == {"sent"}
    assert all(n.sent_at == START and n.attempts == 1 for n in rows)
    cards = teams.cards()
    assert sorted(c["body"][0]["text"] for c in cards) == [
        "🔴 INCIDENT: Orders are failing", "🚨 P1: you are paged as Technical Lead"]

    # Every page carries its own signed token, in the text and on the Teams button.
    for page in outbox(kind="page"):
        assert read_ack_token(page.ack_token) == (incident["id"], page.person_id, page.id)
        link = f"http://herald.test/ack/{page.ack_token}"
        if page.channel == "teams":
            assert {"type": "Action.OpenUrl", "title": "Acknowledge", "url": link} in \
                page.payload["attachments"][0]["content"]["actions"]
        else:
            assert link in page.payload["text"]
    # Stakeholder messages carry a token of kind "update" (their Got it); nothing else carries one. A
    # Workflows card cannot answer back, so it shows none.
    assert {n.kind for n in rows if n.ack_token} == {"page", "initial"}
    for n in outbox(kind="initial"):
        assert read_token(n.ack_token).kind == "update"
        assert (n.ack_token in json.dumps(n.payload)) == (n.channel in ("email", "log"))

    paged = [e for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()
             if e["kind"] == "paged"]
    assert [(e["text"], e["data"]["channels"]) for e in paged] == [
        ("Paged Alice Archer as Incident Commander", ["log"]), ("Paged Bob Baker as Technical Lead", ["log", "teams"])]


def test_an_unassigned_page_role_is_on_the_timeline(client, outbox):
    incident = open_incident(client)
    assert outbox(kind="page") == []
    timeline = [e["text"] for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()]
    assert "Nobody to page as Incident Commander: the role is unassigned" in timeline


def test_notify_is_idempotent_per_incident_kind_slot_channel_and_address(app, client, outbox):
    incident_id = open_incident(client)["id"]
    recipients = [Recipient("log", "ops@example.com", "Ops"), Recipient("log", "ops@example.com", "Ops again")]
    with app.app_context(), db.transaction() as s:
        incident = s.get(Incident, incident_id)
        first = notify(s, incident=incident, kind="escalation", slot="rule-1", recipients=recipients,
                       context={"escalation": {"name": "Test", "reason": "Because"}})
        again = notify(s, incident=incident, kind="escalation", slot="rule-1", recipients=recipients,
                       context={"escalation": {"name": "Test", "reason": "Because"}})
        other = notify(s, incident=incident, kind="escalation", slot="rule-2", recipients=recipients,
                       context={"escalation": {"name": "Test", "reason": "Because"}})
    assert len(first) == 1 and again == [] and len(other) == 1
    keys = [n.idempotency_key for n in outbox(kind="escalation")]
    assert keys == [f"{incident_id}:escalation:rule-1:log:ops@example.com",
                    f"{incident_id}:escalation:rule-2:log:ops@example.com"]


def test_recipients_for_people_and_contacts(app, config, make_person, put_on_call):
    make_person("alice", "Alice Archer", teams_webhook="https://example.webhook.office.com/alice")
    make_person("zed", "Zed Zimmer")
    put_on_call("security", "zed", START - timedelta(days=1))
    with app.app_context(), db.transaction() as s:
        alice = s.scalar(select(Person).where(Person.handle == "alice"))
        zed = s.scalar(select(Person).where(Person.handle == "zed"))
        assert recipients_for_person(alice, ["teams", "email"]) == [
            Recipient("teams", "https://example.webhook.office.com/alice", "Alice Archer", alice.id),
            Recipient("log", "alice@example.com", "Alice Archer", alice.id),
        ]
        # Zed has no webhook: a person must still be reached, by email.
        assert recipients_for_person(zed, ["teams"]) == [Recipient("log", "zed@example.com", "Zed Zimmer", zed.id)]
        config.smtp_url = "smtp://127.0.0.1:1"
        assert recipients_for_person(zed, ["email"]) == [Recipient("email", "zed@example.com", "Zed Zimmer", zed.id)]
        assert recipients_for_contact(s, "legal", ["email"], START) == [Recipient("email", "legal@example.com", "Legal")]


def test_a_contact_may_name_a_rotation(app, make_person, put_on_call, tmp_path):
    from service.policy import load_policy
    from service.runtime import runtime

    text = (open(runtime.policy.source).read()
            + '\n[contacts.security_on_call]\ntitle = "Security on call"\nrotation = "security"\n')
    path = tmp_path / "policy.toml"
    path.write_text(text)
    previous = runtime.policy
    runtime.policy = load_policy(path)
    try:
        make_person("zed", "Zed Zimmer")
        put_on_call("security", "zed", START - timedelta(days=1), START + timedelta(hours=1))
        with app.app_context(), db.transaction() as s:
            assert [r.name for r in recipients_for_contact(s, "security_on_call", ["email"], START)] == ["Zed Zimmer"]
            assert recipients_for_contact(s, "security_on_call", ["email"], START + timedelta(hours=2)) == []
    finally:
        runtime.policy = previous


def test_email_pages_carry_message_id_and_a_tokenised_reply_to(client, config, responders, outbox):
    config.smtp_url = "smtp://127.0.0.1:9"  # configured, nothing sent in this test
    config.reply_address = "herald@replies.example.com"
    config.mail_from = "herald@example.com"
    responders()
    open_incident(client)
    page = outbox(kind="page", recipient="alice@example.com")[0]
    assert page.channel == "email"
    assert page.message_id.startswith("<") and page.message_id.endswith("@example.com>")
    assert page.payload["reply_to"] == f"herald+{page.ack_token}@replies.example.com"
    assert page.payload["subject"].startswith("[INC-20260302-1] 🚨 PAGE P1: Orders are failing")
    assert 'reply "ack" to this email' in page.payload["text"]
    update = outbox(kind="initial")[0]  # a stakeholder update: its reply "ack" and link say Got it
    assert update.message_id and update.payload["reply_to"] == f"herald+{update.ack_token}@replies.example.com"
    assert f"http://herald.test/ack/{update.ack_token}" in update.payload["text"]
    assert 'Got it? Let the response team know you have seen this update: reply "ack"' in update.payload["text"]


def test_a_failing_webhook_is_retried_with_backoff_then_given_up_and_shown(client, config, teams, outbox,
                                                                            frozen_clock):
    config.teams_webhook_url = teams.url
    incident = open_incident(client)
    teams.script(429, headers={"Retry-After": "30"})
    teams.script(500, b"flow failed")
    run_tick(frozen_clock.now())
    row = outbox(channel="teams")[0]
    assert (row.status, row.attempts, row.last_error) == ("failed", 1, "Teams webhook answered 429")
    assert START + timedelta(seconds=30) <= row.next_attempt_at <= START + timedelta(seconds=36)

    run_tick(frozen_clock.advance(seconds=29))
    assert outbox(channel="teams")[0].attempts == 1  # Retry-After honoured: not yet
    run_tick(frozen_clock.set(row.next_attempt_at) or frozen_clock.now())
    row = outbox(channel="teams")[0]
    assert (row.status, row.attempts, row.last_error) == ("failed", 2, "Teams webhook answered 500")  # the status only: a body may echo anything
    assert timedelta(seconds=1.6) <= row.next_attempt_at - frozen_clock.now() <= timedelta(seconds=2.4)

    for _ in range(8):
        teams.script(503)
        frozen_clock.set(outbox(channel="teams")[0].next_attempt_at)
        run_tick(frozen_clock.now())
    row = outbox(channel="teams")[0]
    assert (row.status, row.attempts) == ("failed", 10)  # no count of attempts is final: only time is

    teams.script(503)
    teams.script(503)  # the catch-up progress update of the same tick fails too
    frozen_clock.set(row.due_at + timedelta(hours=24))
    run_tick(frozen_clock.now())
    row = outbox(channel="teams")[0]
    assert (row.status, row.attempts) == ("dead", 11)
    assert teams.messages == []

    listed = client.get(f"/api/incidents/{incident['id']}/notifications?channel=teams&kind=initial",
                        headers=ADMIN).get_json()
    assert [(n["status"], n["attempts"], n["last_error"]) for n in listed] == [
        ("dead", 11, "Teams webhook answered 503")]
    timeline = [e["text"] for e in client.get(f"/api/incidents/{incident['id']}/timeline", headers=ADMIN).get_json()]
    assert "Gave up sending the initial to Incident channel by teams after 11 attempt(s): " \
           "Teams webhook answered 503" in timeline

    revived = client.post(f"/api/notifications/{row.id}/retry", headers=ADMIN)
    assert revived.status_code == 200
    assert (revived.get_json()["status"], revived.get_json()["attempts"]) == ("pending", 0)
    run_tick(frozen_clock.now())
    assert outbox(channel="teams")[0].status == "sent"
    assert len(teams.messages) == 1
    assert client.post(f"/api/notifications/{row.id}/retry", headers=ADMIN).status_code == 409
    assert client.post("/api/notifications/999999/retry", headers=ADMIN).status_code == 404


def test_readers_see_messages_but_not_ack_tokens(client, responders, token_for, outbox):
    responders()
    incident = open_incident(client)
    page = outbox(kind="page")[0]
    reader = client.get(f"/api/incidents/{incident['id']}/notifications?kind=page", headers=token_for("read"))
    assert reader.status_code == 200
    body = reader.get_data(as_text=True)
    assert page.ack_token not in body and "http://herald.test/ack/REDACTED" in body
    writer = client.get(f"/api/notifications/{page.id}", headers=token_for("read", "write")).get_json()
    assert page.ack_token in writer["payload"]["text"]
    assert set(writer) >= {"id", "kind", "channel", "recipient", "status", "attempts", "created_at", "sent_at",
                           "last_error"}
    assert client.get(f"/api/incidents/{incident['id']}/notifications?status=bogus",
                      headers=ADMIN).status_code == 422
    assert client.get("/api/incidents/9999/notifications", headers=ADMIN).status_code == 404
    assert client.get(f"/api/incidents/{incident['id']}/notifications").status_code == 401
    assert client.post(f"/api/notifications/{page.id}/retry", headers=token_for("read")).status_code == 403


def test_p4_pages_wait_for_business_hours_and_are_dropped_if_acknowledged_meanwhile(client, responders, outbox,
                                                                                      frozen_clock):
    responders()
    saturday = datetime(2026, 3, 7, 22, 0, tzinfo=timezone.utc)
    monday_morning = datetime(2026, 3, 9, 9, 0, tzinfo=timezone.utc)
    frozen_clock.set(saturday)
    first = open_incident(client, severity="P4")
    second = open_incident(client, severity="P4", title="Another glitch")
    pages = outbox(kind="page")
    assert [(p.recipient_name, p.next_attempt_at) for p in pages] == [("Erin Ellis", monday_morning)] * 2
    assert outbox(kind="initial")[0].next_attempt_at == saturday  # stakeholder email is not a page

    run_tick(frozen_clock.advance(hours=1))
    assert [p.status for p in outbox(kind="page")] == ["pending", "pending"]

    frozen_clock.advance(hours=2)
    acked = client.post(f"/api/incidents/{second['id']}/acknowledgements", json={"person": "erin"}, headers=ADMIN)
    assert acked.status_code == 201
    run_tick(frozen_clock.set(monday_morning - timedelta(seconds=1)) or frozen_clock.now())
    assert [p.status for p in outbox(kind="page")] == ["pending", "pending"]
    run_tick(frozen_clock.set(monday_morning) or frozen_clock.now())
    by_incident = {p.incident_id: p for p in outbox(kind="page")}
    assert by_incident[first["id"]].status == "sent"
    assert by_incident[first["id"]].latency_ms == 0  # measured from when it was due, not from Saturday
    assert (by_incident[second["id"]].status, by_incident[second["id"]].last_error) == \
        ("cancelled", "not sent: already acknowledged")


def test_a_lease_keeps_other_workers_off_until_it_expires(app, client, frozen_clock):
    open_incident(client)
    now = frozen_clock.now()
    lease = timedelta(seconds=60)
    with app.app_context():
        mine = dispatcher.claim(10, worker_id="a", now=now, lease=lease)
        assert len(mine) == 1
        assert dispatcher.claim(10, worker_id="b", now=now + timedelta(seconds=59), lease=lease) == []
        theirs = dispatcher.claim(10, worker_id="b", now=now + timedelta(seconds=61), lease=lease)
        assert [c.job.id for c in theirs] == [c.job.id for c in mine]


def test_workers_claiming_at_once_never_take_the_same_message(app, client, responders, frozen_clock):
    """The claim is one UPDATE … RETURNING whose rows are taken FOR UPDATE SKIP LOCKED (PostgreSQL) or under
    the one write lock (SQLite): six workers claiming small batches at once share nothing and miss nothing."""
    import threading

    responders()
    for _ in range(4):
        open_incident(client)
    with app.app_context():
        total = len(db.session.scalars(select(dispatcher.Notification.id)).all())
    taken: dict[str, list[int]] = {}
    start = threading.Barrier(6)

    def work(name: str) -> None:
        with app.app_context():
            start.wait()
            mine = taken.setdefault(name, [])
            while claims := dispatcher.claim(2, worker_id=name, now=frozen_clock.now(), lease=timedelta(seconds=60)):
                mine.extend(c.job.id for c in claims)

    threads = [threading.Thread(target=work, args=(f"w{n}",)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    every = [row_id for ids in taken.values() for row_id in ids]
    assert len(every) == len(set(every)) == total > 6


def test_a_broken_override_falls_back_to_the_default_and_says_so(client, config, responders, outbox, tmp_path):
    (tmp_path / "page.email.txt.j2").write_text("Subject: {{ no_such_thing }}\n\nx\n")
    config.templates_dir = str(tmp_path)
    responders()
    open_incident(client)
    page = outbox(kind="page")[0]
    assert page.payload["subject"].startswith("[INC-20260302-1] 🚨 PAGE P1")
    assert page.last_error.startswith("override template failed, the default was used: page.email.txt.j2:1")


def test_pages_come_before_stakeholder_updates(app, client, config, responders, frozen_clock):
    responders()
    for _ in range(3):
        open_incident(client)
    with app.app_context():
        claims = dispatcher.claim(100, worker_id="a", now=frozen_clock.now(), lease=timedelta(seconds=60))
    kinds = [c.job.kind for c in claims]
    assert kinds == sorted(kinds, key=lambda k: {"page": 0, "notice": 1, "initial": 2}[k])
    with app.app_context(), db.transaction() as s:
        assert s.scalar(select(TimelineEntry).where(TimelineEntry.kind == "notification_dead")) is None
