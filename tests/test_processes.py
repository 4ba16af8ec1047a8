"""`herald serve`/`herald worker` tune glibc's allocator so that memory freed after a large response goes back
to the system (processes.tune_allocator; measured by bench/memory.py)."""
from __future__ import annotations

import platform

import pytest

from service.processes import tune_allocator


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="mallopt is glibc's")
def test_tunes_glibc_unless_the_operator_did(monkeypatch):
    monkeypatch.delenv("MALLOC_ARENA_MAX", raising=False)
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    assert tune_allocator() is True
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert tune_allocator() is False  # the operator's setting stands
