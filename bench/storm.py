"""Benchmark an alert storm end to end: 300 P3 incidents opened over the API, until the last message
reaches the sinks. (Placeholder: the run itself follows.)"""
from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEAMS_SINK = "https://teams.example.com/workflows/storm/triggers/manual/paths/invoke?sig=bench"


def storm_policy(folder: Path, teams_url: str = TEAMS_SINK) -> Path:
    """The shipped policy, but a P3 pages the on-call engineer by email and posts the stakeholders' update to
    one Teams webhook (one card), at any hour: each P3 of the storm is one page email and one Teams card."""
    text = (ROOT / "schedules" / "policy.toml").read_text()
    changes = [
        ('[severities.P3]\nname = "Medium"\n', '[severities.P3]\nname = "Medium"\n'),
        ('respond_within = "2h"\nbusiness_hours_only = true\npage = ["on_call_engineer"]\n'
         'stakeholders = ["stakeholders"]\nchannels = ["email"]\n',
         'respond_within = "2h"\npage = ["on_call_engineer"]\nstakeholders = ["stakeholders"]\n'
         'channels = ["teams", "email"]\n'),
        ('[contacts.stakeholders]\ntitle = "Stakeholders"\nemail = ["stakeholders@example.com"]\n',
         f'[contacts.stakeholders]\ntitle = "Stakeholders"\nteams_webhook = "{teams_url}"\n'),
    ]
    for old, new in changes:
        if old not in text:
            raise SystemExit(f"schedules/policy.toml changed; storm_policy cannot find {old!r}")
        text = text.replace(old, new)
    path = folder / "storm-policy.toml"
    path.write_text(text)
    return path
