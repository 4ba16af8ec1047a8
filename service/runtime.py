"""What the running process was configured with: config, policy, holidays.

Set once by `create_app`; read by domain code that runs both in requests and in the worker.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from .config import Config
from .policy import Policy


@dataclass
class Runtime:
    config: Config | None = None
    policy: Policy | None = None
    holidays: frozenset[date] = field(default_factory=frozenset)


runtime = Runtime()


def policy() -> Policy:
    if runtime.policy is None:
        raise RuntimeError("no policy loaded: create the app first")
    return runtime.policy


def config() -> Config:
    if runtime.config is None:
        raise RuntimeError("no configuration loaded: create the app first")
    return runtime.config


def holidays() -> frozenset[date]:
    return runtime.holidays
