"""The typed objects that flow between pipeline stages: files -> Document -> Chunk -> Passage -> Answer.

Offsets are character offsets into `Document.text` (the text rag extracted from the file), so for
every Chunk, Passage and Citation `document.text[start:end] == text` holds.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Page:
    """Where one page of a paginated source (PDF) lies in the extracted text."""

    number: int  # 1-based
    start: int
    end: int


@dataclass(frozen=True)
class Furniture:
    """A running header or footer, or a page number, on one page of a paginated source: a line
    repeated across pages. It stays in `Document.text` (offsets stay exact, the viewer shows the
    page as printed) but is never part of a chunk, so it is never retrieved or cited."""

    page: int
    start: int
    end: int


@dataclass(frozen=True)
class Heading:
    """A heading of a structured text (Markdown, reStructuredText, HTML): where its line starts in
    the extracted text, and its words. The section it opens runs to the next heading."""

    start: int
    title: str


@dataclass(frozen=True)
class Document:
    source: str  # absolute path (or the name given at upload)
    text: str  # the decoded text: what every offset points into
    title: str
    content_hash: str  # of the file's bytes
    pages: tuple[Page, ...] = ()
    encoding: str = ""  # the text encoding the bytes were decoded from ("utf-8", "cp1252"...); "" for PDF, DOCX
    furniture: tuple[Furniture, ...] = ()  # headers, footers, page numbers: in the text, never chunked
    notices: tuple[str, ...] = ()  # what could not be read inside the file ("page 3 has no text layer (scanned?)")
    # Why the text looks like instructions to an assistant ("ignore previous instructions", "the
    # password is"): the first such phrase and where it is; "" for ordinary text. Set at ingest.
    suspicious: str = ""
    headings: tuple[Heading, ...] = ()  # Markdown, reStructuredText, HTML, ODT, EPUB, PPTX headings, in text order
    # PDF pages without a text layer whose text was read by OCR (tesseract) from their image: it
    # may hold misread words, so the document says so (`rag sources`, the documents API).
    ocr_pages: tuple[int, ...] = ()

    def body(self) -> list[tuple[int, int]]:
        """The (start, end) ranges of the text chunks are cut from: all of it but the furniture."""
        ranges, at = [], 0
        for f in sorted(self.furniture, key=lambda f: f.start):
            if f.start > at:
                ranges.append((at, f.start))
            at = max(at, f.end)
        if at < len(self.text):
            ranges.append((at, len(self.text)))
        return ranges

    def page_at(self, offset: int) -> int | None:
        for page in self.pages:
            if page.start <= offset < page.end:
                return page.number
        return None


@dataclass(frozen=True)
class Chunk:
    id: str
    source: str
    title: str
    text: str
    start: int
    end: int
    content_hash: str  # hash of the whole document this chunk came from
    page: int | None = None
    line: int | None = None  # source code: the 1-based line the chunk starts on
    section: str | None = None  # the heading of the section holding the chunk (Markdown, .rst, HTML)


@dataclass(frozen=True)
class Passage:
    """A retrieved chunk with its relevance score (higher is better)."""

    text: str
    source: str
    start: int
    end: int
    score: float
    chunk_id: str = ""
    title: str = ""
    page: int | None = None
    dense_score: float = 0.0  # cosine similarity to the query, 0 when found only lexically
    line: int | None = None  # source code: the 1-based line the passage starts on
    section: str | None = None  # the heading of the section holding the passage (Markdown, .rst, HTML)


@dataclass(frozen=True)
class Question:
    """What a question asks for, as the reader understands it (see `rag.reader.analyse`)."""

    text: str
    kind: str  # person | place | organisation | title | number | date | reason | definition | thing | other
    subject: str = ""  # for "who is X?": X
    names: tuple[str, ...] = ()  # capitalised names the question mentions
    numbers: tuple[str, ...] = ()  # years and other numbers the question mentions
    asks_code: bool = False  # a question about a command, function or option may be answered by code
    focus: str = ""  # the noun of "which show ...?": where the answer is named ("the show Squid Game")
    # The named things a choice question asks between ("Who was born first, X or Y?") or a yes/no
    # question names together ("Are X and Y both American?"); see `rag.choices`.
    options: tuple[str, ...] = ()
    yes_no: bool = False  # the question asks yes or no ("Are X and Y both ...?", "Is X a Y?")


@dataclass(frozen=True)
class ReaderSpan:
    """What rag's reader model reads in one sentence: `margin`, how far its best answer span
    scores above "no answer here" (logits; above 0 the model reads an answer), and that span's
    document offsets [start, end)."""

    margin: float
    start: int
    end: int


@dataclass(frozen=True)
class Evidence:
    """A sentence of a retrieved passage, with the signals used to rank it as the answer.
    `document.text[start:end] == text`; `answer_start:answer_end` (document offsets) is the span
    that answers the question, when the reader found one."""

    text: str
    source: str
    start: int
    end: int
    page: int | None
    similarity: float  # cosine(question, sentence)
    coverage: float  # IDF-weighted share of the question's words found in the sentence or its neighbours
    score: float
    matched: frozenset[str] = frozenset()  # the question's (stemmed) words the sentence itself holds
    answer_start: int | None = None
    answer_end: int | None = None
    reader: ReaderSpan | None = None  # the reader model's reading, when the model is in use
    model_term: float = 0.0  # what the reader model added to `score`

    @property
    def rule_score(self) -> float:
        """The rules' score alone."""
        return self.score - self.model_term

    @property
    def answer(self) -> str:
        """The answer span's text, or ''."""
        if self.answer_start is None or self.answer_end is None:
            return ""
        return self.text[self.answer_start - self.start: self.answer_end - self.start]


@dataclass(frozen=True)
class ValueDifference:
    """One slot that two sentences about the same subject fill with different values."""

    kind: str  # number | date | name | description (what a named subject is: "a retired banker")
    slot: str  # the (stemmed) word before the values, "award" of "awarded to X", "" when none; for a
    # description, the subject it describes: "Ismail Shukri"
    first: str  # the value as the first sentence writes it: "Dunmore Roofing Ltd"
    second: str  # as the second writes it: "Castlebar Builders"


@dataclass(frozen=True)
class Disagreement:
    """Two sentences of different documents that state different values for the same subject and
    slot (see `rag.disagreement`). `first` is the one the answer chose."""

    first: Evidence
    second: Evidence
    differences: tuple[ValueDifference, ...]
    newer: str = ""  # the source that is a newer version of the other one, when it is one
    version: str = ""  # why it reads as newer: "final, not draft", "dated 19 March 2026, not 12 March 2026"


@dataclass(frozen=True)
class Citation:
    n: int
    source: str
    start: int
    end: int
    quote: str
    score: float
    page: int | None = None
    line: int | None = None  # source code: the 1-based line the quote starts on
    section: str | None = None  # the heading of the section holding the quote (Markdown, .rst, HTML)


@dataclass(frozen=True)
class AnswerSentence:
    """One sentence of an answer and the citations ([n]) that support it."""

    text: str
    citations: tuple[int, ...]
    supported: bool = True
    quoted: bool = True  # the source's own words; False for a sentence an LLM wrote (and verification passed)


@dataclass(frozen=True)
class Answer:
    text: str
    citations: list[Citation]
    abstained: bool
    see_also: list[Passage] = field(default_factory=list)
    sentences: list[AnswerSentence] = field(default_factory=list)
    backend: str = "none"
    notice: str = ""
    timings_ms: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict:
        return {
            "answer": self.text,
            "abstained": self.abstained,
            "citations": [
                {"n": c.n, "source": c.source, "start": c.start, "end": c.end, "quote": c.quote,
                 "score": round(c.score, 4), "page": c.page, **({"line": c.line} if c.line is not None else {}),
                 **({"section": c.section} if c.section is not None else {})}
                for c in self.citations
            ],
            "see_also": [
                {"source": p.source, "start": p.start, "end": p.end, "text": p.text, "score": round(p.score, 4)}
                for p in self.see_also
            ],
            "sentences": [
                {"text": s.text, "citations": list(s.citations), "supported": s.supported, "quoted": s.quoted}
                for s in self.sentences
            ],
            "backend": self.backend,
            "notice": self.notice,
            "timings_ms": {k: round(v, 1) for k, v in self.timings_ms.items()},
        }


class Reply:
    """A streamed answer, as `Assistant.stream` returns it: iterate for the answer's text in
    pieces, each piece already verified, then ask for the whole verified `Answer`.

        reply = assistant.stream(question, history)
        for piece in reply: print(piece, end="")
        answer = reply.answer()

    The pieces joined are exactly `answer().text`: nothing shown is ever taken back."""

    def __init__(self, items):
        self._items = items  # a generator of str pieces, then one Answer
        self._answer: Answer | None = None

    def __iter__(self):
        for item in self._items:
            if isinstance(item, Answer):
                self._answer = item
            else:
                yield item

    def answer(self) -> Answer:
        """The verified Answer (runs the rest of the stream if it was not iterated)."""
        if self._answer is None:
            for _ in self:
                pass
        if self._answer is None:
            raise RuntimeError("the answer stream ended without an answer")
        return self._answer

    def close(self) -> None:
        """Stop producing (the client went away)."""
        self._items.close()


@dataclass(frozen=True)
class ParseLimits:
    """What reading one file may cost (`rag.loaders.load`); None: no limit. Over any of them the
    file is reported with the reason (`FileError`) and nothing of it is indexed."""

    max_bytes: int | None = None  # the file's size (RAG_MAX_FILE_MB)
    max_chars: int | None = None  # characters extracted from the whole file (RAG_MAX_TEXT_MB)
    max_page_chars: int | None = None  # characters extracted from one PDF page (RAG_MAX_PAGE_CHARS)
    # Every format with a reader of its own (PDF and its OCR, DOCX, HTML, PPTX, ODT, EPUB, EML) is
    # parsed in a separate process, killed after this many seconds (RAG_PARSE_TIMEOUT_S); plain
    # text is decoded in-process. None: everything in-process.
    timeout_s: float | None = None


@dataclass(frozen=True)
class FileError:
    """A file (or a part of one, in `IngestReport.notices`) that could not be indexed, and why."""

    path: str
    reason: str
    # Not text and no reader of its own (a photo, an archive): skipped, which is not a failure.
    skipped: bool = False


@dataclass
class IngestReport:
    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    failed: list[FileError] = field(default_factory=list)
    chunks_embedded: int = 0
    # Files whose content was indexed under another name that is gone (renamed or moved): re-keyed
    # with the stored vectors, nothing embedded. `moved_from[i]` is the old name of `moved[i]`; a
    # move is one event, so the old name is not in `removed`.
    moved: list[str] = field(default_factory=list)
    moved_from: list[str] = field(default_factory=list)
    # Parts of indexed files that could not be read, one per problem ("page 3 has no text layer
    # (scanned?)"); the rest of each file is indexed.
    notices: list[FileError] = field(default_factory=list)
    # Files that are not text and have no reader of its own (photos, archives, programs): not
    # indexed, and not a failure either.
    skipped: list[FileError] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "removed": self.removed,
            "failed": [{"path": f.path, "reason": f.reason} for f in self.failed],
            "chunks_embedded": self.chunks_embedded,
            "moved": self.moved,
            "moved_from": self.moved_from,
            "notices": [{"path": f.path, "reason": f.reason} for f in self.notices],
            "skipped": [{"path": f.path, "reason": f.reason} for f in self.skipped],
        }


@dataclass(frozen=True)
class SourceInfo:
    """One indexed document as listed by `rag sources`."""

    source: str
    title: str
    chunks: int
    indexed_at: str  # ISO 8601, UTC
    content_hash: str
    encoding: str = ""  # detected text encoding of the file ("utf-8", "cp1252", "utf-16"...); "" for PDF, DOCX
    # The document holds text phrased as instructions to an assistant (rag.suspicious.INSTRUCTION):
    # it may be there to steer answers. `suspicious_reason` quotes the first such phrase.
    suspicious: bool = False
    suspicious_reason: str = ""
    ocr_pages: tuple[int, ...] = ()  # PDF pages whose text was read by OCR (it may hold misread words)
    page_count: int = 0  # pages of a PDF, slides of a PPTX; 0 for a document without pages
