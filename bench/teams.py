"""Benchmark the Teams bot's invoke round trip against a bare authenticated JSON endpoint, same server, same run.

An invoke: POST /api/teams/messages with a Bot Framework JWT (RS256, checked against the JWKS of a
local Bot Framework double), an `adaptiveCard/action` "ack" from the Incident Commander's card:
verify the token, store the activity once, find the person, read the card token, acknowledge
through the lifecycle (timeline, signals, four card updates enqueued in the outbox), and answer
with the refreshed card. Each invoke acknowledges a different open P1 (100 of them, four posted
cards each).
The baseline: GET /api/incidents/<id> with an API token (authenticate, one incident, JSON).
Both through the Flask test client on a migrated SQLite database. Target: invoke ≤ 3× the baseline.
Run: .venv/bin/python bench/teams.py
"""
from __future__ import annotations

import itertools
import os
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from _harness import sqlite_app  # bench/ is on sys.path; _harness puts the project there
from service import db  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.doubles.botframework import BotFrameworkDouble  # noqa: E402
from tests.doubles.tls import make_certificate  # noqa: E402

NOW = datetime(2026, 3, 2, 10, 0, tzinfo=timezone.utc)
ADMIN = {"Authorization": "Bearer bench-admin"}
INCIDENTS = 100
CHANNEL = "19:incidents@thread.tacv2"


def populate(app, bot, alice_user) -> list[tuple[int, str, str]]:
    """[(incident id, card token, page activity id)] for INCIDENTS open P1s paging Alice as commander."""
    from service.incidents import lifecycle
    from service.people.models import Person
    from service.rotations.models import Rotation, Shift
    from service.runtime import policy
    from service.teams.models import TeamsCard
    from service.teams.tokens import make_card_token

    out = []
    with app.app_context():
        s = db.session
        people = [Person(handle=f"p{i}", name=f"Person {i}", email=f"p{i}@example.com", aliases=[], created_at=NOW)
                  for i in range(len(policy().roles))]
        people[0].aad_object_id = alice_user.aad_object_id
        people[0].teams_user_id = alice_user.user_id
        s.add_all(people)
        s.flush()
        for n, role in enumerate(policy().roles.values()):
            rotation = Rotation(name=role.rotation, created_at=NOW, updated_at=NOW)
            s.add(rotation)
            s.flush()
            s.add(Shift(rotation_id=rotation.id, start=NOW - timedelta(days=7), end=NOW + timedelta(days=7),
                        person_id=people[n].id, label="", uid=f"r{n}"))
        s.commit()
        role = policy().commander_role
        for i in range(INCIDENTS):
            incident = lifecycle.open_incident(s, title=f"Orders are failing {i}", severity="P1",
                                               impact="Nobody can trade", actor="bench")
            token = make_card_token(incident.id, people[0].id, role)
            for k, view in enumerate(("person", "person", "person", "stakeholder")):
                s.add(TeamsCard(incident_id=incident.id, conversation_id=CHANNEL if view == "stakeholder" else f"a:{k}",
                                service_url=bot.service_url, activity_id=f"1:{i}-{k}", view=view,
                                kind="initial" if view == "stakeholder" else "page",
                                person_id=people[k].id if view == "person" else None, role=role if k == 0 else None,
                                update_id=None, data={"token": token}, created_at=NOW, updated_at=NOW))
            s.commit()
            out.append((incident.id, token, f"1:{i}-0"))
    return out


def main() -> None:
    folder = tempfile.mkdtemp()
    certificate = make_certificate(Path(folder))
    os.environ["REQUESTS_CA_BUNDLE"] = str(certificate.cert_file)
    bot = BotFrameworkDouble(certificate).start()
    alice = bot.add_user("Person 0", "p0@example.com")
    settings = dict(admin_token="bench-admin", teams_app_id=bot.app_id, teams_app_password=bot.app_password,
                    teams_tenant_id=bot.tenant, teams_authority=bot.authority, teams_openid_url=bot.openid_url,
                    teams_service_url=bot.service_url, teams_channel=CHANNEL)
    try:
        with sqlite_app(NOW, **settings) as (app, frozen):
            incidents = populate(app, bot, alice)
            client = app.test_client()
            auth = {"Authorization": bot.token(now=NOW.timestamp(), lifetime=24 * 3600)}
            ids = itertools.count(1)

            def invoke(verb: str, incident_id: int, token: str, activity_id: str) -> None:
                activity = {
                    "type": "invoke", "name": "adaptiveCard/action", "id": f"f:{next(ids)}", "channelId": "msteams",
                    "serviceUrl": bot.service_url, "replyToId": activity_id,
                    "from": {"id": alice.user_id, "name": alice.name, "aadObjectId": alice.aad_object_id},
                    "conversation": {"conversationType": "personal", "tenantId": bot.tenant, "id": "a:0"},
                    "recipient": {"id": f"28:{bot.app_id}"}, "channelData": {"tenant": {"id": bot.tenant}},
                    "value": {"action": {"type": "Action.Execute", "verb": verb, "data": {"token": token}},
                              "trigger": "manual"},
                }
                response = client.post("/api/teams/messages", json=activity, headers=auth)
                assert response.status_code == 200 and response.get_json()["statusCode"] == 200, response.data

            def read(incident_id: int, *_) -> None:
                response = client.get(f"/api/incidents/{incident_id}", headers=ADMIN)
                assert response.status_code == 200

            def api_ack(incident_id: int, *_) -> None:  # the same acknowledgement through the REST API
                response = client.post(f"/api/incidents/{incident_id}/acknowledgements", json={"person": "p0"},
                                       headers=ADMIN)
                assert response.status_code == 201, response.data

            invoke("ack", *incidents[0])  # warm up: keys fetched, templates compiled
            read(*incidents[0])
            half = len(incidents) // 2
            timings = {"read": [], "refresh": [], "ack": [], "api_ack": []}
            for n, case in enumerate(incidents[1:], start=1):  # interleaved: all see the same machine load
                steps = [("read", lambda: read(*case)), ("refresh", lambda: invoke("refresh", *case))]
                steps.append(("ack", lambda: invoke("ack", *case)) if n < half else ("api_ack", lambda: api_ack(*case)))
                for name, step in steps:
                    began = time.perf_counter()
                    step()
                    timings[name].append(time.perf_counter() - began)
    finally:
        bot.stop()
    base = statistics.median(timings["read"])
    print(f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} (shared; SQLite commits fsync)")
    for name, label in (("read", "GET /api/incidents/<id> (baseline)"), ("refresh", "invoke refresh (verify, card)"),
                        ("api_ack", "POST /api/…/acknowledgements (API)"), ("ack", "invoke ack (verify, act, card)")):
        values = timings[name]
        p50 = statistics.median(values)
        print(f"{label:38s} p50 {p50 * 1e3:6.2f} ms  best {min(values) * 1e3:6.2f} ms  n={len(values):3d}"
              f"  ratio to baseline p50 {p50 / base:5.2f}x")
    ack, api = statistics.median(timings["ack"]), statistics.median(timings["api_ack"])
    print(f"invoke ack / API ack (the bot's own cost over the same action): p50 {ack / api:4.2f}x; target: invoke "
          f"<= 3x the baseline")



if __name__ == "__main__":
    main()
