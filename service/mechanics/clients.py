"""One client per configuration in each process: one msal application, one token cache, one pool.

Graph, the sign-in helper and the Bot Connector each keep their clients here, keyed by the settings
that make a client different, so a configuration change in tests (or a reload) gets a fresh client.
"""
from __future__ import annotations

import threading
from typing import Callable, Generic, TypeVar

Client = TypeVar("Client")


class PerConfig(Generic[Client]):
    """`clients(cfg)` builds the client for these settings of `cfg` once, and reuses it after."""

    def __init__(self, build: Callable[[object], Client], *settings: str):
        self._build = build
        self._settings = settings
        self._clients: dict[tuple, Client] = {}
        self._lock = threading.Lock()

    def __call__(self, cfg) -> Client:
        key = tuple(getattr(cfg, name) for name in self._settings)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                client = self._clients[key] = self._build(cfg)
            return client

    def forget(self) -> None:
        """Drop every client (closing those that hold connections): the next call builds anew."""
        with self._lock:
            clients = list(self._clients.values())
            self._clients.clear()
        for client in clients:
            close = getattr(client, "close", None)
            if close is not None:
                close()
