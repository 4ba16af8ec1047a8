"""A real HTTP server (waitress, ephemeral port) and headless Debian Chromium for the browser tests."""
from __future__ import annotations

import threading
from pathlib import Path

import pytest

from service import db

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
@pytest.fixture
def live_server(app):
    """`app` served over real HTTP on 127.0.0.1 at an ephemeral port; yields its base URL."""
    from waitress import create_server
    from waitress.wasyncore import close_all, loop

    server = create_server(app, host="127.0.0.1", port=0, threads=4)
    stop = threading.Event()

    def serve():
        # Poll in short rounds so the loop itself notices `stop` and closes its own sockets.
        while not stop.is_set():
            loop(timeout=0.05, map=server._map, count=1)
        server.task_dispatcher.shutdown()
        close_all(server._map)

    thread = threading.Thread(target=serve, name="live-server", daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}"
    stop.set()
    thread.join(timeout=5)
    db.session.remove()


@pytest.fixture
def artifacts() -> Path:
    """Where screenshots go (gitignored): looked at by people, uploaded by CI."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS
