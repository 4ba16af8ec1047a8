"""A real HTTP server (waitress, ephemeral port) and headless Debian Chromium for the browser tests.

A plugin of the root conftest, so that every folder's browser tests share one Chromium.
"""
from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import pytest

from service import db

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _unavailable(reason: str):
    if _in_ci():
        pytest.fail(f"{reason}; CI must run the browser tests (.ci/run installs Debian's chromium)")
    pytest.skip(f"{reason}; browser tests skipped (install with: apt-get install chromium)")


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium per test session (never `playwright install`: Debian's package is used)."""
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(executable).exists():
        _unavailable("Chromium is not installed")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("Playwright's Python package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


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
