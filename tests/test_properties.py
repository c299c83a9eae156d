"""Properties on arbitrary Unicode text (hypothesis): chunks cover the text, and every citation's
quote is exactly `text[start:end]`, whether the answerer sees chunks directly or answers through the
whole pipeline (file -> loader -> Chroma -> retrieval -> answer). Chunking's own properties live in
tests/test_chunking.py."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from rag import Assistant
from rag.reader import ExtractiveAnswerer
from rag.chunking import chunk_document
from rag.types import Document, Passage

# Words from many scripts, separated by the characters that decide sentence and chunk boundaries.
_word = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=12)
_sep = st.sampled_from([" ", "  ", ". ", "! ", "? ", ".\n", "\n", "\n\n", "\r\n", "\t", "\u00a0", "\u2028",
                        "\u3002", ".\" ", "” ", " “", "Mr. ", "e.g. ", "…", "\u200b", "\ufeff"])
_text = st.lists(st.tuples(_word, _sep), min_size=1, max_size=120).map(lambda ps: "".join(w + s for w, s in ps))
_sizes = st.tuples(st.integers(50, 400), st.integers(0, 120))


@pytest.fixture(scope="module")
def assistant(tmp_path_factory):
    return Assistant(index_dir=tmp_path_factory.mktemp("props") / "index",
                     seed_dir=tmp_path_factory.mktemp("no-seeds"))


def _doc(text: str) -> Document:
    return Document(source="/doc.txt", text=text, title="t",
                    content_hash=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest())


def _passages(doc: Document, size: int, overlap: int) -> list[Passage]:
    return [Passage(text=c.text, source=c.source, start=c.start, end=c.end, score=1.0, chunk_id=c.id)
            for c in chunk_document(doc, size, overlap)]


@given(text=_text, sizes=_sizes)
@settings(max_examples=150, deadline=None)
def test_chunks_cover_every_visible_character(text, sizes):
    doc = _doc(text)
    covered = bytearray(len(text))
    for p in _passages(doc, *sizes):
        assert text[p.start:p.end] == p.text
        covered[p.start:p.end] = b"\x01" * (p.end - p.start)
    assert all(covered[i] or text[i].isspace() for i in range(len(text)))


@given(text=_text, question=_text, sizes=_sizes)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_citation_quote_matches_source_span(assistant, text, question, sizes):
    doc = _doc(text)
    # threshold -10: never abstain (a broken constraint costs 1, a non-answer 1), so every example has citations
    answerer = ExtractiveAnswerer(assistant.embedder, lambda t: 1.0, threshold=-10.0, max_sentences=3)
    answer = answerer.answer(question, _passages(doc, *sizes))
    assert answer.citations or not text.strip()
    for c in answer.citations:
        assert c.quote and text[c.start:c.end] == c.quote


@given(text=_text, pick=st.integers(0, 10_000))
@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_citations_through_the_whole_pipeline_point_into_the_stored_text(assistant, tmp_path, text, pick):
    assume(text.strip() and "\x00" not in text)  # NUL means binary to the loader (tests/test_hostile_input.py)
    path = tmp_path / "doc.txt"
    path.write_bytes(text.encode("utf-8"))
    report = assistant.ingest([path])
    assert not report.failed, report.failed
    stored = assistant.document(str(path.absolute()))
    words = stored.text.split()
    question = words[pick % len(words)] if words else text
    for c in assistant.ask(question).citations:
        source_text = assistant.document(c.source).text
        assert source_text[c.start:c.end] == c.quote
