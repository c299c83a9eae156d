"""Assistant: the one facade over the pipeline. The CLI, the HTTP server and the tests all use it.

    a = Assistant(index_dir="index")
    a.ingest(["docs/"])
    a.ask("who is Ismail Shukri?").text
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from .config import Settings, default_index_dir, load_settings, package_data
from .errors import ConfigError
from .ingest import Progress
from .types import Answer, IngestReport, Passage, Reply, SourceInfo

log = logging.getLogger(__name__)


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
        self._ingester = None

    def close(self) -> None:
        """Let go of the index (its files and the vector store's threads). The Assistant can still
        be used: the index is opened again on next use. `with Assistant(...) as a:` closes at the end."""
        if self._store is not None:
            self._store.close()
        self._store = self._search = self._ingester = None

    def __enter__(self) -> Assistant:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
            from .ingest import repair_if_crashed
            from .store import Store

            self._store = Store(self.settings)
            repair_if_crashed(self._store, Path(self.settings.index_dir), shared=bool(self.settings.chroma_url))
        return self._store

    @property
    def search(self):
        if self._search is None:
            from .retrieval import HybridSearch

            self._search = HybridSearch(self.store, self.embedder, self.settings.candidates, self.settings.rrf_k)
        return self._search

    @property
    def ingester(self):
        if self._ingester is None:
            from .ingest import Ingester

            self._ingester = Ingester(self.store, self.embedder, index_dir=Path(self.settings.index_dir),
                                      shared=bool(self.settings.chroma_url), chunk_size=self.settings.chunk_size,
                                      chunk_overlap=self.settings.chunk_overlap,
                                      max_bytes=int(self.settings.max_file_mb * 1_000_000),
                                      batch_chunks=self.settings.ingest_batch_chunks, limits=self.parse_limits)
        return self._ingester

    @property
    def parse_limits(self):
        """What reading one file may cost (RAG_MAX_FILE_MB, RAG_MAX_TEXT_MB, RAG_MAX_PAGE_CHARS,
        RAG_PARSE_TIMEOUT_S)."""
        from .types import ParseLimits

        s = self.settings
        return ParseLimits(max_bytes=int(s.max_file_mb * 1_000_000), max_chars=int(s.max_text_mb * 1_000_000),
                           max_page_chars=s.max_page_chars, timeout_s=s.parse_timeout_s)

    # ---- ingestion ---------------------------------------------------------------------------
    def ingest(self, paths: list[str | Path], *, prune: bool = False, progress: Progress | None = None,
               follow_symlinks: bool = False, parsed: dict | None = None) -> IngestReport:
        """Index files and folders: PDF (OCR for scans), DOCX, PPTX, ODT, EPUB, EML, HTML and every
        file whose content is text, in any encoding (binaries are listed in `skipped`, not as
        failures). Unchanged
        files (same content hash) cost nothing; changed files replace their chunks; per-file
        problems are reported, never raised.
        Inside a folder, symlinks leading out of it are reported and skipped unless `follow_symlinks`.
        Each file's text is bounded (RAG_MAX_TEXT_MB, RAG_MAX_PAGE_CHARS) and its parse timed
        (RAG_PARSE_TIMEOUT_S). `parsed`: files already read by `parse`, not read again.
        The work is done by `rag.ingest.Ingester`."""
        if parsed is not None:
            return self.ingester.ingest_files([Path(p) for p in paths], progress=progress, parsed=parsed)
        return self.ingester.ingest(paths, prune=prune, progress=progress, follow_symlinks=follow_symlinks)

    def parse(self, files: list[Path], read_from: dict[Path, Path] | None = None,
              deadline_s: float | None = None) -> dict:
        """Read and chunk files for `ingest(files, parsed=...)` without touching the index, so it
        may run while other threads answer (the server parses uploads outside its answering
        lock). `read_from`: where the bytes of a file are for now (an upload's temporary name).
        `deadline_s`: how long all the files may take together (a file not parsed by then is a
        FileError). Returns {source: (Document, chunks) or FileError}; see `rag.ingest.parse_files`."""
        from .ingest import parse_files

        s = self.settings
        return parse_files([Path(f) for f in files], self.parse_limits, s.chunk_size, s.chunk_overlap, read_from,
                           deadline_s=deadline_s)

    def remove(self, path: str | Path) -> bool:
        """Remove one document (by path) from the index. Returns False if it was not indexed."""
        source = str(path) if self.store.has(str(path)) else str(Path(path).expanduser().absolute())
        return self.ingester.remove(source)

    def watch(self, paths: list[str | Path], stop_event, *, follow_symlinks: bool = False,
              on_sync: Callable[[IngestReport], None] | None = None) -> None:
        """Ingest `paths`, then keep the index in step with them until `stop_event` (a
        threading.Event) is set: added, changed, deleted, renamed and moved files reach the index
        within about 2 s of settling, renames without embedding anything, with a full rescan
        every `watch_rescan_s`. `on_sync(report)` after each sync that changed something.
        See `rag.watch`."""
        from .watch import watch_paths

        watch_paths(self.ingester, paths, stop_event, rescan_s=self.settings.watch_rescan_s,
                    follow_symlinks=follow_symlinks, ignore=[] if self.settings.chroma_url else [self.settings.index_dir],
                    on_sync=on_sync)

    def sources(self) -> list[SourceInfo]:
        return self.store.sources()

    def display_names(self, sources: list[SourceInfo] | None = None) -> dict[str, str]:
        """Each indexed source by the fewest last parts of its path that tell it from every other
        ("README" when there is one, "zlib/README" and "zstd/README" when there are two): how
        citations are shown, and a name `summarize` and `compare` accept."""
        from .text import shortest_unique_paths

        return shortest_unique_paths(s.source for s in (self.sources() if sources is None else sources))

    def document(self, source: str):
        """The stored text and metadata of one document (for citation viewers), or None."""
        return self.store.document(source)

    def original(self, source: str, indexed=None) -> bytes:
        """The bytes of the file `source` (as indexed, exactly), for viewers that show the
        original (the chat page's PDF view): read once and returned only when they are the
        content that was indexed, so the citations' offsets and page numbers describe them.
        Only a regular file is read, and opening it cannot block (O_NONBLOCK, judged by fstat
        on what was opened): a FIFO put in its place is refused at once.

        Args:
            indexed: the stored document (`document(source)`), when the caller has it: then
                the index is not read, and a server can read the file without its lock.

        Raises:
            DocumentNotFound: `source` is not an indexed document.
            DocumentChanged: the file is gone, unreadable, not a regular file, or changed since
                it was indexed.
        """
        from .errors import DocumentChanged, DocumentNotFound, IngestError
        from .loaders import content_hash, open_regular

        doc = indexed if indexed is not None else self.store.document(source)
        if doc is None:
            raise DocumentNotFound(f"{source} is not in the index at {self.location}")
        again = f"re-index it (`rag ingest {source}`, or upload it again) to see it as it is now"
        limit = int(self.settings.max_file_mb * 1_000_000)
        try:
            with open_regular(source) as f:
                data = f.read(limit + 1)  # a file over the limit was never indexed at that size
        except OSError as e:
            raise DocumentChanged(f"{source} cannot be read ({e.strerror or e}); {again}") from None
        except IngestError as e:  # a pipe, device or socket in the file's place
            raise DocumentChanged(f"{source} is now {e}; {again}") from None
        if len(data) > limit or content_hash(data) != doc.content_hash:
            raise DocumentChanged(f"{source} has changed since it was indexed; {again}")
        return data

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

    def other_index(self) -> Path | None:
        """The user data dir's index, when this Assistant reads ./index because the current folder
        has one and the user data dir holds an index too: a bare `rag ask` means a different index
        in another folder (issue 18), so the CLI names both. None otherwise."""
        from .config import user_index_dir

        if self.settings.chroma_url or Path(self.settings.index_dir) != Path("index") or not Path("index").is_dir():
            return None
        other = user_index_dir()
        same = other.expanduser().absolute() == Path("index").absolute()
        return None if same or not (other / "chroma").is_dir() else other

    def uses_default_index(self) -> bool:
        """Whether this is the default index (./index in a project, else the user data dir's)."""
        return Path(self.settings.index_dir) == default_index_dir()

    @property
    def seed_folder(self) -> Path:
        """The seed documents: `seed_dir` when set, else those shipped in the package."""
        return Path(self.settings.seed_dir) if self.settings.seed_dir is not None else package_data("seeds")

    def seeds_on_first_use(self) -> bool:
        """Whether commands that read fill an empty index from the seed documents first: only the
        default index, and only when the seed folder exists. Any other index is the user's own,
        and an empty one is reported, not filled with the seed article."""
        return self.uses_default_index() and self.seed_folder.is_dir()

    def ensure_seeded(self, progress: Progress | None = None) -> IngestReport | None:
        """On first use, index the seed documents so a fresh install answers at once: into the
        default index, or into any index when `seed_dir` is set."""
        if ((self.settings.seed_dir is not None or self.uses_default_index()) and self.seed_folder.is_dir()
                and self.store.is_empty()):
            return self.ingest([self.seed_folder], progress=progress)
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
        from .summarize import asks_whole_document, route

        t0 = time.perf_counter()
        task = route(question, self.sources()) if source is None and asks_whole_document(question) else None
        if task:  # "summarize X", "compare X and Y": the whole documents, not top-k passages
            answer = self.summarize(task[1]) if task[0] == "summarize" else self.compare(task[1], task[2])
            yield from re.findall(r"\s*\S+", answer.text)
            yield replace(answer, timings_ms={"answer": (time.perf_counter() - t0) * 1000,
                                              "total": (time.perf_counter() - t0) * 1000})
            return
        query, notice = condense_question(question, history, self.settings)
        t_condense = time.perf_counter()
        texts = _StoredTexts(self.store)
        passages = self._current_passages(query, k, source, texts)
        t1 = time.perf_counter()
        reader = self.reader(history, documents=texts)
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
            answer = _checked_citations(reader.select(ranked, passages), texts, passages, keep_text=False)
            items = iter(re.findall(r"\s*\S+", answer.text) + [replace(answer, notice=answer.notice or notice)])
        for item in items:
            if isinstance(item, str):
                first_piece = first_piece or time.perf_counter()
                yield item
            else:
                # An LLM's text has been shown by now, each sentence verified against passages that
                # matched the stored text; a citation that does not is still never handed out.
                answer = _checked_citations(item, texts, passages, keep_text=True)
        t2 = time.perf_counter()
        timings = {"retrieve": (t1 - t_condense) * 1000, "answer": (t2 - t1) * 1000, "total": (t2 - t0) * 1000}
        if history:
            timings["condense"] = (t_condense - t0) * 1000
        if first_piece:
            timings["first_piece"] = (first_piece - t0) * 1000
        more = self._language_notice(question) if answer.abstained else _suspicious_notice(answer, texts)
        answer = replace(answer, notice=" ".join(filter(None, [answer.notice, more])))
        yield replace(_located(answer, passages), timings_ms=timings)

    def _language_notice(self, question: str) -> str:
        """Why a question in another language found nothing, when that is the likely reason: the
        bundled embedding model reads English (issue 18)."""
        from .text import question_language

        language = question_language(question) if self.settings.embedding_model == "bundled" else None
        if language is None:
            return ""
        return (f"This question looks {language}; the bundled embedding model reads English, so questions in "
                "other languages rarely find English passages. Ask in English, or set RAG_EMBEDDING_MODEL to a "
                "multilingual sentence-transformers model and ingest again.")

    # ---- whole documents ---------------------------------------------------------------------
    def summarize(self, source: str | Path) -> Answer:
        """A summary of the whole document (not of retrieved passages), every sentence cited with
        exact offsets: its most central sentences, quoted, or with an LLM configured, the model's
        section summaries, each sentence verified against the sentences it cites.
        See `rag.summarize`.

        Raises:
            DocumentNotFound: `source` names no indexed document.
        """
        from .summarize import summarize

        doc = self._stored(source)
        if not self.settings.uses_llm:
            return summarize(doc, self.embedder)
        from . import llm
        from .verification import Verifier

        def writer(system: str, user: str) -> str:
            return llm.complete(llm.chat_model(self.settings), system, user, self.settings)

        return summarize(doc, self.embedder, writer=writer, backend=llm.backend_name(self.settings),
                         verifier=Verifier(self.embedder, self.settings.verify_min_similarity),
                         section_chars=self.settings.summary_section_chars)

    def compare(self, a: str | Path, b: str | Path) -> Answer:
        """What documents `a` and `b` say differently about the same points (another number,
        name, or a negation), as "A: <quote> [n] — B: <quote> [m]" lines cited on both sides.
        See `rag.summarize.compare`.

        Raises:
            DocumentNotFound: `a` or `b` names no indexed document.
        """
        from .summarize import compare

        return compare(self._stored(a), self._stored(b), self.embedder)

    def _stored(self, source: str | Path):
        """The stored document `source` names: its path as indexed, the path made absolute, or
        a file name, stem or title only one indexed document has."""
        from .errors import DocumentNotFound
        from .summarize import source_candidates

        for candidate in (str(source), str(Path(source).expanduser().absolute())):
            doc = self.store.document(candidate)
            if doc is not None:
                return doc
        sources = self.sources()
        named = source_candidates(str(source), sources)
        if len(named) > 1:  # "README" with eight indexed: name them, each by a name that works
            short = self.display_names(sources)
            raise DocumentNotFound(f"{source} names {len(named)} indexed documents: "
                                   f"{', '.join(short[n] for n in named[:10])}{' ...' if len(named) > 10 else ''}; "
                                   "name one of them by its path")
        doc = self.store.document(named[0]) if named else None
        if doc is None:
            raise DocumentNotFound(f"{source} is not in the index at {self.location}: run `rag ingest {source}` "
                                   "first (`rag sources` lists what is indexed)")
        return doc


    def _current_passages(self, query: str, k: int | None, source: str | None, texts: "_StoredTexts") -> list[Passage]:
        """`retrieve`, keeping only passages that are the stored document's text at their offsets.
        The store already drops chunks of a version its view of the manifest does not hold; a
        passage that still differs means another process changed the document since that view
        (checked every few seconds): look at the manifest now and retrieve again, once."""
        passages = self.retrieve(query, k, source)
        stale = [p for p in passages if not texts.holds(p.source, p.start, p.end, p.text)]
        if not stale:
            return passages
        for p in stale:
            log.warning("dropped a passage of %s (%d-%d) that no longer matches the stored text: the index "
                        "changed under this process; retrieving again", p.source, p.start, p.end)
        self.store.refresh()
        texts.clear()
        passages = self.retrieve(query, k, source)
        stale = [p for p in passages if not texts.holds(p.source, p.start, p.end, p.text)]
        for p in stale:
            log.warning("dropped a passage of %s (%d-%d) that does not match the stored text",
                        p.source, p.start, p.end)
        return [p for p in passages if p not in stale]

    def reader(self, history: list[tuple[str, str]] | None = None, threshold: float | None = None,
               documents: Callable[[str], object] | None = None):
        """The extractive reader over this index, as `stream` uses it (`threshold`: another
        abstention threshold, for calibration; `documents`: source -> stored document or None,
        the store's by default)."""
        from .reader import ExtractiveAnswerer

        fetch = documents or self.store.document

        def document(source: str) -> tuple[str, str] | None:
            doc = fetch(source)
            return (doc.title, doc.text) if doc else None

        s = self.settings
        model = None
        if s.reader_model != "none":
            from .reader.model import ReaderModel

            model = ReaderModel.load(None if s.reader_model == "bundled" else s.reader_model)
        return ExtractiveAnswerer(self.embedder, self.store.lexical().idf,
                                  s.abstain_threshold if threshold is None else threshold, s.max_answer_sentences,
                                  previous_answer=history[-1][1] if history else "",
                                  span_weight=s.answer_span_weight, documents=document, model=model,
                                  model_weight=s.reader_weight)

    def as_retriever(self, k: int = 4, source: str | None = None):
        """Hybrid retrieval as a LangChain `BaseRetriever`."""
        from .retrieval import RagRetriever

        return RagRetriever(assistant=self, k=k, source=source)


class _StoredTexts:
    """The stored documents one answer reads, each fetched once: its passages and citations are
    checked against them (`document.text[start:end] == quote`)."""

    def __init__(self, store):
        self.store = store
        self._docs: dict[str, object] = {}

    def __call__(self, source: str):
        if source not in self._docs:
            self._docs[source] = self.store.document(source)
        return self._docs[source]

    def holds(self, source: str, start: int, end: int, quote: str) -> bool:
        doc = self(source)
        return doc is not None and doc.text[start:end] == quote

    def clear(self) -> None:
        self._docs.clear()


def _suspicious_notice(answer: Answer, texts: _StoredTexts) -> str:
    """What the answer says when a document it cites is flagged as suspicious (text phrased as
    instructions to an assistant, `rag sources` marks it): the flag reaches the reader of the
    answer, not only the list of sources (issue 19, item 7)."""
    docs = [texts(s) for s in dict.fromkeys(c.source for c in answer.citations)]
    flagged = [d for d in docs if d is not None and d.suspicious]
    if not flagged:
        return ""
    which = "the source: it holds" if len(flagged) == len(docs) == 1 else (
        "the sources: each holds" if len(flagged) == len(docs) else f"{Path(flagged[0].source).name}: it holds")
    return f"Check {which} {flagged[0].suspicious_reason}, which may be there to steer answers."


def _checked_citations(answer: Answer, texts: _StoredTexts, passages: list[Passage], keep_text: bool) -> Answer:
    """The answer with every citation that is not the stored document's text at its offsets
    dropped (and logged), never shown. `keep_text`: the text was shown already (an LLM's verified
    sentences), so only citations go; otherwise the sentences citing a dropped citation go too,
    the rest renumbered, and an answer left with none is an abstention."""
    bad = [c for c in answer.citations if not texts.holds(c.source, c.start, c.end, c.quote)]
    if not bad:
        return answer
    for c in bad:
        log.warning("dropped citation [%d] of %s (%d-%d): its quote is not the stored document's text there",
                    c.n, c.source, c.start, c.end)
    dropped = {c.n for c in bad}
    kept = [c for c in answer.citations if c.n not in dropped]
    number = {c.n: i for i, c in enumerate(kept, start=1)}
    citations = [replace(c, n=number[c.n]) for c in kept]
    sentences = []
    for sent in answer.sentences:
        ns = tuple(number[n] for n in sent.citations if n in number)
        if keep_text or (ns and not dropped & set(sent.citations)):
            sentences.append(replace(sent, citations=ns))
    if keep_text:
        return replace(answer, citations=citations, sentences=sentences)
    from .reader import abstention, sentence_text

    if not sentences:
        return abstention(passages, answer.notice)
    return replace(answer, text=" ".join(sentence_text(sent) for sent in sentences), citations=citations,
                   sentences=sentences)


def _located(answer: Answer, passages: list[Passage]) -> Answer:
    """The answer with each citation of source code given the line its quote starts on, counted
    from the line of the passage it was taken from (which the chunk's metadata carries), and each
    citation of a document with headings given its section (a chunk never crosses a heading)."""
    citations = []
    for c in answer.citations:
        p = next((p for p in passages if (p.line is not None or p.section is not None) and p.source == c.source
                  and p.start <= c.start <= p.end), None)
        if p is not None:
            line = None if p.line is None else p.line + p.text.count("\n", 0, c.start - p.start)
            c = replace(c, line=line, section=p.section)
        citations.append(c)
    return replace(answer, citations=citations) if citations != answer.citations else answer


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
