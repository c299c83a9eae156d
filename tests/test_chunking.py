"""Properties of sentence splitting and chunking on arbitrary Unicode text: offsets are exact,
nothing is lost, sentences are clean and in order."""

from __future__ import annotations

import pytest
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


# ---- formats with structure: CSV rows, source code -------------------------------------------

csv_cells = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",), exclude_characters='"\n\r'),
                    max_size=40)
csv_rows = st.lists(st.lists(st.one_of(csv_cells, csv_cells.map(lambda c: f'"{c}\n{c}"')), min_size=1, max_size=6)
                    .map(",".join), min_size=1, max_size=40)


def row_ends(text: str) -> set[int]:
    """Where the rows of CSV text end: every line break outside a quoted field, and the end."""
    ends, quoted = {len(text.rstrip())}, False
    for i, ch in enumerate(text):
        if ch == '"':
            quoted = not quoted
        elif ch == "\n" and not quoted:
            ends.add(i)
    return ends


@given(csv_rows, sizes, overlaps)
def test_csv_chunks_end_on_row_ends_unless_a_row_is_longer_than_a_chunk(rows, size, overlap_share):
    text = "\n".join(rows) + "\n"
    doc = Document(source="/tmp/table.csv", text=text, title="t", content_hash="h")
    ends = row_ends(text)
    for chunk in chunk_document(doc, size=size, overlap=int(size * overlap_share)):
        assert chunk.text == text[chunk.start:chunk.end] and chunk.line is None
        row_at_end = max((e for e in ends if e < chunk.end), default=-1)  # the row the chunk ends in
        next_end = min(e for e in ends if e >= chunk.end)
        assert (chunk.end in ends or text[chunk.end:next_end].strip() == ""
                or next_end - row_at_end > size), (chunk.text, text[chunk.end:next_end])


def test_tsv_rows_are_kept_whole():
    text = "".join(f"{i}\tsite number {i}\t{i * 7} nests counted this spring\n" for i in range(40))
    doc = Document(source="/tmp/table.tsv", text=text, title="t", content_hash="h")
    chunks = chunk_document(doc, size=200, overlap=50)
    assert len(chunks) > 3
    for chunk in chunks:
        assert chunk.start == 0 or text[chunk.start - 1] == "\n"
        assert text[chunk.end] == "\n"


PYTHON = '''"""A module about nests."""

import os


def tally(rows):
    """Count the nests per site."""
    return {r["site"]: int(r["nests"]) for r in rows}


@cached
def busiest(rows):
    return max(rows, key=lambda r: r["nests"])


class Survey:
    """A season's survey."""

    def __init__(self, sites):
        self.sites = sites
''' + "".join(f'''

def helper_{i}(value):
    """Helper number {i}: scale the value and add a constant so it is long enough."""
    scaled = value * {i}
    return scaled + {i * 3}
''' for i in range(12))


def test_python_chunks_start_at_top_level_definitions_and_carry_their_line():
    doc = Document(source="/tmp/nests.py", text=PYTHON, title="t", content_hash="h")
    chunks = chunk_document(doc, size=300, overlap=80)
    assert len(chunks) > 5
    lines = PYTHON.split("\n")
    for chunk in chunks:
        assert chunk.text == PYTHON[chunk.start:chunk.end]
        assert chunk.line == PYTHON.count("\n", 0, chunk.start) + 1
        assert lines[chunk.line - 1].startswith(chunk.text.split("\n")[0])
        first = chunk.text.split("\n")[0]
        assert chunk.start == 0 or first.startswith(("def ", "class ", "@")), first
    assert any(c.text.startswith("@cached\ndef busiest") for c in chunks)  # the decorator stays with its def


def test_a_definition_longer_than_a_chunk_is_cut_at_line_ends_and_keeps_to_itself():
    body = "".join(f"    total += rows[{i}] * {i}  # add the weighted count of row {i}\n" for i in range(30))
    text = f"def long_one(rows):\n    total = 0\n{body}    return total\n\n\ndef short(x):\n    return x\n"
    doc = Document(source="/tmp/long.py", text=text, title="t", content_hash="h")
    chunks = chunk_document(doc, size=400, overlap=100)
    assert chunks[0].text.startswith("def long_one") and chunks[-1].text == "def short(x):\n    return x"
    assert chunks[-1].line == text.count("\n", 0, text.index("def short")) + 1
    for chunk in chunks[:-1]:
        assert text[chunk.end] == "\n" and "def short" not in chunk.text


@pytest.mark.parametrize("suffix, text, starts", [
    (".js", "const a = 1;\n\nfunction one() {\n  return 1;\n}\n\nexport class Two {\n}\n",
     ["function one", "export class Two"]),
    (".go", "package main\n\nfunc one() int {\n\treturn 1\n}\n\ntype Two struct {\n}\n", ["func one", "type Two"]),
    (".c", "#include <stdio.h>\n\nint one(void)\n{\n\treturn 1;\n}\n\nstruct two {\n\tint x;\n};\n",
     ["int one", "struct two"]),
])
def test_other_languages_are_cut_at_top_level_definitions(suffix, text, starts):
    doc = Document(source="/tmp/code" + suffix, text=text, title="t", content_hash="h")
    chunks = chunk_document(doc, size=30, overlap=0)
    firsts = [c.text for c in chunks]
    for start in starts:
        assert any(f.startswith(start) for f in firsts), firsts
    assert all(c.line == text.count("\n", 0, c.start) + 1 for c in chunks)


@given(texts, sizes, overlaps, st.sampled_from([".py", ".csv", ".js", ".c"]))
def test_structured_chunks_are_document_spans_covering_the_text(text, size, overlap_share, suffix):
    doc = Document(source="/tmp/doc" + suffix, text=text, title="t", content_hash="h")
    chunks = chunk_document(doc, size=size, overlap=int(size * overlap_share))
    covered = [False] * len(text)
    for chunk in chunks:
        assert chunk.text == text[chunk.start:chunk.end] and 0 < chunk.end - chunk.start <= size
        covered[chunk.start:chunk.end] = [True] * (chunk.end - chunk.start)
    assert [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]] == []
    assert [c.start for c in chunks] == sorted({c.start for c in chunks})


# ---- sections: Markdown, reStructuredText, HTML headings -------------------------------------

def test_markdown_chunks_never_cross_a_heading_and_carry_its_title():
    from rag.loaders import find_headings
    from rag.types import Heading

    text = ("Preface line.\n\n# Herons\n\n" + "Herons nest early in the spring. " * 12 + "\n\n## Egrets\n\n"
            + "Egrets come later. " * 3 + "\n")
    doc = Document(source="/tmp/guide.md", text=text, title="t", content_hash="h",
                   headings=tuple(Heading(a, t) for a, t in find_headings(text, ".md")))
    chunks = chunk_document(doc, size=200, overlap=50)
    assert chunks[0].text == "Preface line." and chunks[0].section is None
    assert chunks[1].text.startswith("# Herons") and chunks[-1].text.startswith("## Egrets")
    herons, egrets = text.index("# Herons"), text.index("## Egrets")
    for chunk in chunks[1:]:
        assert chunk.text == text[chunk.start:chunk.end]
        assert chunk.section == ("Herons" if chunk.start < egrets else "Egrets")
        assert not chunk.start < egrets < chunk.end and not chunk.start < herons < chunk.end


@given(texts, sizes, overlaps)
def test_markdown_chunks_are_document_spans_covering_the_text(text, size, overlap_share):
    from rag.loaders import find_headings
    from rag.types import Heading

    heads = tuple(Heading(a, t) for a, t in find_headings(text, ".md"))
    doc = Document(source="/tmp/doc.md", text=text, title="t", content_hash="h", headings=heads)
    covered = [False] * len(text)
    for chunk in chunk_document(doc, size=size, overlap=int(size * overlap_share)):
        assert chunk.text == text[chunk.start:chunk.end]
        before = [h for h in heads if h.start <= chunk.start]
        assert chunk.section == (before[-1].title if before else None)
        assert not any(chunk.start < h.start < chunk.end and text[h.start:chunk.start].strip() for h in heads)
        covered[chunk.start:chunk.end] = [True] * (chunk.end - chunk.start)
    assert [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]] == []
