"""Document -> Chunks with exact character offsets, built from whole sentences.

Sentences come from `rag.text.split_sentences`, which the answerer and verification use too, so
chunk boundaries and citation boundaries agree. Every span satisfies `text[start:end] == span_text`.

Formats with structure keep it: a `.csv`/`.tsv` row is one unit (a chunk never cuts a row), source
code is cut at top-level definitions (a chunk starts at a `def`/`class`/decorator where it can) and
its chunks carry their first line number; a document with headings (`Document.headings`: Markdown,
reStructuredText, HTML) is cut at them, and each chunk carries the heading of its section.
"""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right

from .text import Span, _append_trimmed, split_sentences  # noqa: F401  (split_sentences re-exported)
from .types import Chunk, Document

ROW_FORMATS = (".csv", ".tsv")
# A top-level definition, per language: where a chunk of source code should start. Decorators and
# `export` go with the definition they introduce.
_DEFINITIONS = {
    ".py": r"(?:@|(?:async\s+)?def\s|class\s)",
    ".js": r"(?:export\s+)?(?:default\s+)?(?:async\s+)?(?:function\b|class\s|const\s+\w+\s*=\s*(?:async\s*)?\()",
    ".ts": r"(?:export\s+)?(?:default\s+)?(?:abstract\s+)?(?:async\s+)?(?:function\b|class\s|interface\s|type\s+\w+\s*=|"
           r"enum\s|const\s+\w+\s*=\s*(?:async\s*)?\()",
    ".go": r"(?:func|type)\s",
    ".java": r"(?:@|(?:(?:public|protected|private|abstract|final|static)\s+)*(?:class|interface|enum|record)\s)",
    ".c": r"(?:[A-Za-z_][\w \t\*]*\([^;]*$|struct\s|typedef\s|#define\s)",
}
_DEFINITIONS[".h"] = _DEFINITIONS[".c"]


def _split_long(text: str, span: Span, size: int) -> list[Span]:
    """Cut a sentence longer than `size` at whitespace (or hard, when there is none)."""
    pieces: list[Span] = []
    a = span.start
    while span.end - a > size:
        window_end = a + size
        cut = text.rfind(" ", a + size // 2, window_end)
        b = cut if cut > a else window_end
        _append_trimmed(text, a, b, pieces)
        a = b
    _append_trimmed(text, a, span.end, pieces)
    return pieces


def chunk_document(doc: Document, size: int = 800, overlap: int = 150) -> list[Chunk]:
    """Group whole sentences into chunks of at most `size` characters; consecutive chunks share
    up to `overlap` characters of trailing sentences so an answer on a boundary is found whole.

    A chunk never crosses a page break, so its page is the page of every sentence it holds
    (and of every citation taken from it); likewise it never crosses a heading, so its section
    is the section of every sentence it holds. Nor does it hold the document's furniture (running
    headers, footers, page numbers): chunks are cut from `doc.body()` only.

    The units grouped depend on the format (`_units`): a CSV row is kept whole, and source code
    is grouped by top-level definition, a definition longer than `size` getting chunks of its own."""
    sentences: list[Span] = []
    keys: list[tuple] = []  # (body range, block): a chunk never spans furniture nor a cut definition
    for region, (a, b) in enumerate(doc.body()):
        for s, block in _units(doc, a, b, size):
            pieces = _split_long(doc.text, s, size) if s.end - s.start > size else [s]
            sentences.extend(pieces)
            keys.extend([(region, block)] * len(pieces))
    heading_starts = [h.start for h in doc.headings]
    sections = [bisect_right(heading_starts, s.start) for s in sentences]  # 0: before the first heading
    blocks = [(doc.page_at(s.start), k, n) for s, k, n in zip(sentences, keys, sections)]
    code = _suffix(doc.source) in _DEFINITIONS
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i
        while (j + 1 < len(sentences) and sentences[j + 1].end - sentences[i].start <= size
               and blocks[j + 1] == blocks[i]):
            j += 1
        start, end = sentences[i].start, sentences[j].end
        section = doc.headings[sections[i] - 1].title if sections[i] else None
        chunks.append(_make_chunk(doc, start, end, len(chunks), code, section))
        if j + 1 >= len(sentences):
            break
        if blocks[j + 1] != blocks[j]:  # a new page (body range, definition, section) starts afresh: no overlap
            i = j + 1
            continue
        # Step back over trailing sentences that fit in the overlap, but always move forward.
        nxt = j + 1
        while nxt - 1 > i and sentences[j].end - sentences[nxt - 1].start <= overlap:
            nxt -= 1
        i = nxt
    return chunks


def _suffix(source: str) -> str:
    name = source.replace("\\", "/").rsplit("/", 1)[-1]
    return "." + name.rsplit(".", 1)[-1].lower() if "." in name else ""


def _units(doc: Document, a: int, b: int, size: int) -> list[tuple[Span, int]]:
    """The spans of doc.text[a:b] that chunks are built from, each with the block it belongs to:
    consecutive units of one block may share a chunk, units of different blocks only when both
    are whole. Sentences for prose; rows for CSV; for source code, whole top-level definitions,
    or the lines of one longer than `size` (its own block)."""
    suffix = _suffix(doc.source)
    if suffix in ROW_FORMATS:
        return [(s, 0) for s in _rows(doc.text, a, b)]
    if suffix in _DEFINITIONS:
        units: list[tuple[Span, int]] = []
        for k, (x, y) in enumerate(_definitions(doc.text, a, b, suffix), start=1):
            whole: list[Span] = []
            _append_trimmed(doc.text, x, y, whole)
            if whole and whole[0].end - whole[0].start > size:
                units += [(s, k) for s in _lines(doc.text, x, y)]
            else:
                units += [(s, 0) for s in whole]
        return units
    return [(s, 0) for s in split_sentences(doc.text, a, b)]


def _rows(text: str, a: int, b: int) -> list[Span]:
    """The rows of CSV text: a line break ends a row unless it falls inside a quoted field."""
    rows: list[Span] = []
    cut, quoted = a, False
    for i in range(a, b):
        ch = text[i]
        if ch == '"':
            quoted = not quoted
        elif ch == "\n" and not quoted:
            _append_trimmed(text, cut, i, rows)
            cut = i + 1
    _append_trimmed(text, cut, b, rows)
    return rows


def _lines(text: str, a: int, b: int) -> list[Span]:
    out: list[Span] = []
    cut = a
    while cut < b:
        nl = text.find("\n", cut, b)
        stop = b if nl < 0 else nl
        _append_trimmed(text, cut, stop, out)
        cut = stop + 1
    return out


def _definitions(text: str, a: int, b: int, suffix: str) -> list[tuple[int, int]]:
    """text[a:b] cut where a top-level definition starts (a line at column 0 matching the
    language's `_DEFINITIONS`; a decorator and the definition under it stay together)."""
    pattern = re.compile(_DEFINITIONS[suffix])
    cuts = [a]
    previous = ""  # the last non-blank line
    at = a
    while at < b:
        nl = text.find("\n", at, b)
        stop = b if nl < 0 else nl
        line = text[at:stop]
        if at > a and line[:1].strip() and pattern.match(line) and not previous.startswith("@"):
            cuts.append(at)
        if line.strip():
            previous = line
        at = stop + 1
    return list(zip(cuts, cuts[1:] + [b]))


def line_at(text: str, offset: int) -> int:
    """The 1-based line number of `offset` in `text`."""
    return text.count("\n", 0, offset) + 1


def _make_chunk(doc: Document, start: int, end: int, ordinal: int, code: bool = False,
                section: str | None = None) -> Chunk:
    key = f"{doc.source}\x00{doc.content_hash}\x00{ordinal}\x00{start}:{end}"
    return Chunk(
        id=hashlib.sha1(key.encode("utf-8", "surrogatepass")).hexdigest(),
        source=doc.source,
        title=doc.title,
        text=doc.text[start:end],
        start=start,
        end=end,
        content_hash=doc.content_hash,
        page=doc.page_at(start),
        line=line_at(doc.text, start) if code else None,
        section=section,
    )
