"""Keep an index in step with folders: after a first full sync, every change the file system
reports (added, changed, deleted, renamed or moved files and folders, editors' save-by-rename,
bursts of thousands) is applied in batches, and the folders are rescanned in full every
`rescan_s` seconds as a safety net for events a file system drops (network mounts, overflowed
inotify queues) and for changes made while no watcher ran.

A rename or move costs no embedding: the file's content hash matches the document that is gone,
which is re-keyed (`Ingester.ingest_files(gone=...)`, `Store.move`). After each sync the index
holds what a fresh `rag ingest` of the folders would: the same documents, the same chunk ids.

It uses watchfiles (inotify on Linux, FSEvents on macOS, polling elsewhere). It does not read,
chunk or embed files itself: the `Ingester` does.

    stop = threading.Event()
    watch_paths(ingester, ["docs/"], stop, on_sync=print)   # returns once stop is set
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .types import IngestReport

log = logging.getLogger(__name__)

# watchfiles yields a batch once the folders have been quiet for _STEP_MS, or after _DEBOUNCE_MS of
# continuous changes (a burst is then applied in parts as it goes). 300 ms of quiet lets a file
# being written settle; the rest of the 2 s budget from settled file to answerable is the sync.
_STEP_MS = 300
_DEBOUNCE_MS = 1200
# Files parsed (outside the ingest lock) and then written per part of a sync; bounds what is held.
_PARSE_AHEAD = 64
# When nothing changes, the loop wakes this often to see whether a rescan is due: a time check only.
_IDLE_WAKE_MS = 500


def watch_paths(ingester, paths: Iterable[str | Path], stop_event, *, rescan_s: float = 60.0,
                follow_symlinks: bool = False, ignore: Iterable[str | Path] = (),
                on_sync: Callable[[IngestReport], None] | None = None) -> None:
    """Sync the index with `paths` (folders or files), then keep it in step until `stop_event`
    (a threading.Event) is set. `on_sync(report)` is called after every sync that changed
    something or failed on a file, and after the first one. Paths under `ignore` (the index
    folder, when it lies inside a watched folder) are never read."""
    import watchfiles

    roots = [Path(p).expanduser().absolute() for p in paths]
    ignored = [Path(p).expanduser().absolute() for p in ignore]
    watcher = _Sync(ingester, roots, ignored, follow_symlinks)
    last_full = None
    # The first sync runs once the file-system watch is set up (its first yield), so nothing
    # changed while it starts or while the first sync runs is missed: those are events, buffered.
    for changes in watchfiles.watch(*roots, watch_filter=lambda change, path: not watcher.ignored(Path(path)),
                                    debounce=_DEBOUNCE_MS, step=_STEP_MS, stop_event=stop_event,
                                    rust_timeout=_IDLE_WAKE_MS, yield_on_timeout=True, raise_interrupt=False):
        if stop_event.is_set():
            break
        if last_full is None:
            report = watcher.full()
            last_full = time.monotonic()
            if on_sync:
                on_sync(report)
            continue
        report = None
        if changes:
            report = watcher.changed({Path(path) for _, path in changes})
        if time.monotonic() - last_full >= rescan_s:
            full = watcher.full()
            last_full = time.monotonic()
            report = full if report is None else _merged(report, full)
        if report is not None and on_sync and _eventful(report):
            on_sync(report)


class _Sync:
    def __init__(self, ingester, roots: list[Path], ignored: list[Path], follow_symlinks: bool):
        self.ingester = ingester
        self.roots = roots
        self.real_roots = [r.resolve() for r in roots]
        self.ignored_dirs = ignored + [p.resolve() for p in ignored]
        self.follow_symlinks = follow_symlinks
        # (size, mtime) of each file as last synced: a rescan reads only files whose stat changed
        self.synced: dict[str, tuple[int, int]] = {}
        self.reported: set = set()  # problems found while listing (a link out of the folder): said once

    def ignored(self, path: Path) -> bool:
        """Index folders, and hidden files and folders inside a watched folder (as `rag ingest`)."""
        if any(path == d or d in path.parents for d in self.ignored_dirs):
            return True
        for root in self.roots + self.real_roots:
            if path == root or root in path.parents:
                return any(part.startswith(".") for part in path.relative_to(root).parts)
        return False

    def _watched(self, source: str) -> bool:
        path = Path(source)
        return any(path == r or r in path.parents for r in self.real_roots + self.roots) and not self.ignored(path)

    def full(self) -> IngestReport:
        """Everything under the roots: what a fresh ingest would index; indexed files under them
        that are gone are re-keyed (moved) or removed."""
        from .loaders import discover

        started = time.monotonic()
        files, errors = discover(self.roots, follow_symlinks=self.follow_symlinks)
        files = [f for f in files if not self.ignored(f)]
        present = {str(f) for f in files}
        gone = [s for s in self.ingester.store.hashes() if self._watched(s) and s not in present]
        stale = [f for f in files if self.synced.get(str(f)) != _stat(f)]
        errors = self._new(errors)
        if not (stale or gone or errors):
            return IngestReport()
        report = self._ingest(stale, errors, gone)
        log.debug("full sync of %d files (%d read) in %.1f s", len(files), len(stale), time.monotonic() - started)
        return report

    def _ingest(self, files: list[Path], errors, gone: list[str]) -> IngestReport:
        before = {str(f): _stat(f) for f in files}
        # Files are parsed before the ingest lock is taken, _PARSE_AHEAD at a time (what is held
        # in memory at once): an upload to `rag serve --watch` waits for the lock under the
        # server's answering lock, so it must not wait out a slow parse. `gone` goes with the
        # last part: a file of an earlier part that is a gone one moved is embedded afresh.
        parts = [files[i:i + _PARSE_AHEAD] for i in range(0, len(files), _PARSE_AHEAD)] or [[]]
        report = IngestReport()
        for n, part in enumerate(parts):
            last = n == len(parts) - 1
            done = self.ingester.ingest_files(part, errors=errors if n == 0 else [], gone=gone if last else [],
                                              drop_failed=True, parsed=self.ingester.parse_changed(part))
            report = _merged(report, done)
        for source in report.removed + report.moved_from:
            self.synced.pop(source, None)
        # The stat taken before reading: a write since shows as a change. A file that failed is
        # kept too, so an unreadable file is not read and reported again until it changes.
        self.synced.update(before)
        return report

    def _new(self, errors):
        new = [e for e in errors if e not in self.reported]
        self.reported.update(new)
        return new

    def changed(self, paths: set[Path]) -> IngestReport:
        """Apply what changed at these paths (files or folders, present or gone)."""
        from .loaders import discover

        started = time.monotonic()
        existing = [p for p in paths if p.exists() and not self.ignored(p)]
        files, errors = discover(existing, follow_symlinks=self.follow_symlinks) if existing else ([], [])
        named = {p.resolve() for p in existing if p.is_file()}
        # a file the event names is read; the files of a folder that appeared only if not seen as they are
        files = [f for f in files if not self.ignored(f) and (f in named or self.synced.get(str(f)) != _stat(f))]
        errors = self._new(errors)
        missing = [p for p in paths if not p.exists()]
        gone: list[str] = []
        arrived = [f for f in files if str(f) not in self.synced]
        if missing or arrived:
            # A file that is gone goes with this batch when an event names it, and also when new
            # files arrive: a move can reach us as the new name first ("sub/" appeared, holding the
            # file) and the old name's deletion in the next batch, and the new name must find the
            # old one gone to be re-keyed rather than embedded again.
            present = {str(f) for f in files}
            missing += [m.resolve() for m in missing]
            for source in self.ingester.store.hashes():
                path = Path(source)
                if (source not in present and not path.exists() and self._watched(source)
                        and (arrived or any(path == m or m in path.parents for m in missing))):
                    gone.append(source)
        # discover() reports links leading out of a folder when given the folder; a file named on
        # its own is read even through a link, so links are judged here against the roots
        files = [f for f in files if self.follow_symlinks or self._watched(str(f))]
        report = self._ingest(files, errors, gone)
        log.debug("%d changed paths synced in %.2f s", len(paths), time.monotonic() - started)
        return report


def _stat(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_size, st.st_mtime_ns


def _eventful(report: IngestReport) -> bool:
    return bool(report.added or report.updated or report.removed or report.moved or report.failed or report.skipped)


def _merged(a: IngestReport, b: IngestReport) -> IngestReport:
    return IngestReport(added=a.added + b.added, updated=a.updated + b.updated,
                        unchanged=a.unchanged + b.unchanged, removed=a.removed + b.removed,
                        failed=a.failed + b.failed, chunks_embedded=a.chunks_embedded + b.chunks_embedded,
                        moved=a.moved + b.moved, moved_from=a.moved_from + b.moved_from,
                        notices=a.notices + b.notices, skipped=a.skipped + b.skipped)
