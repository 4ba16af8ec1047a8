"""Waiting for work done by another thread or process, without asserting on time."""
import time


def wait_until(condition, timeout: float = 30.0) -> bool:
    """Poll background work (another thread or process); the timeout only bounds a broken run."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return False
