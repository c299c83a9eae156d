"""Document -> Chunks with exact character offsets, built from whole sentences.

Sentences come from `rag.text.split_sentences`, which the answerer and verification use too, so
chunk boundaries and citation boundaries agree. Every span satisfies `text[start:end] == span_text`.
"""

from __future__ import annotations

import hashlib

from .text import Span, _append_trimmed, split_sentences  # noqa: F401  (split_sentences re-exported)
from .types import Chunk, Document


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
    (and of every citation taken from it). Nor does it hold the document's furniture (running
    headers, footers, page numbers): chunks are cut from `doc.body()` only."""
    sentences: list[Span] = []
    regions: list[int] = []  # which body range each sentence is in: a chunk never spans furniture
    for region, (a, b) in enumerate(doc.body()):
        for s in split_sentences(doc.text, a, b):
            pieces = _split_long(doc.text, s, size) if s.end - s.start > size else [s]
            sentences.extend(pieces)
            regions.extend([region] * len(pieces))
    blocks = [(doc.page_at(s.start), r) for s, r in zip(sentences, regions)]  # (page, body range)
    chunks: list[Chunk] = []
    i = 0
    while i < len(sentences):
        j = i
        while (j + 1 < len(sentences) and sentences[j + 1].end - sentences[i].start <= size
               and blocks[j + 1] == blocks[i]):
            j += 1
        start, end = sentences[i].start, sentences[j].end
        chunks.append(_make_chunk(doc, start, end, len(chunks)))
        if j + 1 >= len(sentences):
            break
        if blocks[j + 1] != blocks[j]:  # a new page (or body range) starts afresh: no overlap across
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
