"""Running `herald` as real processes for the end-to-end tests: environment, output, JSON over HTTP."""
from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from service.config import PROJECT_ROOT

HERALD = Path(sys.executable).with_name("herald")


def herald_env(folder: Path) -> dict:
    """The environment of a fresh installation in `folder` (SQLite, the repository's policy)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("HERALD_")}
    environment.update(
        HERALD_DATABASE_URL=f"sqlite:///{folder / 'herald.db'}",
        HERALD_POLICY=str(PROJECT_ROOT / "schedules" / "policy.toml"),
        HERALD_VAR_DIR=str(folder),
        HERALD_TICK_SECONDS="0.2",
    )
    return environment


def request_json(url: str, token: str | None = None, body=None, method: str | None = None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method or ("POST" if data else "GET"))
    req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(req, timeout=10) as response:
        raw = response.read()
        return response.status, json.loads(raw) if raw else None


def wait_for(pattern: str, stream, deadline: float, seen: list | None = None) -> re.Match:
    """Read `stream` line by line until `pattern` matches (AssertionError with the output otherwise)."""
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


@dataclass
class Served:
    base: str
    admin_token: str
    env: dict
    folder: Path
    process: subprocess.Popen

    def herald(self, *args: str) -> str:
        """Run a `herald` command against this installation; its standard output."""
        done = subprocess.run([str(HERALD), *args], env=self.env, cwd=self.folder, check=True,
                              capture_output=True, text=True, timeout=60)
        return done.stdout

    def stop(self) -> str:
        self.process.send_signal(signal.SIGTERM)
        output, _ = self.process.communicate(timeout=30)
        return output


def start_serve(folder: Path, env: dict | None = None) -> Served:
    """`herald db upgrade` then `herald serve` on an ephemeral port, up to its first-start admin token."""
    env = env or herald_env(folder)
    subprocess.run([str(HERALD), "db", "upgrade"], env=env, check=True, cwd=folder, capture_output=True)
    proc = subprocess.Popen([str(HERALD), "serve", "--port", "0"], env=env, cwd=folder,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        token = wait_for(r"admin token: (\S+)", proc.stdout, deadline).group(1)
        port = wait_for(r"serving on http://127\.0\.0\.1:(\d+)", proc.stdout, deadline).group(1)
    except BaseException:
        proc.kill()
        proc.communicate(timeout=30)
        raise
    return Served(f"http://127.0.0.1:{port}", token, env, folder, proc)
