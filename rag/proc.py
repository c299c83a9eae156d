"""Processes that left files behind: whether one is still running. Below every stage, like
rag/text.py; used where a crashed process's leftovers are cleaned up (the BM25 index's temporary
folders, upload temporaries)."""

from __future__ import annotations

import os


def alive(pid: int) -> bool:
    """True when a process with this id exists (one of another user counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
