"""`rag serve --watch`: the watcher thread that keeps the index in step with folders while the
server runs, and what the page shows of it (`GET /api/watch`): the folders, whether it runs, and
the last sync. The syncing itself is `Assistant.watch` (rag/watch.py).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from ..config import Settings
from ..types import IngestReport

log = logging.getLogger(__name__)


class Watching:
    """The folders one server keeps in step, on a thread of its own with an Assistant of its own
    (the server's answers its questions meanwhile; the ingest lock keeps the two from writing at once).

        watching = Watching(["docs/"], settings, on_sync=print)
        watching.start(); ...; watching.status()   # {"folders": [...], "running": True, "last_sync": {...}}
        watching.stop()

    Args:
        paths: the folders (or files) to keep in step.
        on_sync: also called with each sync's report (`rag serve` prints a line).
        on_stop: called with the error's message when watching stops on an error.
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
        return self._thread is not None and self._thread.is_alive() and not self._stop.is_set()

    def _run(self) -> None:
        from ..assistant import Assistant
        from ..errors import RagError

        try:
            Assistant(settings=self.settings).watch(self.folders, self._stop, on_sync=self._synced)
        except RagError as e:
            self.error = str(e)
            if self.on_stop:
                self.on_stop(self.error)
            else:
                log.warning("watching stopped: %s", e)

    def _synced(self, report: IngestReport) -> None:
        last = {"at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
                "indexed": len(report.added) + len(report.updated) + len(report.moved),
                "removed": len(report.removed), "failed": len(report.failed)}
        with self._lock:
            self._last = last
            self.syncs += 1
        if self.on_sync:
            self.on_sync(report)

    def status(self) -> dict:
        """The `WatchStatus` JSON."""
        with self._lock:
            return {"watching": True, "folders": list(self.folders), "running": self.running,
                    "syncs": self.syncs, "last_sync": self._last, "error": self.error}


NOT_WATCHING = {"watching": False, "folders": [], "running": False, "syncs": 0, "last_sync": None, "error": ""}
