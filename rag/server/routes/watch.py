"""/api/watch: the folders `rag serve --watch` keeps in step with the index, and its last sync."""

from __future__ import annotations

from fastapi import APIRouter

from ..schemas import WatchStatus
from ..state import State
from ..watching import NOT_WATCHING

router = APIRouter(prefix="/api/watch", tags=["documents"])


@router.get("", response_model=WatchStatus)
def watch_status(state: State) -> dict:
    """The watched folders, whether the watcher runs, and the last sync that changed the index
    (its time and file counts); `watching: false` when the server watches nothing."""
    return state.watching.status() if state.watching else NOT_WATCHING
