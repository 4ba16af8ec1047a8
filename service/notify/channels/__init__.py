"""Channel adapters: each sends one rendered message and returns a receipt, or raises.

`RetryableError` (optionally with the provider's Retry-After) puts the message back in the outbox
with backoff; `PermanentError` gives up at once (e.g. a mailbox that does not exist).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class Outgoing:
    """A claimed notification, detached from the database, as the channel sees it."""

    id: int
    kind: str
    channel: str
    recipient: str
    recipient_name: str
    payload: dict = field(hash=False)
    message_id: str | None = None


@dataclass(frozen=True)
class Receipt:
    provider_id: str | None = None


class DeliveryError(Exception):
    permanent = False

    def __init__(self, message: str, retry_after: float | None = None):
        super().__init__(message)
        self.retry_after = retry_after


class RetryableError(DeliveryError):
    """The provider may accept the message later (timeouts, 429, 5xx, connection refused)."""


class PermanentError(DeliveryError):
    """Sending again cannot help (unknown mailbox, malformed address)."""

    permanent = True


class Channel(Protocol):
    name: str

    def send(self, message: Outgoing) -> Receipt: ...

    def close(self) -> None: ...


_lock = threading.Lock()
_open: dict[tuple, Channel] = {}
# Channels another domain provides (the Teams bot): name -> (make(cfg) -> Channel, key(cfg) -> tuple).
_provided: dict[str, tuple] = {}


def register_channel(name: str, make, key=lambda cfg: ()) -> None:
    """Add a channel adapter from another domain; `key(cfg)` names the settings it depends on."""
    _provided[name] = (make, key)


def channel_for(name: str, cfg) -> Channel:
    """The process's adapter for `name` under configuration `cfg` (kept open to reuse connections)."""
    from .log import LogChannel

    if name == "log":
        key: tuple = ("log",)
    elif name == "teams":
        key = ("teams", cfg.allow_private_urls, cfg.teams_webhook_url)
    elif name in _provided:
        key = (name, *_provided[name][1](cfg))
    elif name == "email":
        key = ("email", cfg.smtp_url, cfg.graph_configured, cfg.graph_authority, cfg.graph_url, cfg.graph_mailbox,
               cfg.mail_from)
    else:
        raise PermanentError(f"unknown channel {name!r}")
    with _lock:
        channel = _open.get(key)
        if channel is None:
            channel = _open[key] = _make(name, cfg) if name != "log" else LogChannel()
        return channel


def _make(name: str, cfg) -> Channel:
    if name in _provided:
        return _provided[name][0](cfg)
    if name == "teams":
        from ...netguard import AddressPolicy
        from ...runtime import runtime
        from .teams import TeamsChannel

        contacts = runtime.policy.contacts.values() if runtime.policy is not None else ()
        owned = frozenset(u for u in [cfg.teams_webhook_url, *(c.teams_webhook for c in contacts)] if u)
        return TeamsChannel(AddressPolicy(allow_private=cfg.allow_private_urls), owned)
    if cfg.smtp_url:
        from .smtp import SmtpChannel

        return SmtpChannel(cfg.smtp_url, cfg.mail_from)
    if cfg.graph_configured:
        from .graph import GraphMailChannel

        return GraphMailChannel(cfg)
    raise RetryableError("no mail transport configured (set HERALD_SMTP_URL or HERALD_GRAPH_*)")


def sender_address(cfg) -> str:
    """The From address of Herald's mail: HERALD_MAIL_FROM, or the Graph mailbox when Graph sends."""
    if not cfg.smtp_url and cfg.graph_configured:
        return cfg.graph_mailbox
    return cfg.mail_from


def close_all() -> None:
    """Close every open adapter (connections); the next send opens them again."""
    with _lock:
        channels = list(_open.values())
        _open.clear()
    for channel in channels:
        try:
            channel.close()
        except Exception:
            pass
