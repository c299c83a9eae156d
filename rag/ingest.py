"""paths -> stored chunks: find the files, read and chunk them in a worker thread, embed the chunks
of several files at once and write them to the store, and report per file what happened.

It owns the write side of a local index: the ingest lock (one writer at a time; readers never
wait) and the dirty marker (a crash mid-write is repaired on the next open). It does not parse
formats (`loaders`), cut text (`chunking`), embed (`embeddings`) or answer anything.

    ingester = Ingester(store, embedder, index_dir=Path("index"), shared=False, chunk_size=800,
                        chunk_overlap=150, max_bytes=50_000_000, batch_chunks=512)
    report = ingester.ingest(["docs/"])
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .errors import NotText, StoreError
from .faults import reached
from .types import Chunk, Document, FileError, IngestReport, ParseLimits

log = logging.getLogger(__name__)

Progress = Callable[[str, int, int], None]
"""Called as progress(file being processed, files done, files total). A callback that also takes
a `chunks` keyword argument is given the number of chunks embedded so far."""


class Ingester:
    """Writes files into one index. `shared`: the index is on a Chroma server, which serialises
    writes itself (no local lock or marker)."""

    def __init__(self, store, embedder, *, index_dir: Path, shared: bool, chunk_size: int, chunk_overlap: int,
                 max_bytes: int, batch_chunks: int, limits: ParseLimits | None = None):
        self.store = store
        self.embedder = embedder
        self.index_dir = Path(index_dir)
        self.shared = shared
        self.chunk_size = chunk_size
        self.chunk_overlap = chunk_overlap
        self.max_bytes = max_bytes
        self.batch_chunks = batch_chunks
        self.limits = replace(limits or ParseLimits(), max_bytes=max_bytes)

    def ingest(self, paths: list[str | Path], *, prune: bool = False, progress: Progress | None = None,
               follow_symlinks: bool = False) -> IngestReport:
        """Index files and folders (see `Assistant.ingest`).

        Files are read and chunked in a worker thread while the model embeds the previous ones,
        and the chunks of several files go to the model and to the store together (every
        `batch_chunks` chunks), so small files do not each pay a round trip."""
        from .loaders import discover

        files, errors = discover(paths, follow_symlinks=follow_symlinks)
        return self.ingest_files(files, errors=errors, prune=prune, progress=progress)

    def parse_changed(self, files: list[Path]) -> dict[str, Parsed]:
        """Read and chunk, without taking the ingest lock, the files whose content is not what
        the index holds (see `parse_files`), for `ingest_files(files, parsed=...)`: `rag watch`
        does so, so that a slow file holds no lock that an upload (and through it the server's
        answering) would wait for. Unchanged and unreadable files are left to `ingest_files`."""
        from .loaders import content_hash

        known = self.store.hashes()
        todo = []
        for path in files:
            try:
                if (str(path) in known and path.stat().st_size <= self.max_bytes
                        and known[str(path)] == content_hash(path.read_bytes())):
                    continue
            except OSError:
                continue
            todo.append(path)
        return parse_files(todo, self.limits, self.chunk_size, self.chunk_overlap)

    def ingest_files(self, files: list[Path], *, errors: list[FileError] = (), prune: bool = False,
                     progress: Progress | None = None, gone: list[str] = (), drop_failed: bool = False,
                     parsed: dict[str, Parsed] | None = None) -> IngestReport:
        """Index these files (already discovered): new and changed ones are embedded and written,
        unchanged ones (same content hash) cost nothing, unreadable ones are reported after
        `errors` (those met while discovering them). `prune`: also drop indexed files that no
        longer exist.

        `gone`: indexed sources whose files are gone (`rag watch`). A file among `files` holding
        the content of one of them is that file renamed or moved: it is re-keyed with the stored
        vectors (`Store.move`), nothing embedded; the others are removed. `drop_failed`: an
        indexed file that can no longer be read is removed too, so the index holds what a fresh
        ingest would.

        `parsed`: what `parse_files` made of some of the files beforehand (outside any lock);
        those are not read again."""
        from .loaders import content_hash

        report = IngestReport(failed=list(errors))
        max_bytes = self.max_bytes
        notify = _progress_notifier(progress)
        store = self.store
        with self.lock(wait=True), self.dirty():
            known = store.hashes()
            gone = [g for g in dict.fromkeys(gone) if g in known]
            moved_from = {known[g]: g for g in gone}  # content hash -> the gone source that held it

            def prepare(path: Path):
                """-> (source, Document | None, chunks | FileError | None); None: unchanged."""
                source = str(path)
                if parsed is not None and source in parsed:
                    done = parsed[source]
                    if isinstance(done, FileError):
                        return source, None, done
                    doc, chunks = done
                    return (source, None, None) if known.get(source) == doc.content_hash else (source, doc, chunks)
                try:
                    # Only a file already indexed is hashed first: the others (a folder's photos
                    # and archives among them) are sniffed by load() without being read whole.
                    if (source in known and path.stat().st_size <= max_bytes
                            and known[source] == content_hash(path.read_bytes())):
                        return source, None, None
                except OSError as e:
                    return source, None, FileError(source, f"cannot read file: {e.strerror or e}")
                result = _parse_one(path, path, self.limits, self.chunk_size, self.chunk_overlap)
                return (source, None, result) if isinstance(result, FileError) else (source, *result)

            def move(doc, chunks) -> bool:
                """Re-key a gone document whose content this one is, if any."""
                old = moved_from.get(doc.content_hash)
                if old is None or old == doc.source or not store.move(old, doc, chunks):
                    return False
                del moved_from[doc.content_hash]
                report.moved.append(doc.source)
                report.moved_from.append(old)
                report.notices.extend(FileError(doc.source, n) for n in doc.notices)
                return True

            pending: list[tuple] = []
            settled = 0  # files written, skipped or failed: what progress and its time left count

            def flush() -> None:
                nonlocal settled
                settled += len(pending)
                for doc, chunks, error in self._embed_and_store(pending, known):
                    if error is not None:
                        report.failed.append(FileError(doc.source, error))
                    else:
                        report.chunks_embedded += len(chunks)
                        report.notices.extend(FileError(doc.source, n) for n in doc.notices)
                        (report.updated if doc.source in known else report.added).append(doc.source)
                pending.clear()

            for source, doc, result in _prefetch(prepare, files):
                notify(source, settled, len(files), report.chunks_embedded)
                if isinstance(result, FileError):
                    (report.skipped if result.skipped else report.failed).append(result)
                    settled += 1
                elif doc is None:
                    report.unchanged.append(source)
                    settled += 1
                elif move(doc, result):
                    settled += 1
                else:
                    pending.append((doc, result))
                    if sum(len(c) for _, c in pending) >= self.batch_chunks:
                        flush()
            flush()
            notify("", len(files), len(files), report.chunks_embedded)
            moved = set(report.moved_from)
            drop = [g for g in gone if g not in moved]
            if drop_failed:
                drop += [f.path for f in report.failed + report.skipped if f.path in known and f.path not in moved]
            if prune:
                drop += [source for source in known if not os.path.exists(source)]  # never raises
            for source in dict.fromkeys(drop):
                if store.remove(source):
                    report.removed.append(source)
            if report.added or report.updated or report.removed or report.moved:
                store.lexical(force_check=True)  # rebuild once now, not on the next question
        return report

    def _embed_and_store(self, items: list[tuple], known: dict[str, str]):
        """Embed and write several (Document, chunks) at once. Yields (doc, chunks, error | None);
        when the batch write fails, each document is retried alone so one bad file fails alone."""
        if not items:
            return
        try:
            vectors = self.embedder.encode([c.text for _, chunks in items for c in chunks])
            reached("ingest.embedded")
            self.store.put_many(items, vectors, replaced={d.source for d, _ in items if d.source in known})
            for doc, chunks in items:
                yield doc, chunks, None
            return
        except StoreError:
            raise  # the index cannot be written: no point trying the other files
        except Exception as e:
            if len(items) == 1:
                yield items[0][0], items[0][1], str(e) or e.__class__.__name__
                return
        for item in items:
            yield from self._embed_and_store([item], known)

    def remove(self, source: str) -> bool:
        """Remove one document (by its source) from the index. Returns False if it was not indexed."""
        with self.lock(wait=True), self.dirty():  # a crash between record and chunks is repaired
            removed = self.store.remove(source)
            if removed:
                self.store.lexical(force_check=True)
        return removed

    # ---- the write side of a local index -----------------------------------------------------
    @contextlib.contextmanager
    def dirty(self):
        """Mark the index as being written, so a crash is repaired on the next open."""
        marker = dirty_marker(self.index_dir)
        if marker.exists():  # we hold the ingest lock, so a writer that crashed left it (maybe
            self.store.repair()  # after this long-lived process opened the store): clean up first
        try:
            marker.parent.mkdir(parents=True, exist_ok=True)
            marker.write_text(str(os.getpid()))
        except OSError as e:
            raise StoreError(f"cannot write to the index folder {marker.parent}: {e.strerror}. "
                             "Check that it is writable and the disk is not full.") from e
        yield
        marker.unlink(missing_ok=True)

    def lock(self, wait: bool):
        return ingest_lock(self.index_dir, self.shared, wait)


Parsed = tuple[Document, list[Chunk]] | FileError
"""What reading one file gave: its Document and chunks, or why it cannot be indexed."""


def parse_files(files: list[Path], limits: ParseLimits, chunk_size: int, chunk_overlap: int,
                read_from: dict[Path, Path] | None = None, deadline_s: float | None = None) -> dict[str, Parsed]:
    """Read and chunk files (`limits`: see `ParseLimits`; every format with a reader of its own in
    a parser process that is killed at the time limit). Touches no index, so it runs outside every lock: the
    server parses uploads while it keeps answering. `read_from`: for a file whose bytes are
    elsewhere for now (an upload under its temporary name), where to read them. `deadline_s`: how
    long all of them may take (waiting for the parser included); each file's time limit is what
    is left of it, and a file reached after it is reported unread.

    Returns {source: (Document, chunks) or FileError}, in the order of `files`."""
    import time

    read_from = read_from or {}
    end = None if deadline_s is None else time.monotonic() + deadline_s
    out: dict[str, Parsed] = {}
    for f in files:
        if end is None:
            out[str(f)] = _parse_one(read_from.get(f, f), f, limits, chunk_size, chunk_overlap)
            continue
        left = end - time.monotonic()
        if left <= 0:
            out[str(f)] = FileError(str(f), f"not parsed: the files of this request took their {deadline_s:g} s "
                                            "(RAG_UPLOAD_PARSE_S); send it again, or in smaller parts")
            continue
        timed = replace(limits, timeout_s=min(left, limits.timeout_s or left))
        out[str(f)] = _parse_one(read_from.get(f, f), f, timed, chunk_size, chunk_overlap)
    return out


def _parse_one(path: Path, name: Path, limits: ParseLimits, chunk_size: int, chunk_overlap: int):
    from .chunking import chunk_document
    from .loaders import load

    try:
        doc = load(path, limits=limits, as_name=name)
        doc = replace(doc, suspicious=instruction_phrase(doc.text))
        return doc, chunk_document(doc, chunk_size, chunk_overlap)
    except OSError as e:
        return FileError(str(name), f"cannot read file: {e.strerror or e}")
    except NotText as e:  # a photo or an archive in the folder: skipped, not failed
        return FileError(str(name), str(e), skipped=True)
    except Exception as e:  # IngestError and parser failures: report, go on
        return FileError(str(name), str(e) or e.__class__.__name__)


def instruction_phrase(text: str) -> str:
    """Why a document's text looks written to steer an assistant (rag.suspicious.INSTRUCTION:
    an instruction addressed to an assistant or a model, such as "ignore previous instructions" or
    "reveal the system prompt"; not ordinary prose such as "they say that..."): the first such
    phrase and where it is, or "" for ordinary text. `rag sources` and /api/documents show it;
    the reader never quotes such a sentence as an answer on its own."""
    from .suspicious import INSTRUCTION

    m = INSTRUCTION.search(text)
    if m is None:
        return ""
    return f'text phrased as instructions to an assistant: "{m.group()}" (at character {m.start()})'


def dirty_marker(index_dir: Path) -> Path:
    return Path(index_dir) / ".ingest-in-progress"


def repair_if_crashed(store, index_dir: Path, shared: bool) -> None:
    """On opening an index: if a writer crashed mid-write (its marker is left and nobody holds the
    lock), delete what it half-wrote. A running writer cleans up itself."""
    if dirty_marker(index_dir).exists():
        with ingest_lock(index_dir, shared, wait=False) as got:
            if got:
                store.repair()
                dirty_marker(index_dir).unlink(missing_ok=True)


@contextlib.contextmanager
def ingest_lock(index_dir: Path, shared: bool, wait: bool):
    """One writer per local index at a time; readers never wait. Yields whether it was taken
    (always, when `wait`)."""
    if shared:  # a Chroma server serialises writes itself
        yield True
        return
    path = Path(index_dir) / ".ingest.lock"
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
    except OSError as e:
        raise StoreError(f"cannot write to the index folder {path.parent}: {e.strerror}. "
                         "Check that it is writable and the disk is not full.") from e
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                yield False
                return
            log.warning("another ingest is writing to %s; waiting for it to finish...", path.parent)
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _progress_notifier(progress: Progress | None) -> Callable[[str, int, int, int], None]:
    """progress(file, done, total), plus chunks=... when the callback accepts it (older callbacks
    take three arguments and keep working)."""
    if progress is None:
        return lambda file, done, total, chunks: None
    import inspect

    try:
        params = inspect.signature(progress).parameters.values()
        takes_chunks = any(p.name == "chunks" or p.kind is p.VAR_KEYWORD for p in params)
    except (TypeError, ValueError):
        takes_chunks = False
    if takes_chunks:
        return lambda file, done, total, chunks: progress(file, done, total, chunks=chunks)
    return lambda file, done, total, chunks: progress(file, done, total)


def _prefetch(fn, items: list, ahead: int = 32):
    """fn(item) for each item, in order, computed by one worker thread up to `ahead` items early:
    parsing the next files overlaps with embedding the current ones (the model releases the GIL)."""
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="rag-ingest") as pool:
        queue: deque = deque()
        it = iter(items)
        for item in it:
            queue.append(pool.submit(fn, item))
            if len(queue) >= ahead:
                break
        while queue:
            result = queue.popleft().result()
            for item in it:
                queue.append(pool.submit(fn, item))
                break
            yield result
