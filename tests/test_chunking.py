"""Properties of sentence splitting and chunking on arbitrary Unicode text: offsets are exact,
nothing is lost, sentences are clean and in order."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rag.chunking import chunk_document, split_sentences
from rag.types import Document

# Arbitrary Unicode, plus text built from the characters sentence splitting cares about, so that
# abbreviations, quotes after full stops, blank lines and over-long "sentences" all come up often.
prose_alphabet = st.sampled_from(list("ab Mr.Dr! ?\n\r\t\"')]”’é漢 \u00a0\u2028") + ["e.g.", "Mr. ", ". ", "\n\n"])
texts = st.one_of(st.text(max_size=1500), st.lists(prose_alphabet, max_size=600).map("".join))
sizes = st.integers(min_value=50, max_value=400)


def make_doc(text: str) -> Document:
    return Document(source="/tmp/doc.txt", text=text, title="t", content_hash="h")


def chunks_for(text: str, size: int, overlap_share: float):
    return chunk_document(make_doc(text), size=size, overlap=int(size * overlap_share))


overlaps = st.floats(min_value=0.0, max_value=1.0)


@given(texts, sizes, overlaps)
def test_chunk_text_is_the_document_span(text, size, overlap_share):
    for chunk in chunks_for(text, size, overlap_share):
        assert chunk.text == text[chunk.start:chunk.end]


@given(texts, sizes, overlaps)
def test_chunks_cover_every_non_whitespace_character(text, size, overlap_share):
    covered = [False] * len(text)
    for chunk in chunks_for(text, size, overlap_share):
        covered[chunk.start:chunk.end] = [True] * (chunk.end - chunk.start)
    missed = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert missed == []


@given(texts, sizes, overlaps)
def test_chunks_are_non_empty_ordered_and_within_size(text, size, overlap_share):
    chunks = chunks_for(text, size, overlap_share)
    assert all(0 < c.end - c.start <= size for c in chunks)
    assert [c.start for c in chunks] == sorted(c.start for c in chunks)
    assert len({c.start for c in chunks}) == len(chunks)  # every chunk moves forward


@given(texts, sizes, overlaps)
def test_chunk_ids_are_unique(text, size, overlap_share):
    chunks = chunks_for(text, size, overlap_share)
    assert len({c.id for c in chunks}) == len(chunks)


@given(texts)
def test_sentences_are_non_empty_trimmed_ordered_and_disjoint(text):
    spans = split_sentences(text)
    for s in spans:
        assert 0 <= s.start < s.end <= len(text)
        assert not text[s.start].isspace() and not text[s.end - 1].isspace()
    for a, b in zip(spans, spans[1:]):
        assert a.end <= b.start


@given(texts)
def test_sentences_cover_every_non_whitespace_character(text):
    covered = [False] * len(text)
    for s in split_sentences(text):
        covered[s.start:s.end] = [True] * (s.end - s.start)
    assert [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]] == []


@settings(max_examples=50)
@given(st.text(max_size=300), st.text(max_size=300))
def test_sentences_of_a_slice_stay_inside_the_slice(before, middle):
    text = before + middle
    spans = split_sentences(text, len(before), len(text))
    assert all(len(before) <= s.start and s.end <= len(text) for s in spans)


def test_abbreviations_do_not_end_a_sentence():
    text = "Mr. Smith met Dr. Jones in the U.S. on Monday. They talked."
    assert [text[s.start:s.end] for s in split_sentences(text)] == [
        "Mr. Smith met Dr. Jones in the U.S. on Monday.", "They talked."]


def test_overlap_repeats_trailing_sentences_of_the_previous_chunk():
    text = " ".join(f"Sentence number {i} is here." for i in range(40))
    chunks = chunk_document(make_doc(text), size=200, overlap=60)
    assert len(chunks) > 2
    assert all(b.start < a.end for a, b in zip(chunks, chunks[1:]))


def paged_doc(page_texts: list[str]) -> Document:
    """Pages joined the way the PDF loader joins them."""
    from rag.loaders import join_pages

    text, pages = join_pages(page_texts)
    return Document(source="/tmp/doc.pdf", text=text, title="t", content_hash="h", pages=tuple(pages))


page_texts = st.lists(texts.map(str.strip).filter(bool), min_size=1, max_size=5)


@given(page_texts, sizes, overlaps)
def test_chunks_never_cross_a_page_break(pages, size, overlap_share):
    doc = paged_doc(pages)
    for chunk in chunk_document(doc, size=size, overlap=int(size * overlap_share)):
        assert chunk.page == doc.page_at(chunk.start) == doc.page_at(chunk.end - 1)


@given(page_texts, sizes, overlaps)
def test_paged_chunks_cover_every_non_whitespace_character(pages, size, overlap_share):
    doc = paged_doc(pages)
    covered = [False] * len(doc.text)
    for chunk in chunk_document(doc, size=size, overlap=int(size * overlap_share)):
        assert chunk.text == doc.text[chunk.start:chunk.end]
        covered[chunk.start:chunk.end] = [True] * (chunk.end - chunk.start)
    assert [i for i, ch in enumerate(doc.text) if not ch.isspace() and not covered[i]] == []
