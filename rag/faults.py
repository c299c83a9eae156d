"""Fault points: named places in the write path where a crash test can kill rag on purpose.

`reached("store.put.chunks")` does nothing unless the setting `fault_point` (RAG_FAULT_POINT)
names that point, as `NAME` (the first time it is reached) or `NAME:N` (the Nth time); then the
process sends itself SIGKILL, the crash no `finally` block or atexit handler survives. Used by
tests/test_crash_safety.py; RELIABILITY.md lists the points. Not for anything else.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from functools import lru_cache

_reached: Counter[str] = Counter()


@lru_cache(maxsize=1)
def _target() -> tuple[str, int] | None:
    # Read once per process through Settings, so checking a point costs a dict lookup.
    from .config import load_settings

    spec = load_settings().fault_point
    if not spec:
        return None
    name, _, nth = spec.partition(":")
    return name, int(nth or 1)


def reached(point: str) -> None:
    """Mark that execution got to `point`; die here if RAG_FAULT_POINT says so."""
    target = _target()
    if target is None or target[0] != point:
        return
    _reached[point] += 1
    if _reached[point] == target[1]:
        os.kill(os.getpid(), signal.SIGKILL)
