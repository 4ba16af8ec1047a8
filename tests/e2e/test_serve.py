"""`herald serve` as a real process: first-start token, health, an incident over HTTP, clean SIGTERM."""
import re
import signal
import subprocess
import time

import pytest

from tests.e2e.serving import HERALD, herald_env, start_serve
from tests.e2e.serving import request_json as _request
from tests.e2e.serving import wait_for as _wait_for


@pytest.fixture
def env(tmp_path):
    return herald_env(tmp_path)


def test_serve_end_to_end(env, tmp_path):
    served = start_serve(tmp_path, env)
    try:
        base, token = served.base, served.admin_token
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
        output = served.stop()
    assert served.process.returncode == 0, output
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
