"""Helpers shared by the benchmarks (not a benchmark itself: `make bench` skips files starting with _)."""
from __future__ import annotations

import sys
import tempfile
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Callable, Iterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from service import clock, create_app  # noqa: E402
from service.config import PROJECT_ROOT, Config  # noqa: E402
from service.migrate import upgrade  # noqa: E402


def best_of(fn: Callable[[], object], repeat: int = 5) -> float:
    """The fastest of `repeat` runs of `fn`, in seconds: the least noisy figure on a shared machine."""
    times = []
    for _ in range(repeat):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


@contextmanager
def sqlite_app(start: datetime, **config) -> Iterator[tuple[object, clock.FrozenClock]]:
    """A Herald app on a new, migrated SQLite database in a temporary folder, with a frozen clock."""
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{folder}/bench.db"
        upgrade(url)
        frozen = clock.FrozenClock(start)
        settings = Config(database_url=url, secret_key="bench",
                          policy_path=str(PROJECT_ROOT / "schedules" / "policy.toml"), **config)
        yield create_app(settings, clock=frozen), frozen
