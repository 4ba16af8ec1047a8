"""`herald serve` as a real process: first-start token, health, an incident over HTTP, clean SIGTERM."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from service.config import PROJECT_ROOT

HERALD = Path(sys.executable).with_name("herald")


def _request(url, token=None, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method="POST" if data else "GET")
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as response:
        return response.status, json.loads(response.read())


@pytest.fixture
def env(tmp_path):
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    environment.update(
        HERALD_DATABASE_URL=f"sqlite:///{tmp_path / 'herald.db'}",
        HERALD_POLICY=str(PROJECT_ROOT / "schedules" / "policy.toml"),
        HERALD_VAR_DIR=str(tmp_path),
        HERALD_TICK_SECONDS="0.2",
    )
    return environment


def _wait_for(pattern: str, stream, deadline: float, seen: list | None = None) -> re.Match:
    seen = [] if seen is None else seen
    while time.monotonic() < deadline:
        line = stream.readline()
        if not line:
            break
        seen.append(line)
        match = re.search(pattern, line)
        if match:
            return match
    raise AssertionError(f"{pattern!r} not printed; output was:\n{''.join(seen)}")


def test_serve_end_to_end(env, tmp_path):
    subprocess.run([str(HERALD), "db", "upgrade"], env=env, check=True, cwd=tmp_path, capture_output=True)
    proc = subprocess.Popen([str(HERALD), "serve", "--port", "0"], env=env, cwd=tmp_path,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        token = _wait_for(r"admin token: (\S+)", proc.stdout, deadline).group(1)
        port = _wait_for(r"serving on http://127\.0\.0\.1:(\d+)", proc.stdout, deadline).group(1)
        base = f"http://127.0.0.1:{port}"

        status, health = _request(f"{base}/api/health")
        assert status == 200 and health["database"] == "ok"
        for _ in range(50):  # the ticker beats within a few ticks
            if _request(f"{base}/api/health")[1]["scheduler"]["status"] == "ok":
                break
            time.sleep(0.1)
        assert _request(f"{base}/api/health")[1]["scheduler"]["status"] == "ok"

        status, incident = _request(f"{base}/api/incidents", token,
                                    {"title": "Orders are failing", "severity": "P1", "impact": "No trading"})
        assert status == 201
        assert re.fullmatch(r"INC-\d{8}-1", incident["number"])
        status, listed = _request(f"{base}/api/incidents", token)
        assert [i["id"] for i in listed] == [incident["id"]]
    finally:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, output
    assert "stopped" in output


def test_second_start_prints_no_new_token(env, tmp_path):
    subprocess.run([str(HERALD), "db", "upgrade"], env=env, check=True, cwd=tmp_path, capture_output=True)
    outputs = []
    for _ in range(2):
        proc = subprocess.Popen([str(HERALD), "serve", "--port", "0"], env=env, cwd=tmp_path,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        seen: list[str] = []
        _wait_for(r"serving on", proc.stdout, time.monotonic() + 60, seen)
        proc.send_signal(signal.SIGTERM)
        rest, _ = proc.communicate(timeout=30)
        outputs.append("".join(seen) + rest)
        assert proc.returncode == 0
    assert "admin token" in outputs[0]
    assert "admin token" not in outputs[1]
