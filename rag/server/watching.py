"""`rag serve --watch`: the watcher thread that keeps the index in step with folders while the
server runs, and what the page shows of it (`GET /api/watch`): the folders, whether it runs, and
the last sync. The syncing itself is `Assistant.watch` (rag/watch.py).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..config import Settings
from ..types import IngestReport

log = logging.getLogger(__name__)


# A watcher that stops on an error is started again after _FIRST_RETRY_S, then twice as long each
# time it stops again, up to _MAX_RETRY_S; one that ran _HEALTHY_S before stopping starts over at
# _FIRST_RETRY_S. A broken index or an OS watch limit then costs a try a minute, not a busy loop.
_FIRST_RETRY_S = 1.0
_MAX_RETRY_S = 60.0
_HEALTHY_S = 120.0


class Watching:
    """The folders one server keeps in step, on a thread of its own with an Assistant of its own
    (the server's answers its questions meanwhile; the ingest lock keeps the two from writing at once).
    A watcher that stops on an error is visible (`running` false, `error` says why, `/healthz`
    says degraded) and is started again with backoff until it runs.

        watching = Watching(["docs/"], settings, on_sync=print)
        watching.start(); ...; watching.status()   # {"folders": [...], "running": True, "last_sync": {...}}
        watching.stop()

    Args:
        paths: the folders (or files) to keep in step.
        on_sync: also called with each sync's report (`rag serve` prints a line).
        on_stop: called with the error's message (and when it is tried again) each time watching
            stops on an error.
    """

    def __init__(self, paths: list[str | Path], settings: Settings, *,
                 on_sync: Callable[[IngestReport], None] | None = None,
                 on_stop: Callable[[str], None] | None = None):
        self.folders = [str(Path(p).expanduser().absolute()) for p in paths]
        self.settings = settings
        self.on_sync = on_sync
        self.on_stop = on_stop
        self.error = ""
        self.syncs = 0
        self.restarts = 0  # times it was started again after stopping on an error
        self._down = False  # stopped on an error, waiting to be started again
        self._last: dict | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rag-watch", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    @property
    def running(self) -> bool:
        return (self._thread is not None and self._thread.is_alive() and not self._stop.is_set()
                and not self._down)

    def _run(self) -> None:
        from ..assistant import Assistant

        wait = _FIRST_RETRY_S
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                with Assistant(settings=self.settings) as assistant:
                    assistant.watch(self.folders, self._stop, on_sync=self._synced)
                return  # stopped when asked
            except Exception as e:  # noqa: BLE001 - whatever stopped it, the server goes on and says so
                if time.monotonic() - started >= _HEALTHY_S:
                    wait = _FIRST_RETRY_S
                reason = _reason(e)
                with self._lock:
                    self.error, self._down = reason, True
                message = f"{reason}; trying again in {wait:g} s"
                if self.on_stop:
                    self.on_stop(message)
                else:
                    log.warning("watching stopped: %s", message)
                if self._stop.wait(wait):
                    return
                wait = min(wait * 2, _MAX_RETRY_S)
                with self._lock:
                    self._down = False
                    self.restarts += 1

    def _synced(self, report: IngestReport) -> None:
        last = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "indexed": len(report.added) + len(report.updated) + len(report.moved),
                "removed": len(report.removed), "failed": len(report.failed)}
        with self._lock:
            self._last = last
            self.syncs += 1
            self.error = ""  # started again and synced: it runs
        if self.on_sync:
            self.on_sync(report)

    def status(self) -> dict:
        """The `WatchStatus` JSON."""
        with self._lock:
            return {"watching": True, "folders": list(self.folders), "running": self.running,
                    "syncs": self.syncs, "last_sync": self._last, "error": self.error,
                    "restarts": self.restarts}


def _reason(e: Exception) -> str:
    """What stopped the watcher, for people: rag's own errors say what to do; others are named."""
    from ..errors import RagError

    text = str(e).strip()
    return text if isinstance(e, RagError) and text else f"{e.__class__.__name__}: {text}" if text else e.__class__.__name__


NOT_WATCHING = {"watching": False, "folders": [], "running": False, "syncs": 0, "last_sync": None, "error": "",
                "restarts": 0}
