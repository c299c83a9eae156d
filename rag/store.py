"""The index: Chroma (local folder or server) holding chunks and the document manifest, plus a
BM25 lexical index derived from the same chunks, kept in step.

Chroma is the single source of truth, so a Chroma server shared by many processes needs nothing
else: the `<name>_chunks` collection holds chunk text, vectors and offsets; `<name>_docs` holds one
record per document (its text, hash, title, chunk count, time indexed). A document record is
written only after its chunks, and old chunks are deleted only after it, so the record acts as the
commit marker: chunks whose hash does not match their document's record are leftovers of an
interrupted write and `repair()` removes them. The lexical index (`rag.lexical`) is a cache
rebuilt from Chroma whenever the manifest's fingerprint changes; it lives on local disk beside the index.

A local Chroma folder is not safe for several processes by itself (chromadb's PersistentClient is
made for one): a write rewrites the HNSW files in place, and every client, even one that only
searches, first applies the writes it has not seen to its own copy of them and may write that copy
back. A reader in another process that loaded the files halfway through a write crashed with
SIGSEGV, and one run ended with a 77 GB `link_lists.bin` (RELIABILITY.md, "A local index shared
by processes"). So every process and every Store goes through `FolderLock`
(`index/.chroma.lock`): one at a time in the folder, and a client older than another's last write
is reopened before it is used.
"""

from __future__ import annotations

import contextlib
import fcntl
import functools
import hashlib
import json
import logging
import os
import threading
import time
import uuid
import weakref
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from .config import Settings
from .errors import StoreError
from .faults import reached
from .lexical import LexicalIndex
from .text import tokenize
from .types import Chunk, Document, Page, Passage, SourceInfo

log = logging.getLogger(__name__)

_MAX_WRITE_CHARS = 16_000_000  # document texts per write: keeps one request to a Chroma server bounded
_STAMP_CHECK_S = 2.0  # how often a long-lived process looks for ingests made by other processes
# Opening a local Chroma folder swaps chromadb's per-process cache entry for it (see `_connect`):
# two threads doing so at once (`rag serve --watch`: the server's and the watcher's stores) broke
# one client ("'RustBindingsAPI' object has no attribute 'bindings'"). One opening at a time.
_CONNECT_LOCK = threading.Lock()
_TOKEN_BYTES = 32  # the lock file holds a token (uuid4 hex) that every write changes


class FolderLock:
    """Who may use a local Chroma folder now: one holder at a time across processes (`flock` on
    `index/.chroma.lock`) and threads (`thread_lock`). Reads take it too, not a shared lock: a
    client that only searches also writes the vector index files (see the module docstring).
    A writer changes the token in the file, so the next holder can tell whether its client is
    older than the last write. Nested holds in one thread are free.

        lock = FolderLock(Path("index"))
        with lock.hold():
            ...  # open the folder with chromadb, use it, drop the client
    """

    def __init__(self, index_dir: Path, thread_lock: threading.RLock | None = None):
        self.path = Path(index_dir) / ".chroma.lock"
        self._thread_lock = thread_lock or threading.RLock()
        self._fd: int | None = None
        self._pid = 0
        self._depth = 0

    def _file(self) -> int | None:
        if self._fd is None or self._pid != os.getpid():  # a forked child takes its own lock
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError:
                try:
                    fd = os.open(self.path, os.O_RDONLY)  # a read-only folder: locking needs no write
                except OSError:
                    return None  # read-only and never locked: no process can write to it either
            self._fd, self._pid = fd, os.getpid()
            weakref.finalize(self, os.close, fd)
        return self._fd

    @contextlib.contextmanager
    def hold(self):
        with self._thread_lock:
            if self._depth:
                self._depth += 1
                try:
                    yield
                finally:
                    self._depth -= 1
                return
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
            self._depth = 1
            try:
                yield
            finally:
                self._depth = 0
                if fd is not None:
                    fcntl.flock(fd, fcntl.LOCK_UN)

    def token(self) -> bytes:
        """The token of the last write (b"" before the first). Read while holding the lock."""
        fd = self._file()
        return b"" if fd is None else os.pread(fd, _TOKEN_BYTES, 0)

    def new_token(self) -> bytes:
        """Record a write (while holding the lock). Returns the new token."""
        token = uuid.uuid4().hex.encode()
        fd = self._file()
        if fd is not None:
            os.pwrite(fd, token, 0)
        return token


@dataclass(frozen=True)
class StoredDocument:
    source: str
    title: str
    text: str
    content_hash: str
    chunks: int
    indexed_at: str
    pages: tuple[Page, ...] = ()
    encoding: str = ""  # what the file's bytes were decoded from; "" for PDF, DOCX and older indexes
    suspicious: bool = False  # holds text phrased as instructions to an assistant (see SourceInfo)
    suspicious_reason: str = ""
    ocr_pages: tuple[int, ...] = ()  # PDF pages read by OCR (see Document.ocr_pages)

    @property
    def page_count(self) -> int:
        return len(self.pages)


def _ocr_pages(meta: dict) -> tuple[int, ...]:
    return tuple(json.loads(meta.get("ocr_pages", "[]")))  # older indexes have none


def _index_errors():
    from chromadb.errors import ChromaError

    return (ChromaError, OSError)


def _reads_index(fn):
    """Raise a failure of Chroma to read the index (disk full, folder gone, server down) as a
    StoreError that says what to check, instead of a library traceback."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        try:
            with self._reading():
                return fn(self, *args, **kwargs)
        except _index_errors() as e:
            raise StoreError(f"cannot read the index at {self.where}: {e.__class__.__name__}: {e}. Check that "
                             "the disk is not full and the folder is readable and writable.") from e
    return wrapper


def _writes_index(fn):
    """Run a write holding the folder lock (see `Store._writing`)."""
    @functools.wraps(fn)
    def wrapper(self, *args, **kwargs):
        with self._writing():
            return fn(self, *args, **kwargs)
    return wrapper


def _close(client) -> None:
    """Stop a local client this Store opened and no longer uses: its SQLite and vector index files
    and its event loop's descriptors are let go now. Before, a replaced client kept them until the
    garbage collector found it, and chromadb's cache of clients by folder never let go: a reader
    reopening after other processes' writes grew 35 -> 138 descriptors over 8 writes, and the
    test suite's process passed 1,000."""
    try:
        client._server.stop()  # chromadb 1.x: this client's Rust bindings, its alone (see `_connect`)
    except Exception as e:  # noqa: BLE001 - a client that cannot stop is only left to the collector
        log.debug("could not stop a replaced Chroma client: %s", e)


class Store:
    """Chunks, vectors, manifest and lexical index behind one small interface."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self._lexical: LexicalIndex | None = None
        self._stamp: str | None = None  # the manifest fingerprint when last checked
        self._stamp_checked = 0.0
        self._manifest: dict[str, str] = {}  # source -> content hash, as of `_stamp`
        self._hashes: dict[str, str] = {}  # `hashes()` as read at `_hashes_generation` (None: read again)
        self._hashes_generation: str | None = None
        self._wrote = False  # this process changed the index since the last check
        self._lock = threading.RLock()
        # A Chroma server serialises its clients itself; a local folder needs the folder lock.
        self._folder = None if settings.chroma_url else FolderLock(self.index_dir, self._lock)
        self._token = b""  # the folder's write token when this client was opened or last wrote
        with self._hold():
            self._token = self._folder.token() if self._folder else b""
            self._connect()
            self.batch = max(1, min(self.client.get_max_batch_size(), 5000))

    def close(self) -> None:
        """Stop this Store's local Chroma client (a Chroma server's client holds nothing)."""
        if self._folder is not None:
            with self._hold():
                _close(self.client)

    def _hold(self):
        return self._folder.hold() if self._folder else self._lock

    @contextlib.contextmanager
    def _reading(self):
        """Use the index: holding the folder lock, through a client opened after the last write
        of any process. A client older than that has a stale copy of the vector index, which
        Chroma brings up to date from its write log (missing what was already purged from it)
        and may save over the writer's files."""
        with self._hold():
            self._catch_up()
            yield

    @contextlib.contextmanager
    def _writing(self):
        """Write the index (holding the folder lock, as `_reading`), then tell the other holders
        (a new token) that their clients are stale."""
        with self._hold():
            self._catch_up()
            try:
                yield
            finally:
                self._hashes_generation = None  # what this write changed is read afresh
                if self._folder:
                    try:
                        self._token = self._folder.new_token()
                    except OSError as e:  # the write itself failed the same way and says so
                        log.warning("cannot record the write in %s: %s", self._folder.path, e)

    def _catch_up(self) -> None:
        if self._folder is not None and self._folder.token() != self._token:
            self._connect()  # another process (or another Store in this one) wrote
            self._token = self._folder.token()
            self._stamp_checked = float("-inf")  # and look at its manifest on the next search

    def _connect(self) -> None:
        """Open the index. For a local folder, always afresh: Chroma keeps one client system per
        folder per process, and its in-memory vector index never sees what other processes wrote
        (after another process's ingest it returns deleted chunks and misses new ones). Dropping
        the cached system (a private attribute of chromadb 1.x; other holders keep the old one)
        makes this client load the folder as it is now. Called holding the folder lock."""
        import chromadb
        from chromadb.api.shared_system_client import SharedSystemClient

        settings = self.settings
        try:
            if settings.chroma_url:
                from urllib.parse import urlparse

                url = urlparse(settings.chroma_url)
                self.client = chromadb.HttpClient(host=url.hostname or "127.0.0.1", port=url.port or 8000,
                                                  ssl=url.scheme == "https")
                where = settings.chroma_url
                key = hashlib.sha1(f"{settings.chroma_url}/{settings.collection}".encode()).hexdigest()[:12]
                self.lexical_dir = self.index_dir / f"lexical-{key}"
            else:
                self.index_dir.mkdir(parents=True, exist_ok=True)
                with _CONNECT_LOCK:
                    if getattr(self, "client", None) is not None:
                        _close(self.client)
                    SharedSystemClient._identifier_to_system.pop(str(self.index_dir / "chroma"), None)
                    self.client = chromadb.PersistentClient(path=str(self.index_dir / "chroma"))
                    # and out of chromadb's cache again: this Store is the client's only holder, so
                    # a Store dropped without close() lets go of the files when it is collected
                    SharedSystemClient._identifier_to_system.pop(str(self.index_dir / "chroma"), None)
                where = str(self.index_dir)
                self.lexical_dir = self.index_dir / "lexical"
            self.chunks = self.client.get_or_create_collection(
                f"{settings.collection}_chunks", metadata={"hnsw:space": "cosine"}, embedding_function=None)
            self.docs = self.client.get_or_create_collection(f"{settings.collection}_docs", embedding_function=None)
        except Exception as e:
            raise StoreError(f"cannot open the index at {settings.chroma_url or settings.index_dir}: {e}. "
                             "Check RAG_INDEX_DIR / RAG_CHROMA_URL, and that the folder is writable (Chroma writes "
                             "even to open it) on a disk that is not full.") from e
        self.where = where

    def _current_stamp(self, force: bool = False) -> str:
        """The manifest fingerprint, looked up at most every few seconds (the lexical index and
        `_committed` follow it). Call it holding the read lock, which has already reopened a
        local folder written by another process (`_reading`)."""
        with self._lock:
            now = time.monotonic()
            if (self._stamp is not None and not force and not self._wrote
                    and now - self._stamp_checked < _STAMP_CHECK_S):
                return self._stamp
            manifest = self.hashes()  # read whole only when a writer moved the generation (see `hashes`)
            self._manifest, self._stamp = manifest, _fingerprint(manifest)
            self._stamp_checked, self._wrote = now, False
            return self._stamp

    def _generation(self) -> str | None:
        """A token every writer changes before and after it writes (in the docs collection's
        metadata): one small read tells whether the manifest may have changed."""
        return (self.client.get_collection(self.docs.name).metadata or {}).get("generation")

    def _bump_generation(self) -> None:
        self.docs.modify(metadata={"generation": uuid.uuid4().hex})

    # ---- manifest -------------------------------------------------------------------------
    @_reads_index
    def _doc_records(self, include=("metadatas",)) -> dict:
        return self.docs.get(include=list(include))

    def sources(self) -> list[SourceInfo]:
        got = self._doc_records()
        infos = [SourceInfo(source=i, title=m.get("title", ""), chunks=int(m.get("chunks", 0)),
                            indexed_at=m.get("indexed_at", ""), content_hash=m.get("hash", ""),
                            encoding=m.get("encoding", ""), suspicious=bool(m.get("suspicious", False)),
                            suspicious_reason=m.get("suspicious_reason", ""), ocr_pages=_ocr_pages(m),
                            page_count=len(json.loads(m.get("pages", "[]"))))
                 for i, m in zip(got["ids"], got["metadatas"])]
        return sorted(infos, key=lambda s: s.source)

    def hashes(self) -> dict[str, str]:
        """source -> content hash of every stored document. Kept while the docs collection's
        generation stays the one it was read at and this Store wrote nothing: at 10,000 documents
        a read of all records takes ~0.35 s, and a sync of one saved file asked up to four times."""
        with self._reading():
            generation = self._generation()
            if generation is None or generation != self._hashes_generation:
                got = self._doc_records()
                self._hashes = {i: m.get("hash", "") for i, m in zip(got["ids"], got["metadatas"])}
                self._hashes_generation = generation
            return dict(self._hashes)

    @_reads_index
    def document(self, source: str) -> StoredDocument | None:
        got = self.docs.get(ids=[source], include=["metadatas", "documents"])
        if not got["ids"]:
            return None
        m, text = got["metadatas"][0], got["documents"][0]
        pages = tuple(Page(*p) for p in json.loads(m.get("pages", "[]")))
        return StoredDocument(source=source, title=m.get("title", ""), text=text, content_hash=m.get("hash", ""),
                              chunks=int(m.get("chunks", 0)), indexed_at=m.get("indexed_at", ""), pages=pages,
                              encoding=m.get("encoding", ""), suspicious=bool(m.get("suspicious", False)),
                              suspicious_reason=m.get("suspicious_reason", ""), ocr_pages=_ocr_pages(m))

    @_reads_index
    def has(self, source: str) -> bool:
        """Whether a document is indexed (reads its id only, not its text)."""
        return bool(self.docs.get(ids=[source], include=[])["ids"])

    def fingerprint(self) -> str:
        """Changes whenever any document is added, changed or removed."""
        return _fingerprint(self.hashes())

    def refresh(self) -> None:
        """Look at the manifest now (not up to `_STAMP_CHECK_S` later): after another process
        wrote, searches see its documents and filter its leftovers from this moment on."""
        with self._reading():
            self._current_stamp(force=True)

    def _committed(self, meta: dict | None) -> bool:
        """Whether a chunk belongs to the version of its document the manifest holds. Chunks of
        another version are a writer's: not yet committed (its record comes after them), or left
        by a writer killed before deleting them (`repair` removes those, but only a writer runs
        it): a reader never serves either."""
        return meta is not None and self._manifest.get(meta.get("source")) == meta.get("hash")

    @_reads_index
    def is_empty(self) -> bool:
        return self.docs.count() == 0

    # ---- writes ---------------------------------------------------------------------------
    @_writes_index
    def put_many(self, items: list[tuple[Document, list[Chunk]]], vectors, replaced: set[str] | None = None) -> None:
        """Add or replace documents in few round trips, in a crash-safe order: all new chunks, then
        the document records (the commit markers), then the old chunks of the documents in
        `replaced` (default: all of them) are deleted."""
        self._wrote = True
        chunks = [c for _, cs in items for c in cs]
        try:
            self._bump_generation()
            for i in range(0, len(chunks), self.batch):
                part = chunks[i:i + self.batch]
                self.chunks.upsert(ids=[c.id for c in part], embeddings=vectors[i:i + self.batch],
                                   documents=[c.text for c in part], metadatas=[_chunk_meta(c) for c in part])
                reached("store.put.chunks")
            now = datetime.now(timezone.utc).isoformat(timespec="seconds")
            records = [(doc.source, doc.text, {"hash": doc.content_hash, "title": doc.title[:500], "chunks": len(cs),
                                               "indexed_at": now, "encoding": doc.encoding,
                                               "suspicious": bool(doc.suspicious),
                                               "suspicious_reason": doc.suspicious[:300],
                                               "pages": json.dumps([[p.number, p.start, p.end] for p in doc.pages]),
                                               "ocr_pages": json.dumps(list(doc.ocr_pages))})
                       for doc, cs in items]
            for part in _by_size(records, self.batch, _MAX_WRITE_CHARS):
                self.docs.upsert(ids=[r[0] for r in part], embeddings=[[1.0]] * len(part),
                                 documents=[r[1] for r in part], metadatas=[r[2] for r in part])
                reached("store.put.record")
            for doc, _ in items:
                if replaced is None or doc.source in replaced:
                    self.chunks.delete(where={"$and": [{"source": doc.source}, {"hash": {"$ne": doc.content_hash}}]})
                    reached("store.put.cleanup")
            self._bump_generation()
        except _index_errors() as e:  # disk full, read-only folder, server gone: the index, not the file
            raise StoreError(f"cannot write to the index at {self.where}: {e.__class__.__name__}: {e}. Check that "
                             "the disk is not full and the folder is writable, then run the ingest again "
                             "(what was half-written is cleaned up).") from e

    @_writes_index
    def remove(self, source: str) -> bool:
        """Remove a document and its chunks. Returns False when it was not indexed."""
        self._wrote = True
        self._bump_generation()
        known = self.has(source)
        self.docs.delete(ids=[source])
        reached("store.remove")
        self.chunks.delete(where={"source": source})
        self._bump_generation()
        return known

    @_reads_index
    def vectors_by_span(self, source: str) -> dict[tuple[int, int], list[float]]:
        """The stored vector of each chunk of a document, by its (start, end) in the text."""
        got = self.chunks.get(where={"source": source}, include=["metadatas", "embeddings"])
        return {(int(m["start"]), int(m["end"])): v for m, v in zip(got["metadatas"], got["embeddings"])}

    @_writes_index
    def move(self, old_source: str, doc: Document, chunks: list[Chunk]) -> bool:
        """Re-key a document to a new source (a renamed or moved file, same content) without
        embedding anything: its chunks are written under the new source with the vectors stored
        for the same spans, then the old document is removed. Crash-safe like `put_many` then
        `remove`: a crash in between leaves both, and the next sync removes the old one.

        Returns False (and writes nothing) when a span has no stored vector, e.g. the chunk size
        changed since the old one was indexed: the caller embeds it instead."""
        import numpy as np

        stored = self.vectors_by_span(old_source)
        if not chunks or any((c.start, c.end) not in stored for c in chunks):
            return False
        self.put_many([(doc, chunks)], np.asarray([stored[(c.start, c.end)] for c in chunks], dtype=np.float32),
                      replaced={doc.source} if self.has(doc.source) else set())
        self.remove(old_source)
        return True

    @_writes_index
    def repair(self) -> int:
        """Delete chunks left by an interrupted write (no document record, or another hash).
        Returns how many were deleted."""
        self._wrote = True
        expected = self.hashes()
        orphans: list[str] = []
        for ids, metas, _ in self._iter_chunks(include=["metadatas"]):
            orphans += [i for i, m in zip(ids, metas) if expected.get(m.get("source")) != m.get("hash")]
        for i in range(0, len(orphans), self.batch):
            self.chunks.delete(ids=orphans[i:i + self.batch])
        return len(orphans)

    def _iter_chunks(self, include):
        offset = 0
        while True:
            got = self.chunks.get(include=include, limit=self.batch, offset=offset)
            if not got["ids"]:
                return
            yield got["ids"], got.get("metadatas") or [None] * len(got["ids"]), got.get("documents")
            offset += len(got["ids"])

    # ---- lexical index --------------------------------------------------------------------
    def lexical(self, force_check: bool = False) -> LexicalIndex:
        """The BM25 index, rebuilt when another process (or we) changed the documents."""
        with self._reading():
            stamp = self._current_stamp(force_check)
            if self._lexical is not None and self._lexical.stamp == stamp:
                return self._lexical
            cached = LexicalIndex.load(self.lexical_dir)
            if cached is not None and cached.stamp == stamp:
                self._lexical = cached
                return cached
            self._lexical = self._build_lexical(stamp)
            try:
                self._lexical.save(self.lexical_dir)
            except OSError:
                pass  # a read-only index still answers; the cache is rebuilt in memory next time
            return self._lexical

    def _build_lexical(self, stamp: str) -> LexicalIndex:
        rows: list[tuple[str, str, str]] = []
        for ids, metas, docs in self._iter_chunks(include=["metadatas", "documents"]):
            rows += [(i, m["source"], d) for i, m, d in zip(ids, metas, docs) if self._committed(m)]
        rows.sort()  # the same corpus order whichever process or client builds it
        return LexicalIndex([r[0] for r in rows], [r[1] for r in rows], [tokenize(r[2]) for r in rows], stamp)

    # ---- reads ----------------------------------------------------------------------------
    @_reads_index
    def dense_search(self, vector, n: int, source: str | None = None) -> list[Passage]:
        self._current_stamp()
        # No count() first: at 100k chunks it cost as much as the search, and Chroma 1.x returns
        # fewer results (none from an empty collection) when asked for more than it holds.
        got = self.chunks.query(query_embeddings=[vector], n_results=n,
                                where={"source": source} if source else None,
                                include=["documents", "metadatas", "distances"])
        # A chunk deleted by another process since our last reconnect comes back without its
        # metadata: skip it, and chunks of a version the manifest does not hold (see `_committed`).
        return [_passage(i, d, m, score=1.0 - dist, dense=1.0 - dist)
                for i, d, m, dist in zip(got["ids"][0], got["documents"][0], got["metadatas"][0],
                                         got["distances"][0]) if d is not None and self._committed(m)]

    @_reads_index
    def get_chunks(self, ids: list[str]) -> dict[str, Passage]:
        if not ids:
            return {}
        self._current_stamp()
        got = self.chunks.get(ids=ids, include=["documents", "metadatas"])
        return {i: _passage(i, d, m, score=0.0, dense=0.0)
                for i, d, m in zip(got["ids"], got["documents"], got["metadatas"]) if self._committed(m)}

    @_reads_index
    def counts(self) -> tuple[int, int]:
        """(documents, chunks)"""
        return self.docs.count(), self.chunks.count()


def _fingerprint(hashes: dict[str, str]) -> str:
    return hashlib.sha1(json.dumps(sorted(hashes.items())).encode("utf-8", "surrogatepass")).hexdigest()


def _by_size(records: list[tuple], max_count: int, max_chars: int):
    """Split records (id, text, meta) into runs of at most max_count records and about max_chars of text."""
    part: list[tuple] = []
    size = 0
    for r in records:
        if part and (len(part) >= max_count or size + len(r[1]) > max_chars):
            yield part
            part, size = [], 0
        part.append(r)
        size += len(r[1])
    if part:
        yield part


def _chunk_meta(c: Chunk) -> dict:
    meta = {"source": c.source, "title": c.title[:500], "start": c.start, "end": c.end, "hash": c.content_hash}
    if c.page is not None:
        meta["page"] = c.page
    if c.line is not None:
        meta["line"] = c.line
    if c.section is not None:
        meta["section"] = c.section[:500]
    return meta


def _passage(chunk_id: str, text: str, meta: dict, score: float, dense: float) -> Passage:
    return Passage(text=text, source=meta["source"], start=int(meta["start"]), end=int(meta["end"]), score=score,
                   chunk_id=chunk_id, title=meta.get("title", ""), page=meta.get("page"), dense_score=dense,
                   line=meta.get("line"), section=meta.get("section"))
