"""Schemathesis against `/openapi.json` of a live Herald: no server error, every answer as documented.

A bounded, deterministic run (the same cases every time, about a minute on two cores) over every
operation, with some data in place and half of the generated ids pointing at it (schemathesis_hooks.py),
so that not every id is a 404. Checks: no 5xx; status codes, content types,
headers and bodies as the document says; 405 with `Allow` for undeclared methods; auth enforced; and
schema-valid requests accepted unless one of the few rules JSON Schema cannot state refuses them
(`schemathesis_hooks.py`).

`POST /api/rotations` (subscribe to a URL) is left out: it resolves and fetches whatever URL it is
given, and this test talks to no host but itself (tests/rotations cover it against a local server).
"""
from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

from service import clock
from service.config import PROJECT_ROOT
from service.wiring import run_tick
from tests.conftest import ADMIN, START

# Both databases: PostgreSQL refuses what SQLite stores (NUL, integers past 2^31).

ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
SEED = 20261201
MAX_EXAMPLES = 15
CHECKS = ["not_a_server_error", "status_code_conformance", "content_type_conformance",
          "response_headers_conformance", "response_schema_conformance", "unsupported_method",
          "allow_header_conformance", "missing_required_header", "ignored_auth", "documented_constraints"]


@pytest.fixture
def seeded(app, client, make_person, put_on_call):
    """People on call, a P1 with an update and an action item, an alert group, a rotation override."""
    make_person("alice", "Alice Archer")
    make_person("bob", "Bob Baker")
    put_on_call("incident-commander", "alice", START - timedelta(days=1))
    put_on_call("technical-lead", "bob", START - timedelta(days=1))
    incident = client.post("/api/incidents", headers=ADMIN,
                           json={"title": "Orders are failing", "severity": "P1", "impact": "No trading"}).get_json()
    assert client.post(f"/api/incidents/{incident['id']}/updates", headers=ADMIN,
                       json={"status": "identified", "learned": "A full disk."}).status_code == 201
    assert client.post(f"/api/incidents/{incident['id']}/actions", headers=ADMIN,
                       json={"action": "Alert on disk usage", "owner": "bob"}).status_code == 201
    assert client.post("/api/rotations/incident-commander/overrides", headers=ADMIN, json={
        "person": "bob", "start": (START + timedelta(days=1)).isoformat(),
        "end": (START + timedelta(days=2)).isoformat()}).status_code == 201
    alert = {"status": "firing", "labels": {"alertname": "DiskFull", "severity": "warning"},
             "annotations": {"summary": "Disk full on db-2"}, "startsAt": START.isoformat()}
    assert client.post("/api/alerts/alertmanager", headers=ADMIN, json={
        "version": "4", "groupKey": "{}:{alertname=\"DiskFull\"}", "status": "firing", "receiver": "herald",
        "alerts": [alert]}).status_code == 202
    with app.app_context():
        run_tick(clock.now())  # the alert becomes a group; the outbox sends to the log
    assert incident["number"] == "INC-20260302-1" and incident["id"] == 1  # schemathesis_hooks.SEEDED
    return incident


@pytest.fixture
def names_do_not_resolve(monkeypatch):
    """Herald checks webhook hosts by resolving them; the fuzzer's invented names must not reach a DNS
    server, so in this process (where the live server runs) only loopback resolves."""
    real = socket.getaddrinfo

    def loopback_only(host, *args, **kwargs):
        if host in ("127.0.0.1", "localhost", "::1"):
            return real(host, *args, **kwargs)
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known (test: no DNS)")

    monkeypatch.setattr(socket, "getaddrinfo", loopback_only)


def test_schemathesis_finds_no_server_error_and_no_schema_violation(live_server, seeded, names_do_not_resolve,
                                                                     tmp_path):
    environment = dict(os.environ, SCHEMATHESIS_HOOKS="tests.api.schemathesis_hooks",
                       PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")])))
    command = [str(SCHEMATHESIS), "run", f"{live_server}/openapi.json",
               "--header", ADMIN_HEADER, "--checks", ",".join(CHECKS),
               "--phases", "examples,coverage,fuzzing", "--max-examples", str(MAX_EXAMPLES),
               "--seed", str(SEED), "--generation-deterministic",
               "--workers", "1", "--continue-on-failure", "--suppress-health-check", "all",
               "--request-timeout", "30", "--exclude-name", "POST /api/rotations", "--no-color", "--report", "junit", "--report-dir", str(tmp_path)]
    # In tmp_path: Schemathesis keeps a cache (.schemathesis/) in the folder it runs in.
    run = subprocess.run(command, env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=900)
    output = run.stdout + run.stderr
    ARTIFACTS.mkdir(exist_ok=True)
    (ARTIFACTS / "schemathesis.txt").write_text(output)
    assert run.returncode == 0, _failures(output)
    selected = re.search(r"Selected: (\d+)/(\d+)", output)
    tested = re.search(r"Tested: (\d+)", output)
    assert selected and tested, output[-3000:]
    # every operation of the document ran (a document that lost its operations would pass vacuously)
    assert int(tested.group(1)) == int(selected.group(1)) >= 44, output[-3000:]


ADMIN_HEADER = f"Authorization: {ADMIN['Authorization']}"


def _failures(output: str) -> str:
    """The report's failures and errors, without the repeated replay hints."""
    start = min((i for i in (output.find("= ERRORS ="), output.find("= FAILURES =")) if i >= 0), default=0)
    lines = [line for line in output[start:].splitlines() if line.strip() and "st replay" not in line]
    return "\n".join(lines)[-20000:]
