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
from .errors import ConfigError, StoreError
from .faults import reached
from .types import Answer, FileError, IngestReport, Passage, Reply, SourceInfo

Progress = Callable[[str, int, int], None]
"""Called as progress(file being processed, files done, files total). A callback that also takes
a `chunks` keyword argument is given the number of chunks embedded so far."""


class Assistant:
    def __init__(self, index_dir: str | Path | None = None, *, settings: Settings | None = None, **overrides):
        """Settings come from the environment (`RAG_*`), or from `settings` when given; `index_dir`
        and keyword overrides (any `Settings` field: `llm="none"`, `top_k=8`) apply on top of either.
        An override left None keeps the setting as it is.

        Raises:
            ConfigError: an override names no setting, or its value is invalid.
        """
        unknown = sorted(set(overrides) - set(Settings.model_fields))
        if unknown:
            raise ConfigError(f"unknown setting{'s' if len(unknown) > 1 else ''} {', '.join(unknown)} "
                              "(see the fields of rag.config.Settings)")
        if settings is None:
            self.settings = load_settings(index_dir=index_dir, **overrides)
        else:
            self.settings = _with_overrides(settings, {"index_dir": index_dir, **overrides})
        self._store = None
        self._embedder = None
        self._search = None

    # ---- pipeline parts, built on first use so that light commands stay light ----------------
    @property
    def embedder(self):
        if self._embedder is None:
            from .embeddings import SentenceEmbeddings

            self._embedder = SentenceEmbeddings(self.settings.embedding_model, self.settings.embedding_batch_size,
                                                backend=self.settings.embedding_backend,
                                                cache_dir=self.settings.model_cache_dir,
                                                threads=self.settings.embedding_threads)
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
    def ingest(self, paths: list[str | Path], *, prune: bool = False, progress: Progress | None = None,
               follow_symlinks: bool = False) -> IngestReport:
        """Index files and folders: PDF, DOCX, HTML and every file whose content is text, in any
        encoding (binaries are reported and skipped). Unchanged files (same content hash) cost
        nothing; changed files replace their chunks; per-file problems are reported, never raised.
        Inside a folder, symlinks leading out of it are reported and skipped unless `follow_symlinks`.

        Files are read and chunked in a worker thread while the model embeds the previous ones,
        and the chunks of several files go to the model and to the store together (every
        `ingest_batch_chunks` chunks), so small files do not each pay a round trip."""
        from .chunking import chunk_document
        from .loaders import content_hash, discover, load

        report = IngestReport()
        files, errors = discover(paths, follow_symlinks=follow_symlinks)
        report.failed.extend(errors)
        max_bytes = int(self.settings.max_file_mb * 1_000_000)
        notify = _progress_notifier(progress)
        store = self.store
        with self._ingest_lock(wait=True), self._dirty():
            known = store.hashes()

            def prepare(path: Path):
                """-> (source, Document | None, chunks | FileError | None); None: unchanged."""
                source = str(path)
                try:
                    # Only a file already indexed is hashed first: the others (a folder's photos
                    # and archives among them) are sniffed by load() without being read whole.
                    if (source in known and path.stat().st_size <= max_bytes
                            and known[source] == content_hash(path.read_bytes())):
                        return source, None, None
                    doc = load(path, max_bytes)
                    return source, doc, chunk_document(doc, self.settings.chunk_size, self.settings.chunk_overlap)
                except OSError as e:
                    return source, None, FileError(source, f"cannot read file: {e.strerror or e}")
                except Exception as e:  # IngestError and parser failures: report, go on
                    return source, None, FileError(source, str(e) or e.__class__.__name__)

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
                        (report.updated if doc.source in known else report.added).append(doc.source)
                pending.clear()

            for source, doc, result in _prefetch(prepare, files):
                notify(source, settled, len(files), report.chunks_embedded)
                if isinstance(result, FileError):
                    report.failed.append(result)
                    settled += 1
                elif doc is None:
                    report.unchanged.append(source)
                    settled += 1
                else:
                    pending.append((doc, result))
                    if sum(len(c) for _, c in pending) >= self.settings.ingest_batch_chunks:
                        flush()
            flush()
            notify("", len(files), len(files), report.chunks_embedded)
            if prune:
                for source in known:
                    if not Path(source).exists() and store.remove(source):
                        report.removed.append(source)
            if report.added or report.updated or report.removed:
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

    def remove(self, path: str | Path) -> bool:
        """Remove one document (by path) from the index. Returns False if it was not indexed."""
        source = str(path) if self.store.has(str(path)) else str(Path(path).expanduser().absolute())
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

    @property
    def location(self) -> str:
        """Where the index lives: the Chroma server's URL, or the index folder's absolute path."""
        return self.settings.chroma_url or str(Path(self.settings.index_dir).expanduser().absolute())

    def index_exists(self) -> bool:
        """Whether there is an index to read. Looks, never creates: opening the store would make
        an empty index folder. An index on a Chroma server is taken to exist."""
        if self.settings.chroma_url:
            return True
        return (Path(self.settings.index_dir).expanduser() / "chroma").is_dir()

    def seeds_on_first_use(self) -> bool:
        """Whether commands that read fill an empty index from the seed documents first: only the
        project's default index folder, and only when the seed folder exists. Any other index is
        the user's own, and an empty one is reported, not filled with the seed article."""
        default = Settings.model_fields["index_dir"].default
        return Path(self.settings.index_dir) == Path(default) and Path(self.settings.seed_dir).is_dir()

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
        return self.stream(question, history, k=k, source=source).answer()

    def stream(self, question: str, history: list[tuple[str, str]] | None = None, *, k: int | None = None,
               source: str | None = None) -> Reply:
        """The answer as a `Reply`: iterate for its text in pieces, then `.answer()` for the Answer.
        Every piece has passed verification already (an extractive answer is quoted; an LLM's
        sentences are checked one by one as the model finishes them), and the pieces spell
        exactly the final answer's text: nothing shown is ever taken back."""
        return Reply(self._answer_items(question, history or [], k, source))

    def _answer_items(self, question: str, history: list[tuple[str, str]], k: int | None, source: str | None):
        from .followups import condense_question, is_rewrite

        t0 = time.perf_counter()
        query, notice = condense_question(question, history, self.settings)
        t_condense = time.perf_counter()
        passages = self.retrieve(query, k, source)
        t1 = time.perf_counter()
        reader = self.reader(history)
        ranked = reader.rank(query, passages)
        first_piece = None
        if self.settings.uses_llm and not notice:
            from .llm import backend_name  # langchain's chat models load only when an LLM is used
            from .llm_answer import LLMAnswerer
            from .verification import Verifier

            answerer = LLMAnswerer(self.settings, reader, Verifier(self.embedder, self.settings.verify_min_similarity),
                                   backend_name(self.settings))
            # The model sees the user's own words unless the follow-up was really rewritten.
            items = answerer.stream(query if is_rewrite(query, history) else question, ranked, passages)
        else:
            answer = reader.select(ranked, passages)
            items = iter(re.findall(r"\s*\S+", answer.text) + [replace(answer, notice=answer.notice or notice)])
        for item in items:
            if isinstance(item, str):
                first_piece = first_piece or time.perf_counter()
                yield item
            else:
                answer = item
        t2 = time.perf_counter()
        timings = {"retrieve": (t1 - t_condense) * 1000, "answer": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}
        if history:
            timings["condense"] = (t_condense - t0) * 1000
        if first_piece:
            timings["first_piece"] = (first_piece - t0) * 1000
        yield replace(answer, timings_ms=timings)

    def reader(self, history: list[tuple[str, str]] | None = None, threshold: float | None = None):
        """The extractive reader over this index, as `stream` uses it (`threshold`: another
        abstention threshold, for calibration)."""
        from .answering import ExtractiveAnswerer

        def document(source: str) -> tuple[str, str] | None:
            doc = self.store.document(source)
            return (doc.title, doc.text) if doc else None

        s = self.settings
        return ExtractiveAnswerer(self.embedder, self.store.lexical().idf,
                                  s.abstain_threshold if threshold is None else threshold, s.max_answer_sentences,
                                  previous_answer=history[-1][1] if history else "",
                                  span_weight=s.answer_span_weight, documents=document)

    def as_retriever(self, k: int = 4, source: str | None = None):
        """Hybrid retrieval as a LangChain `BaseRetriever`."""
        from .retrieval import RagRetriever

        return RagRetriever(assistant=self, k=k, source=source)

    # ---- helpers -----------------------------------------------------------------------------
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


def _with_overrides(settings: Settings, overrides: dict) -> Settings:
    """A copy of `settings` with the non-None overrides applied, each validated as the field it
    sets (types converted, bounds checked); `settings` itself is left as it was."""
    from pydantic import ValidationError

    updated = settings.model_copy()
    for name, value in overrides.items():
        if value is None:
            continue
        try:  # validates one field the way Settings(...) would, without rereading the environment
            type(settings).__pydantic_validator__.validate_assignment(updated, name, value)
        except ValidationError as e:
            problem = e.errors()[0]["msg"] if e.errors() else str(e)
            raise ConfigError(f"invalid value {value!r} for setting {name}: {problem}") from e
    return updated


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
