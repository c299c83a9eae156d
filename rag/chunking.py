"""Document -> Chunks with exact character offsets, built from whole sentences.

`split_sentences` is also what the answerer uses to pick evidence, so chunk boundaries and
citation boundaries agree. Every span satisfies `text[start:end] == span_text`.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

from .types import Chunk, Document


@dataclass(frozen=True)
class Span:
    start: int
    end: int


# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by whitespace, or at a line break.
_BOUNDARY = re.compile(r"""(?<=[.!?])["'”’)\]]*(?=\s+)|\n""")
_MAX_QUOTED = 400  # longer quotations are split at sentence ends after all
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "fig",
                  "inc", "ltd", "co", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
                  "sept", "oct", "nov", "dec", "gen", "gov", "sen", "rep", "col", "lt", "sgt", "capt", "mt"}


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans in text[start:end], trimmed of surrounding whitespace, never empty."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    cut = start
    for m in _BOUNDARY.finditer(text, start, end):
        stop = m.end()
        if text[m.start() - 1: m.start()] == "." and m.group(0) != "\n":
            word = re.search(r"([\w.]+)\.$", text[max(cut, m.start() - 12): m.start()])
            if word and (word.group(1).lower() in _ABBREVIATIONS or len(word.group(1)) == 1):
                continue  # "Mr. Smith", "J. Smith": not a sentence end
        if m.group(0) != "\n" and stop - cut < _MAX_QUOTED and _inside_quote(text[cut:stop]):
            continue  # keep a quotation of several sentences whole: it is one statement by one speaker
        _append_trimmed(text, cut, stop, spans)
        cut = stop
    _append_trimmed(text, cut, end, spans)
    return spans


def _inside_quote(segment: str) -> bool:
    return segment.count('"') % 2 == 1 or segment.count("“") > segment.count("”")


def _append_trimmed(text: str, a: int, b: int, out: list[Span]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if a < b:
        out.append(Span(a, b))


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
    (and of every citation taken from it)."""
    sentences: list[Span] = []
    for s in split_sentences(doc.text):
        sentences.extend(_split_long(doc.text, s, size) if s.end - s.start > size else [s])
    pages = [doc.page_at(s.start) for s in sentences]
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i
        while (j + 1 < len(sentences) and sentences[j + 1].end - sentences[i].start <= size
               and pages[j + 1] == pages[i]):
            j += 1
        start, end = sentences[i].start, sentences[j].end
        chunks.append(_make_chunk(doc, start, end, len(chunks)))
        if j + 1 >= len(sentences):
            break
        if pages[j + 1] != pages[j]:  # a new page starts afresh: no overlap across the break
            i = j + 1
            continue
        # Step back over trailing sentences that fit in the overlap, but always move forward.
        nxt = j + 1
        while nxt - 1 > i and sentences[j].end - sentences[nxt - 1].start <= overlap:
            nxt -= 1
        i = nxt
    return chunks


def _make_chunk(doc: Document, start: int, end: int, ordinal: int) -> Chunk:
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
    )
