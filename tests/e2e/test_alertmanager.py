"""Debian's `prometheus-alertmanager` binary sends to a real `herald serve`, configured exactly as the
README says: the webhook receiver and the PagerDuty receiver.

The Alertmanager configuration is the README's YAML block itself. The test changes only what must
differ here — Herald's address, the token file's path, and the route's waits (30 s and 5 m would make a
slow test) — and fails when any of those strings is no longer in the README, so the two cannot drift.
Real time passes here (two real programs talk); the test polls with deadlines and asserts no clock time.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from service.config import PROJECT_ROOT
from tests.e2e.serving import Served, request_json, start_serve

README = PROJECT_ROOT / "README.md"
FAST_ROUTE = {"group_wait: 30s": "group_wait: 1s", "group_interval: 5m": "group_interval: 1s"}


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _install_alertmanager() -> str | None:
    """Debian's package, installed when missing (as root, like .ci/run does for Chromium)."""
    found = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
    if found or not shutil.which("apt-get") or os.geteuid() != 0:
        return found
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    for command in (["apt-get", "install", "-y", "-qq", "prometheus-alertmanager"],
                    ["apt-get", "update", "-qq"],
                    ["apt-get", "install", "-y", "-qq", "prometheus-alertmanager"]):
        subprocess.run(command, env=environment, capture_output=True, timeout=600)
        found = shutil.which("prometheus-alertmanager")
        if found:
            return found
    return None


@pytest.fixture(scope="module")
def alertmanager_binary() -> str:
    binary = _install_alertmanager()
    if binary is None:
        reason = "Debian's prometheus-alertmanager is not installed and apt-get could not install it"
        if _in_ci():
            pytest.fail(f"{reason}; CI must run this test (.ci/run installs it)")
        pytest.skip(f"{reason} (install with: apt-get install prometheus-alertmanager)")
    return binary


def readme_yaml(after_heading: str) -> str:
    """The first ```yaml block after `after_heading` in the README."""
    text = README.read_text("utf-8")
    start = text.index(after_heading)
    return re.search(r"```yaml\n(.*?)```", text[start:], re.S).group(1)


def as_configured(yaml: str, replacements: dict[str, str]) -> str:
    for old, new in replacements.items():
        assert old in yaml, f"the README's Alertmanager configuration no longer has {old!r}"
        yaml = yaml.replace(old, new)
    return yaml


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Alertmanager:
    """One `prometheus-alertmanager` process with its own storage, API on a free loopback port."""

    def __init__(self, binary: str, config: str, folder: Path):
        folder.mkdir()
        (folder / "alertmanager.yml").write_text(config)
        self.port = _free_port()
        self.log = open(folder / "alertmanager.log", "w+")
        self.process = subprocess.Popen(
            [binary, f"--config.file={folder / 'alertmanager.yml'}", f"--storage.path={folder / 'data'}",
             f"--web.listen-address=127.0.0.1:{self.port}", "--cluster.listen-address=", "--log.level=debug"],
            stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as answer:
                    if answer.status == 200:
                        return
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise AssertionError(f"alertmanager did not start:\n{self.output()}")

    def fire(self, *alerts: dict) -> None:
        """POST alerts to Alertmanager's own API, as Prometheus does."""
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/api/v2/alerts", method="POST",
                                     data=json.dumps(list(alerts)).encode(),
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=10) as answer:
            assert answer.status == 200

    def output(self) -> str:
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture
def herald(tmp_path):
    served = start_serve(tmp_path)
    yield served
    output = served.stop()
    assert served.process.returncode == 0, output


@pytest.fixture
def token_file(herald: Served, tmp_path) -> Path:
    """The README's `herald token create alertmanager --scope ingest`, stored where Alertmanager reads it."""
    secret = herald.herald("token", "create", "alertmanager", "--scope", "ingest").split()[-1]
    path = tmp_path / "herald-token"
    path.write_text(secret + "\n")
    return path


def _alert(name: str, service: str, *, ends: datetime | None = None, **extra) -> dict:
    now = datetime.now(timezone.utc)
    alert = {"labels": {"alertname": name, "service": service, **extra.pop("labels", {})},
             "annotations": extra.pop("annotations", {}),
             "startsAt": (now - timedelta(minutes=1)).isoformat(), "generatorURL": "http://prometheus.test/graph"}
    if ends is not None:
        alert["endsAt"] = ends.isoformat()
    return alert


def _eventually(check, what: str, am: Alertmanager, timeout: float = 45.0):
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; alertmanager said:\n{am.output()[-6000:]}")
        time.sleep(0.25)


def _incidents(herald: Served) -> list[dict]:
    return request_json(f"{herald.base}/api/incidents", herald.admin_token)[1]


def _timeline(herald: Served, incident: dict) -> list[str]:
    entries = request_json(f"{herald.base}/api/incidents/{incident['id']}/timeline", herald.admin_token)[1]
    return [entry["text"] for entry in entries]


def _resolved_everything(herald: Served, incident: dict) -> bool:
    return any(text.startswith("All alerts of the group have resolved") for text in _timeline(herald, incident))


@contextmanager
def readme_alertmanager(binary: str, heading: str, herald: Served, token_file: Path, folder: Path):
    """Alertmanager running the README's configuration under `heading`, pointed at `herald`."""
    config = as_configured(readme_yaml(heading), {
        "https://herald.example.com": herald.base,
        "/etc/alertmanager/herald-token": str(token_file),
        **FAST_ROUTE,
    })
    am = Alertmanager(binary, config, folder)
    try:
        yield am
        assert "level=error" not in am.output()
    finally:
        am.stop()


def test_webhook_receiver_as_the_readme_configures_it(alertmanager_binary, herald, token_file, tmp_path):
    with readme_alertmanager(alertmanager_binary, "### Alertmanager", herald, token_file,
                             tmp_path / "am-webhook") as am:
        am.fire(_alert("OrdersFailing", "orders", labels={"severity": "critical"},
                       annotations={"summary": "Orders are failing", "description": "Nobody can trade",
                                    "runbook_url": "https://runbooks.example.com/orders"}),
                _alert("OrdersFailing", "orders", labels={"severity": "critical", "instance": "b"},
                       annotations={"summary": "Orders are failing"}))
        incident = _eventually(lambda: _incidents(herald), "an incident from the webhook", am)[0]
        assert (incident["title"], incident["severity"], incident["impact"]) == (
            "Orders are failing", "P1", "Nobody can trade")
        assert incident["roles"]["incident_commander"]["person"]  # the example people are on call
        groups = request_json(f"{herald.base}/api/alerts/groups", herald.admin_token)[1]
        assert [(g["source"], g["status"], len(g["alerts"])) for g in groups] == [("alertmanager", "firing", 2)]

        ended = datetime.now(timezone.utc)
        am.fire(_alert("OrdersFailing", "orders", ends=ended, labels={"severity": "critical"},
                       annotations={"summary": "Orders are failing", "description": "Nobody can trade",
                                    "runbook_url": "https://runbooks.example.com/orders"}),
                _alert("OrdersFailing", "orders", ends=ended, labels={"severity": "critical", "instance": "b"},
                       annotations={"summary": "Orders are failing"}))
        _eventually(lambda: _resolved_everything(herald, incident), "the resolved notification", am)
        assert len(_incidents(herald)) == 1
        events = request_json(f"{herald.base}/api/alerts/events?limit=1000", herald.admin_token)[1]
        assert events and all(e["status"] == "done" for e in events), events


def test_pagerduty_receiver_as_the_readme_configures_it(alertmanager_binary, herald, token_file, tmp_path):
    with readme_alertmanager(alertmanager_binary, "### Anything that speaks PagerDuty", herald, token_file,
                             tmp_path / "am-pagerduty") as am:
        # One group with a severity and a common summary; one with neither (the README's fallbacks).
        am.fire(_alert("ReplicationLag", "db", labels={"severity": "warning"},
                       annotations={"summary": "Replication lag above 30s on db-2"}))
        am.fire(_alert("DiskFull", "search"))
        incidents = _eventually(lambda: len(_incidents(herald)) == 2 and _incidents(herald),
                                "two incidents from the PagerDuty receiver", am)
        by_title = {i["title"]: i for i in incidents}
        assert by_title["Replication lag above 30s on db-2"]["severity"] == "P3"
        (fallback,) = [i for t, i in by_title.items() if t != "Replication lag above 30s on db-2"]
        assert fallback["title"].startswith("[FIRING:1] DiskFull"), fallback["title"]
        assert fallback["severity"] == "P2"  # no severity label: "error"
        groups = request_json(f"{herald.base}/api/alerts/groups", herald.admin_token)[1]
        assert sorted((g["source"], g["status"]) for g in groups) == [("pagerduty", "firing")] * 2

        am.fire(_alert("DiskFull", "search", ends=datetime.now(timezone.utc)))
        _eventually(lambda: _resolved_everything(herald, fallback), "the PagerDuty resolve event", am)
        events = request_json(f"{herald.base}/api/alerts/events?limit=1000", herald.admin_token)[1]
        assert events and all(e["status"] == "done" for e in events), events
