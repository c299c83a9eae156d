"""Keep an index in step with folders: after a first full sync, every change the file system
reports (added, changed, deleted, renamed or moved files and folders, editors' save-by-rename,
bursts of thousands) is applied in batches, and the folders are rescanned in full every
`rescan_s` seconds as a safety net for events a file system drops (network mounts, overflowed
inotify queues) and for changes made while no watcher ran.

A rename or move costs no embedding: the file's content hash matches the document that is gone,
which is re-keyed (`Ingester.ingest_files(gone=...)`, `Store.move`); a renamed folder's files too,
however many. After each sync the index holds what a fresh `rag ingest` of the folders would: the
same documents, the same chunk ids.

What the file system holds never stops it: symlink loops, folders it may not read, files replaced
by folders (and back), pipes, sockets and devices are skipped and reported with the reason, once.
Each real folder under the roots is watched on its own (not recursively), listed by
`loaders.discover`, which resolves a link before descending: a link leading out of the folders (to
/, say) is reported, never walked or watched. When folders appear the watch is set up again over
the new set, followed by a full (stat-only) sync for what changed meanwhile.

A file that keeps changing (a log being written) is re-indexed at most once per `_BUSY_FACTOR`
times what its last re-indexing took (its share of that sync, by size), so it cannot keep a
core busy; one edit after another minutes apart is applied at once each time.

It uses watchfiles (inotify on Linux, FSEvents on macOS, polling elsewhere). It does not read,
chunk or embed files itself: the `Ingester` does.

    stop = threading.Event()
    watch_paths(ingester, ["docs/"], stop, on_sync=print)   # returns once stop is set
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from .errors import IngestError
from .types import FileError, IngestReport

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
# A file changed again within this many times what its last re-indexing took waits until then: a
# file appended to every second (issue 19: ~80 s of CPU a minute re-embedding a growing log) then
# costs at most 1/(1 + _BUSY_FACTOR) of the time, while a file saved now and then is indexed at once.
_BUSY_FACTOR = 4
_BUSY_MAX_S = 30.0
# Setting up the watch can fail for a moment (a folder removed between listing and watching):
# tried again this many times, waiting longer each time, before watching stops with the reason.
_SETUP_TRIES = 6


def watch_paths(ingester, paths: Iterable[str | Path], stop_event, *, rescan_s: float = 60.0,
                follow_symlinks: bool = False, ignore: Iterable[str | Path] = (),
                on_sync: Callable[[IngestReport], None] | None = None) -> None:
    """Sync the index with `paths` (folders or files), then keep it in step until `stop_event`
    (a threading.Event) is set. `on_sync(report)` is called after every sync that changed
    something or failed on a file, and after the first one. Paths under `ignore` (the index
    folder, when it lies inside a watched folder) are never read.

    Raises:
        IngestError: the folders cannot be watched (the OS limit on watches is reached, say).
        StoreError: the index cannot be written.
    """
    from .loaders import parser_lane

    # a parser process of the watcher's own: uploads to `rag serve --watch` never wait behind
    # the folder's backlog, nor the folder behind uploads
    with parser_lane("watch"):
        _watch(ingester, paths, stop_event, rescan_s, follow_symlinks, ignore, on_sync)


def _watch(ingester, paths, stop_event, rescan_s, follow_symlinks, ignore, on_sync) -> None:
    import watchfiles

    roots = [Path(p).expanduser().absolute() for p in paths]
    ignored = [Path(p).expanduser().absolute() for p in ignore]
    watcher = _Sync(ingester, roots, ignored, follow_symlinks)
    watcher.list_folders()
    first, failures, last_full = True, 0, 0.0
    while not stop_event.is_set():
        targets, watched = watcher.targets(), watcher.watch_set()
        watcher.lost.clear()  # the watch about to be set up covers every folder there is now
        if not targets:  # every root is gone (a folder deleted, an unmounted disk): look again now and then
            report = watcher.full()
            if on_sync and (first or _eventful(report)):
                on_sync(report)
            first = False
            if not watcher.targets():
                stop_event.wait(min(rescan_s, 5.0))
            continue
        # The watch is set up on the generator's first step; the full sync that follows it finds
        # what changed before (at start, or while the watch was set up again): nothing is missed.
        changes_seen = watchfiles.watch(
            *targets, watch_filter=lambda change, path: not watcher.ignored(Path(path)), recursive=False,
            debounce=_DEBOUNCE_MS, step=_STEP_MS, stop_event=stop_event, rust_timeout=_IDLE_WAKE_MS,
            yield_on_timeout=True, raise_interrupt=False, ignore_permission_denied=True)
        synced = False
        try:
            while True:
                try:
                    changes = next(changes_seen)
                except StopIteration:
                    return
                except (OSError, RuntimeError) as e:  # FileNotFoundError, WatchfilesRustInternalError
                    failures += 1
                    if failures >= _SETUP_TRIES:
                        raise IngestError(f"cannot watch {', '.join(map(str, roots))}: {e} (on Linux, "
                                          "raise fs.inotify.max_user_watches if the limit is reached)") from e
                    log.warning("setting up the watch again after: %s", e)
                    stop_event.wait(0.2 * 2 ** failures)
                    watcher.list_folders()
                    break
                if stop_event.is_set():
                    return
                if not synced:
                    report = watcher.full()
                    last_full, synced, failures = time.monotonic(), True, 0
                    if on_sync and (first or _eventful(report)):
                        on_sync(report)
                    first = False
                else:
                    report = watcher.changed({Path(path) for _, path in changes}) if changes else None
                    due = watcher.due()
                    if due:
                        report = _merged(report or IngestReport(), watcher.changed(due))
                    if time.monotonic() - last_full >= rescan_s:
                        full = watcher.full()
                        last_full = time.monotonic()
                        report = full if report is None else _merged(report, full)
                    if report is not None and on_sync and _eventful(report):
                        on_sync(report)
                if watcher.renewed or not watcher.watch_set() <= watched:
                    watcher.renewed = False
                    break  # folders appeared, or one was made anew where one was: watch the new set
        finally:
            changes_seen.close()


class _Sync:
    def __init__(self, ingester, roots: list[Path], ignored: list[Path], follow_symlinks: bool):
        self.ingester = ingester
        self.roots = roots
        self.real_roots = [Path(os.path.realpath(r)) for r in roots]
        self.ignored_dirs = ignored + [Path(os.path.realpath(p)) for p in ignored]
        self.follow_symlinks = follow_symlinks
        # (size, mtime) of each file as last synced: a rescan reads only files whose stat changed
        self.synced: dict[str, tuple[int, int]] = {}
        self.reported: set = set()  # problems found while listing (a link out of the folder): said once
        # the real folders watched (each on its own, not recursively), with their (device, inode): a
        # folder deleted and made again under the same name needs a watch of its own
        self.folders: dict[str, tuple[int, int]] = {}
        # watched folders since removed: one listed again under that name is a new folder (its
        # inode number may well be the old one's), whose watch went with the old (`renewed`)
        self.lost: set[str] = set()
        self.renewed = False
        # a file that keeps changing: when it may be indexed again, and the changes held till then
        self.not_before: dict[str, float] = {}
        self.held: set[Path] = set()

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

    def targets(self) -> list[str]:
        """What to hand the OS's watch: every real folder listed, and the roots that are files."""
        files = [str(r) for r in self.roots if os.path.isfile(r)]
        return sorted(self.folders) + files

    def watch_set(self) -> set[tuple[str, tuple[int, int]]]:
        """The targets with their identities: when it is no longer within what a watch was set up
        on, the watch is set up again (a folder appeared; a root file was replaced by a rename)."""
        files = {(str(r), _identity(r)) for r in self.roots if os.path.isfile(r)}
        return set(self.folders.items()) | files

    def _discover(self, paths, **kw):
        from .loaders import discover

        found: set[str] = set()
        files, errors = discover(paths, follow_symlinks=self.follow_symlinks, folders=found, **kw)
        for folder in found:
            if not self.ignored(Path(folder)):
                self.folders[folder] = _identity(folder)
                if folder in self.lost:
                    self.lost.discard(folder)
                    self.renewed = True
        return files, errors

    def list_folders(self) -> None:
        """List the folders under the roots afresh (what the watch is set up on)."""
        self.folders = {}
        self._discover(self.roots)

    def full(self) -> IngestReport:
        """Everything under the roots: what a fresh ingest would index; indexed files under them
        that are gone are re-keyed (moved) or removed."""
        started = time.monotonic()
        before, self.folders = self.folders, {}
        files, errors = self._discover(self.roots)
        self.lost |= set(before) - set(self.folders)
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
        started = time.monotonic()
        before = {str(f): _stat(f) for f in files}
        # Files are parsed before the ingest lock is taken, _PARSE_AHEAD at a time (what is held
        # in memory at once): an upload to `rag serve --watch` waits for the lock under the
        # server's answering lock, so it must not wait out a slow parse. A gone document goes
        # with the part holding a file of its content (then re-keyed, not embedded), and those
        # left with the last part (then removed).
        parts = [files[i:i + _PARSE_AHEAD] for i in range(0, len(files), _PARSE_AHEAD)] or [[]]
        hashes = self.ingester.store.hashes() if gone and len(parts) > 1 else {}
        left = list(gone)
        report = IngestReport()
        for n, part in enumerate(parts):
            parsed = self.ingester.parse_changed(part)
            if n == len(parts) - 1:
                here = left
            else:
                held = {done[0].content_hash for done in parsed.values() if not isinstance(done, FileError)}
                here = [g for g in left if hashes.get(g) in held]
            left = [g for g in left if g not in here]
            done = self.ingester.ingest_files(part, errors=errors if n == 0 else [], gone=here,
                                              drop_failed=True, parsed=parsed)
            report = _merged(report, done)
        for source in report.removed + report.moved_from:
            self.synced.pop(source, None)
        # The stat taken before reading: a write since shows as a change. A file that failed is
        # kept too, so an unreadable file is not read and reported again until it changes.
        self.synced.update(before)
        # A file re-indexed (not a new one: the first sync, with the model's loading, and a burst
        # would hold them all) may be indexed again only after _BUSY_FACTOR times its share of
        # what this sync took, by size.
        now = time.monotonic()
        took = now - started
        total = sum(st[0] for st in before.values() if st) or 1
        for source in report.updated:
            share = took * max((before.get(source) or (1, 0))[0], 1) / total
            self.not_before[source] = now + min(_BUSY_FACTOR * share, _BUSY_MAX_S)
        return report

    def _new(self, errors):
        new = [e for e in errors if e not in self.reported]
        self.reported.update(new)
        return new

    def due(self) -> set[Path]:
        """The held changes whose time has come."""
        now = time.monotonic()
        due = {p for p in self.held if self.not_before.get(str(p), 0) <= now}
        self.held -= due
        return due

    def _hold_busy(self, paths: set[Path]) -> set[Path]:
        """`paths` less the files indexed too recently to be indexed again now (held for later)."""
        now = time.monotonic()
        busy = {p for p in paths if self.not_before.get(str(p), 0) > now and os.path.isfile(p)}
        self.held |= busy
        return paths - busy

    def changed(self, paths: set[Path]) -> IngestReport:
        """Apply what changed at these paths (files or folders, present or gone). Nothing the
        file system holds at them raises: each problem is reported with its reason."""
        started = time.monotonic()
        paths = self._hold_busy({p for p in paths if not self.ignored(p)})
        # a path that is there (a link loop and a broken link too: discover reports them)
        existing = [p for p in paths if os.path.lexists(p)]
        files, errors = self._discover(existing, within=self.real_roots) if existing else ([], [])
        named = {Path(os.path.realpath(p)) for p in existing if os.path.isfile(p)}
        # a file the event names is read; the files of a folder that appeared only if not seen as they are
        files = [f for f in files if not self.ignored(f) and (f in named or self.synced.get(str(f)) != _stat(f))]
        errors = self._new(errors)
        gone: list[str] = []
        arrived = [f for f in files if str(f) not in self.synced]
        replaced = [p for p in paths if not os.path.isfile(p)]  # gone, or now a folder, a pipe...
        if replaced or arrived:
            # An indexed file that is no longer a regular file goes with this batch when an event
            # names it or a folder above it (a folder put in a file's place, and back), and also
            # when new files arrive: a move can reach us as the new name first ("sub/" appeared,
            # holding the file) and the old name's deletion in the next batch, and the new name
            # must find the old one gone to be re-keyed rather than embedded again.
            present = {str(f) for f in files}
            named_paths = list(paths) + [Path(os.path.realpath(p)) for p in paths]
            for source in self.ingester.store.hashes():
                path = Path(source)
                if (source not in present and self._watched(source) and not os.path.isfile(source)
                        and (arrived or any(path == m or m in path.parents for m in named_paths))):
                    gone.append(source)
            for folder in [f for f in self.folders if not os.path.isdir(f)]:
                del self.folders[folder]
                self.lost.add(folder)
        # the files are judged against the roots (discover's `within`): none comes through a
        # link leading out of them
        report = self._ingest(files, errors, gone)
        log.debug("%d changed paths synced in %.2f s", len(paths), time.monotonic() - started)
        return report


def _identity(path) -> tuple[int, int]:
    """(device, inode), or (0, 0) for what cannot be stat'ed now."""
    try:
        st = os.stat(path)
    except OSError:
        return 0, 0
    return st.st_dev, st.st_ino


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
