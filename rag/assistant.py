"""Assistant: the one facade over the pipeline. The CLI, the HTTP server and the tests all use it.

    a = Assistant(index_dir="index")
    a.ingest(["docs/"])
    a.ask("who is Ismail Shukri?").text
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .config import Settings, load_settings
from .errors import StoreError
from .faults import reached
from .types import Answer, FileError, IngestReport, Passage, SourceInfo

Progress = Callable[[str, int, int], None]  # (file being processed, files done, files total)


class Assistant:
    def __init__(self, index_dir: str | Path | None = None, *, settings: Settings | None = None, **overrides):
        self.settings = settings or load_settings(index_dir=index_dir, **overrides)
        if settings is not None and index_dir is not None:
            self.settings = self.settings.model_copy(update={"index_dir": Path(index_dir)})
        self._store = None
        self._embedder = None
        self._search = None

    # ---- pipeline parts, built on first use so that light commands stay light ----------------
    @property
    def embedder(self):
        if self._embedder is None:
            from .embeddings import SentenceEmbeddings

            self._embedder = SentenceEmbeddings(self.settings.embedding_model, self.settings.embedding_batch_size)
        return self._embedder

    @property
    def store(self):
        if self._store is None:
            from .store import Store

            self._store = Store(self.settings)
            if self._dirty_marker().exists():
                with self._ingest_lock(wait=False) as got:
                    if got:  # a crashed ingest left it; a running one will clean up itself
                        self._store.repair()
                        self._dirty_marker().unlink(missing_ok=True)
        return self._store

    @property
    def search(self):
        if self._search is None:
            from .retrieval import HybridSearch

            self._search = HybridSearch(self.store, self.embedder, self.settings.candidates, self.settings.rrf_k)
        return self._search

    # ---- ingestion ---------------------------------------------------------------------------
    def ingest(self, paths: list[str | Path], *, prune: bool = False, progress: Progress | None = None) -> IngestReport:
        """Index files and folders. Unchanged files (same content hash) cost nothing; changed
        files replace their chunks; per-file problems are reported, never raised."""
        from .chunking import chunk_document
        from .loaders import content_hash, discover, load

        report = IngestReport()
        files, errors = discover(paths)
        report.failed.extend(errors)
        max_bytes = int(self.settings.max_file_mb * 1_000_000)
        store = self.store
        with self._ingest_lock(wait=True), self._dirty():
            known = store.hashes()
            for done, path in enumerate(files):
                source = str(path)
                if progress:
                    progress(source, done, len(files))
                try:
                    if path.stat().st_size <= max_bytes and known.get(source) == content_hash(path.read_bytes()):
                        report.unchanged.append(source)
                        continue
                    doc = load(path, max_bytes)
                    chunks = chunk_document(doc, self.settings.chunk_size, self.settings.chunk_overlap)
                    vectors = self.embedder.encode([c.text for c in chunks])
                    reached("ingest.embedded")
                    report.chunks_embedded += len(chunks)
                    store.put(doc, chunks, vectors.tolist())
                except StoreError:
                    raise  # the index cannot be written: no point trying the other files
                except OSError as e:
                    report.failed.append(FileError(source, f"cannot read file: {e.strerror or e}"))
                    continue
                except Exception as e:  # IngestError and parser failures: report, go on
                    report.failed.append(FileError(source, str(e) or e.__class__.__name__))
                    continue
                (report.updated if source in known else report.added).append(source)
            if progress:
                progress("", len(files), len(files))
            if prune:
                for source in known:
                    if not Path(source).exists() and store.remove(source):
                        report.removed.append(source)
            if report.added or report.updated or report.removed:
                store.lexical(force_check=True)  # rebuild once now, not on the next question
        return report

    def remove(self, path: str | Path) -> bool:
        """Remove one document (by path) from the index. Returns False if it was not indexed."""
        source = str(Path(path).expanduser().absolute()) if not self._is_known(str(path)) else str(path)
        with self._ingest_lock(wait=True), self._dirty():  # a crash between record and chunks is repaired
            removed = self.store.remove(source)
            if removed:
                self.store.lexical(force_check=True)
        return removed

    def sources(self) -> list[SourceInfo]:
        return self.store.sources()

    def document(self, source: str):
        """The stored text and metadata of one document (for citation viewers), or None."""
        return self.store.document(source)

    def ensure_seeded(self, progress: Progress | None = None) -> IngestReport | None:
        """On first use, index the bundled seed documents so a fresh clone answers at once."""
        if self.store.is_empty() and Path(self.settings.seed_dir).is_dir():
            return self.ingest([self.settings.seed_dir], progress=progress)
        return None

    # ---- questions ---------------------------------------------------------------------------
    def retrieve(self, query: str, k: int | None = None, source: str | None = None) -> list[Passage]:
        return self.search.search(query, k or self.settings.top_k, source)

    def ask(self, question: str, history: list[tuple[str, str]] | None = None, *, k: int | None = None,
            source: str | None = None) -> Answer:
        """Answer with citations, or abstain. `history` is a list of (question, answer_text)."""
        from .answering import ExtractiveAnswerer, standalone_question

        t0 = time.perf_counter()
        query = standalone_question(question, history or [])
        passages = self.retrieve(query, k, source)
        t1 = time.perf_counter()
        answerer = ExtractiveAnswerer(self.embedder, self.store.lexical().idf, self.settings.abstain_threshold,
                                      self.settings.max_answer_sentences)
        answer = answerer.answer(query, passages)
        t2 = time.perf_counter()
        return replace(answer, timings_ms={"retrieve": (t1 - t0) * 1000, "answer": (t2 - t1) * 1000,
                                           "total": (t2 - t0) * 1000})

    def stream(self, question: str, history: list[tuple[str, str]] | None = None, **kwargs):
        """Yield the answer's text as it is produced (str pieces), then the final Answer.

        The extractive answerer has no tokens to stream, so it yields its text in word pieces;
        LLM backends yield real tokens before the verified Answer."""
        answer = self.ask(question, history, **kwargs)
        for piece in re.findall(r"\S+\s*", answer.text):
            yield piece
        yield answer

    def as_retriever(self, k: int = 4, source: str | None = None):
        """Hybrid retrieval as a LangChain `BaseRetriever`."""
        from .retrieval import RagRetriever

        return RagRetriever(assistant=self, k=k, source=source)

    # ---- helpers -----------------------------------------------------------------------------
    def _is_known(self, source: str) -> bool:
        return self.store.document(source) is not None

    def _dirty_marker(self) -> Path:
        return Path(self.settings.index_dir) / ".ingest-in-progress"

    @contextlib.contextmanager
    def _dirty(self):
        """Mark the index as being written, so a crash is repaired on the next open."""
        marker = self._dirty_marker()
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

    @contextlib.contextmanager
    def _ingest_lock(self, wait: bool):
        """One writer per local index at a time; readers never wait."""
        if self.settings.chroma_url:  # a Chroma server serialises writes itself
            yield True
            return
        path = Path(self.settings.index_dir) / ".ingest.lock"
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
                import sys

                print(f"rag: another ingest is writing to {path.parent}; waiting for it to finish...",
                      file=sys.stderr)
                fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield True
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)
