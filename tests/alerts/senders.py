"""Payloads as Alertmanager, Grafana and PagerDuty send them (tests/alerts/payloads/), and variations."""
from __future__ import annotations

import copy
import json
from pathlib import Path

PAYLOADS = Path(__file__).parent / "payloads"


def payload(name: str) -> dict:
    """A fixture payload, shaped as the sender's documentation shows it (fresh copy each time)."""
    return copy.deepcopy(json.loads((PAYLOADS / f"{name}.json").read_text(encoding="utf-8")))


def resolved(body: dict, ends_at: str = "2026-03-02T10:30:00Z", only: set[str] | None = None) -> dict:
    """The same notification with its alerts (or only the given fingerprints) resolved."""
    body = copy.deepcopy(body)
    for alert in body["alerts"]:
        if only is None or alert["fingerprint"] in only:
            alert["status"] = "resolved"
            alert["endsAt"] = ends_at
    body["status"] = "firing" if any(a["status"] == "firing" for a in body["alerts"]) else "resolved"
    return body
