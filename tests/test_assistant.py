"""The Assistant facade: the seed question end to end, incremental ingest kept in step across the
dense and lexical indexes, and bad input reported per file without harming the index."""

from __future__ import annotations

import os
from pathlib import Path

from support import (SEED_FILE, SEEDS, assert_index_consistent, chunk_records, make_docx, make_eml, make_epub,
                     make_odt, make_pdf, make_pptx, make_report_pdf, make_scanned_pdf)

import pytest

from rag import Assistant, ConfigError
from rag.config import load_settings

OLD_TEXT = "The zebra called Quagga grazes near the Etosha pan every dry season."
NEW_TEXT = "The pelican called Percival nests on the Walvis Bay lagoon every spring."
OTHER_TEXT = "Lighthouses guide ships along the Skeleton Coast at night."


def lexical_hits(assistant: Assistant, query: str, source: str) -> list[str]:
    return [cid for cid, _ in assistant.store.lexical().search(query, 10, source=source)]


# ---- the seed question -----------------------------------------------------------------------

def test_seed_question_names_head_of_intelligence_in_misrata(seed_assistant):
    answer = seed_assistant.ask("who is Ismail Shukri?")
    assert not answer.abstained
    assert "head of intelligence" in answer.text and "Misrata" in answer.text


def test_seed_answer_cites_the_seed_article(seed_assistant):
    answer = seed_assistant.ask("who is Ismail Shukri?", history=[])
    assert len(answer.citations) >= 1
    assert {c.source for c in answer.citations} == {str(SEED_FILE)}


def test_answer_reports_its_timings(seed_assistant):
    timings = seed_assistant.ask("who is Ismail Shukri?").timings_ms
    assert set(timings) >= {"retrieve", "answer", "total"} and timings["total"] > 0


def test_seed_index_lists_the_seed_article(seed_assistant):
    [info] = seed_assistant.sources()
    assert info.source == str(SEED_FILE) and info.chunks >= 3 and info.indexed_at
    assert_index_consistent(seed_assistant)


def test_ensure_seeded_indexes_seeds_into_an_empty_index_once(tmp_path):
    assistant = Assistant(index_dir=tmp_path / "index", seed_dir=SEEDS)
    first = assistant.ensure_seeded()
    assert first is not None and first.added == [str(SEED_FILE)]
    assert assistant.ensure_seeded() is None


# ---- incremental ingest ----------------------------------------------------------------------

def test_reingest_unchanged_file_embeds_nothing(fresh_assistant, docs_dir):
    (docs_dir / "zebra.txt").write_text(OLD_TEXT)
    first = fresh_assistant.ingest([docs_dir])
    assert first.chunks_embedded > 0
    embedded_before = fresh_assistant.embedder.texts_embedded
    again = fresh_assistant.ingest([docs_dir])
    assert again.chunks_embedded == 0
    assert fresh_assistant.embedder.texts_embedded == embedded_before
    assert again.unchanged == [str(docs_dir / "zebra.txt")] and not again.added and not again.updated


def test_reingest_in_a_new_process_embeds_nothing(tmp_path, docs_dir):
    (docs_dir / "zebra.txt").write_text(OLD_TEXT)
    Assistant(index_dir=tmp_path / "index").ingest([docs_dir])
    reopened = Assistant(index_dir=tmp_path / "index")
    assert reopened.ingest([docs_dir]).chunks_embedded == 0
    assert reopened.embedder.texts_embedded == 0


def test_changed_file_replaces_its_chunks_in_the_dense_index(fresh_assistant, docs_dir):
    path = docs_dir / "animal.txt"
    path.write_text(OLD_TEXT)
    fresh_assistant.ingest([docs_dir])
    old_ids = set(chunk_records(fresh_assistant, str(path)))
    path.write_text(NEW_TEXT)
    report = fresh_assistant.ingest([docs_dir])
    assert report.updated == [str(path)]
    records = chunk_records(fresh_assistant, str(path))
    assert old_ids.isdisjoint(records)
    assert not any("Quagga" in r["text"] for r in records.values())
    assert fresh_assistant.store.chunks.get(where_document={"$contains": "Quagga"})["ids"] == []


def test_changed_file_replaces_its_chunks_in_the_lexical_index(fresh_assistant, docs_dir):
    path = docs_dir / "animal.txt"
    path.write_text(OLD_TEXT)
    (docs_dir / "other.txt").write_text(OTHER_TEXT)
    fresh_assistant.ingest([docs_dir])
    old_ids = set(chunk_records(fresh_assistant, str(path)))
    assert lexical_hits(fresh_assistant, "Quagga", str(path))  # findable before the change
    path.write_text(NEW_TEXT)
    fresh_assistant.ingest([docs_dir])
    assert old_ids.isdisjoint(fresh_assistant.store.lexical().ids)
    assert lexical_hits(fresh_assistant, "Quagga", str(path)) == []
    assert_index_consistent(fresh_assistant)


def test_changed_file_new_text_is_findable(fresh_assistant, docs_dir):
    path = docs_dir / "animal.txt"
    path.write_text(OLD_TEXT)
    (docs_dir / "other.txt").write_text(OTHER_TEXT)
    fresh_assistant.ingest([docs_dir])
    path.write_text(NEW_TEXT)
    fresh_assistant.ingest([docs_dir])
    assert lexical_hits(fresh_assistant, "Percival pelican", str(path))
    top = fresh_assistant.retrieve("Where does the pelican Percival nest?", k=1)[0]
    assert top.source == str(path) and "Walvis Bay" in top.text


def test_prune_drops_deleted_file_from_both_indexes_and_sources(fresh_assistant, docs_dir):
    gone, kept = docs_dir / "gone.txt", docs_dir / "kept.txt"
    gone.write_text(OLD_TEXT)
    kept.write_text(OTHER_TEXT)
    fresh_assistant.ingest([docs_dir])
    gone.unlink()
    report = fresh_assistant.ingest([docs_dir], prune=True)
    assert report.removed == [str(gone)]
    assert [s.source for s in fresh_assistant.sources()] == [str(kept)]
    assert chunk_records(fresh_assistant, str(gone)) == {}
    assert lexical_hits(fresh_assistant, "Quagga zebra", str(gone)) == []
    assert_index_consistent(fresh_assistant)


def test_ingest_without_prune_keeps_deleted_files(fresh_assistant, docs_dir):
    gone = docs_dir / "gone.txt"
    gone.write_text(OLD_TEXT)
    fresh_assistant.ingest([docs_dir])
    gone.unlink()
    assert fresh_assistant.ingest([docs_dir]).removed == []
    assert [s.source for s in fresh_assistant.sources()] == [str(gone)]


def test_remove_drops_document_from_both_indexes(fresh_assistant, docs_dir):
    target, other = docs_dir / "zebra.txt", docs_dir / "other.txt"
    target.write_text(OLD_TEXT)
    other.write_text(OTHER_TEXT)
    fresh_assistant.ingest([docs_dir])
    assert fresh_assistant.remove(target) is True
    assert [s.source for s in fresh_assistant.sources()] == [str(other)]
    assert chunk_records(fresh_assistant, str(target)) == {}
    assert lexical_hits(fresh_assistant, "Quagga", str(target)) == []
    assert fresh_assistant.document(str(target)) is None
    assert_index_consistent(fresh_assistant)


def test_remove_accepts_a_relative_path(fresh_assistant, docs_dir, monkeypatch):
    (docs_dir / "zebra.txt").write_text(OLD_TEXT)
    fresh_assistant.ingest([docs_dir])
    monkeypatch.chdir(docs_dir)
    assert fresh_assistant.remove("zebra.txt") is True
    assert fresh_assistant.sources() == []


def test_remove_unknown_document_returns_false(fresh_assistant, docs_dir):
    (docs_dir / "zebra.txt").write_text(OLD_TEXT)
    fresh_assistant.ingest([docs_dir])
    assert fresh_assistant.remove(docs_dir / "never-indexed.txt") is False
    assert len(fresh_assistant.sources()) == 1


# ---- bad input -------------------------------------------------------------------------------

def test_bad_files_are_reported_and_good_files_still_ingested(fresh_assistant, docs_dir, tmp_path):
    good = {
        "latin1.txt": (docs_dir / "latin1.txt", "café"),  # written below in Latin-1
        "notes.txt": (docs_dir / "notes.txt", OTHER_TEXT),
        "zebra.md": (docs_dir / "zebra.md", OLD_TEXT),
        "page.html": (docs_dir / "page.html", f"<html><body><p>{NEW_TEXT}</p></body></html>"),
    }
    for path, text in good.values():
        path.write_text(text, encoding="latin-1" if path.name == "latin1.txt" else "utf-8")
    make_pdf(docs_dir / "survey.pdf", ["Otters returned to the river in 2021."])
    make_docx(docs_dir / "memo.docx", ["The budget for 2025 is 40 pounds."])
    bad = {
        "empty.txt": b"",
        "corrupt.pdf": b"%PDF-1.4\n\x8f\x01garbage",
        "fake.pdf": b"this is not a pdf",
        "fake.docx": b"neither is this a docx",
    }
    not_text = {
        "binary.txt": b"\x00\x01\x02\x03" * 64,
        "photo.jpg": b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01",  # a JPEG's first bytes
        "notes.tar.gz": b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + bytes(range(256)),
    }
    for name, data in {**bad, **not_text}.items():
        (docs_dir / name).write_bytes(data)
    os.symlink(docs_dir, docs_dir / "loop")
    missing = tmp_path / "missing.txt"

    report = fresh_assistant.ingest([docs_dir, missing])

    failed = {Path(f.path).name: f.reason for f in report.failed}
    assert set(failed) == {*bad, "loop", "missing.txt"}
    assert all(reason.strip() for reason in failed.values())
    # not text and no reader of its own: skipped, which is no failure (issue 18)
    assert {Path(f.path).name: "skipped" in f.reason for f in report.skipped} == dict.fromkeys(not_text, True)
    assert sorted(Path(p).name for p in report.added) == sorted([*good, "survey.pdf", "memo.docx"])
    assert_index_consistent(fresh_assistant)


def test_ingest_of_only_bad_input_leaves_the_index_empty_and_consistent(fresh_assistant, docs_dir):
    (docs_dir / "empty.txt").write_bytes(b"")
    report = fresh_assistant.ingest([docs_dir, docs_dir / "missing.md"])
    assert len(report.failed) == 2 and not report.added
    assert fresh_assistant.sources() == []
    assert_index_consistent(fresh_assistant)


def test_file_that_turns_bad_keeps_its_previous_version(fresh_assistant, docs_dir):
    path = docs_dir / "zebra.txt"
    path.write_text(OLD_TEXT)
    fresh_assistant.ingest([docs_dir])
    path.write_bytes(b"\x00\x00 now binary")
    report = fresh_assistant.ingest([docs_dir])
    assert [f.path for f in report.skipped] == [str(path)] and not report.failed
    assert fresh_assistant.document(str(path)).text == OLD_TEXT
    assert_index_consistent(fresh_assistant)


def test_file_over_the_size_limit_is_reported(tmp_path, docs_dir):
    (docs_dir / "big.txt").write_text(OLD_TEXT * 20)
    (docs_dir / "small.txt").write_text(OTHER_TEXT)
    assistant = Assistant(index_dir=tmp_path / "index", max_file_mb=0.001)
    report = assistant.ingest([docs_dir])
    assert [(Path(f.path).name, "limit" in f.reason) for f in report.failed] == [("big.txt", True)]
    assert [Path(p).name for p in report.added] == ["small.txt"]


def test_non_ascii_file_names_are_indexed(fresh_assistant, docs_dir):
    path = docs_dir / "café notes — été.txt"
    path.write_text(OLD_TEXT)
    assert fresh_assistant.ingest([docs_dir]).added == [str(path)]
    assert fresh_assistant.retrieve("zebra Quagga", k=1)[0].source == str(path)


def test_citations_of_a_windows_text_file_match_the_file_read_as_text(fresh_assistant, docs_dir):
    path = docs_dir / "dos.txt"
    path.write_bytes(f"Field notes.\r\n\r\n{OTHER_TEXT}\r\n{OLD_TEXT}\r\n".encode())
    fresh_assistant.ingest([docs_dir])
    answer = fresh_assistant.ask("Where does the zebra called Quagga graze?")
    assert answer.citations
    for c in answer.citations:
        assert path.read_text(encoding="utf-8")[c.start:c.end] == c.quote


def test_pdf_citations_carry_page_numbers(fresh_assistant, docs_dir):
    make_pdf(docs_dir / "survey.pdf", ["Herons nest in the tall reeds of the north marsh.",
                                       "The lighthouse at Kestrel Point is painted crimson."])
    fresh_assistant.ingest([docs_dir])
    answer = fresh_assistant.ask("What colour is the lighthouse at Kestrel Point?")
    assert not answer.abstained and "crimson" in answer.text
    document = fresh_assistant.document(str(docs_dir / "survey.pdf"))
    for c in answer.citations:
        assert document.text[c.start:c.end] == c.quote
        assert c.page == (2 if "crimson" in c.quote else 1)


REPORT_FACTS = [
    ["The heron colony at Black Loch grew to 41 nests.", "Volunteers ringed twelve heron chicks there."],
    ["Otters were seen at the Mill Weir on nine evenings.", "Their holt lies under the alder roots."],
    ["The lighthouse at Kestrel Point is painted crimson.", "Its lamp was converted to solar power."],
    [],  # a scanned page: no text layer
    ["Water voles returned to the Fenwick ditches in spring.", "Mink rafts found no mink this year."],
    ["The survey budget for 2025 is 18,000 pounds.", "Most of it pays for the boat and the fuel."],
    ["Bitterns boomed at dawn in the southern reed bed.", "Three males were heard calling at once."],
]
REPORT_HEADER = "Northern Wetlands Survey 2024 - Internal Draft"


def test_pdf_report_chunks_leave_out_headers_and_footers_and_cite_their_page(fresh_assistant, docs_dir):
    path = make_report_pdf(docs_dir / "survey.pdf", REPORT_FACTS, REPORT_HEADER)
    report = fresh_assistant.ingest([docs_dir])
    assert report.added == [str(path)]
    assert [(f.path, f.reason) for f in report.notices] == [(str(path), "page 4 has no text layer (scanned?)")]
    document = fresh_assistant.document(str(path))
    chunks = chunk_records(fresh_assistant).values()
    assert chunks
    for c in chunks:
        start, end, page = c["meta"]["start"], c["meta"]["end"], c["meta"]["page"]
        assert document.text[start:end] == c["text"]
        assert "Wetlands Survey" not in c["text"] and " of 7" not in c["text"]
        assert any(line in c["text"] for line in REPORT_FACTS[page - 1])  # the page it says
    for question, page in [("What colour is the lighthouse at Kestrel Point?", 3),
                           ("How many nests does the heron colony at Black Loch have?", 1),
                           ("What is the survey budget for 2025?", 6)]:
        answer = fresh_assistant.ask(question)
        assert not answer.abstained and answer.citations
        for c in answer.citations:
            assert document.text[c.start:c.end] == c.quote
            assert c.page == next(p.number for p in document.pages if p.start <= c.start and c.end <= p.end)
            assert "Wetlands Survey" not in c.quote
        assert answer.citations[0].page == page


# ---- settings --------------------------------------------------------------------------------

def test_overrides_apply_on_top_of_given_settings(tmp_path):
    settings = load_settings(index_dir=tmp_path / "a")
    assistant = Assistant(settings=settings, top_k="8", llm="none", chunk_size=None)
    assert (assistant.settings.top_k, assistant.settings.llm) == (8, "none")
    assert assistant.settings.chunk_size == settings.chunk_size  # None keeps the setting
    assert settings.top_k == 5  # the caller's settings are left as they were


def test_an_invalid_or_unknown_override_is_a_config_error(tmp_path):
    settings = load_settings(index_dir=tmp_path / "a")
    with pytest.raises(ConfigError, match="chunk_size"):
        Assistant(settings=settings, chunk_size=3)
    with pytest.raises(ConfigError, match="unknown setting top_kk"):
        Assistant(settings=settings, top_kk=3)
    with pytest.raises(ConfigError, match="unknown setting"):
        Assistant(index_dir=tmp_path / "b", top_kk=3)


# ---- real folders: every text file, any encoding ---------------------------------------------

REAL_FOLDER = {  # name: (text, encoding it is written in, encodings a correct reading may report)
    "README": ("Heron survey\n\nThis folder holds the notes of the heron survey on the\nriver Wey. The "
               "survey counts nests every spring, and the\ncounts are kept in the table beside this file.\n\n"
               "Volunteers meet at the old mill at nine in the\nmorning; bring boots and a flask.\n",
               "utf-8", {"utf-8"}),
    "CHANGELOG": ("2024-04-02  Added the Guildford counts.\n2024-05-10  Fixed the date of the first visit.\n",
                  "utf-8", {"utf-8"}),
    "notes-latin1.txt": ("Le héron cendré niche près du moulin. Les oeufs éclosent après vingt-cinq jours; "
                         "la colonie compte désormais quarante nids à côté de la rivière.",
                         "latin-1", {"cp1252", "iso8859-1"}),
    "letter-cp1252.txt": ("The warden wrote: \u201cThe fee is \u20ac12 per visit \u2014 payable at the mill.\u201d "
                          "Visitors\u2019 boots must be clean.", "cp1252", {"cp1252"}),
    "report-utf16.txt": ("\ufeffThe UTF-16 report: forty nests were counted in April, and the egrets "
                         "returned to the marsh in May.", "utf-16-le", {"utf-16"}),
    "japanese-sjis.txt": ("サギの調査。春に川沿いの巣を数えます。今年は四十の巣がありました。"
                          "ボランティアは朝九時に古い水車小屋に集まります。", "shift_jis", {"cp932", "shift_jis"}),
    "counts.csv": ("site,year,nests\nold mill,2023,36\nold mill,2024,40\nweir,2024,12\n", "utf-8", {"utf-8"}),
    "tally.py": ('"""Count the nests per site."""\n\n\ndef tally(rows):\n    return {r["site"]: int(r["nests"]) '
                 'for r in rows}\n', "utf-8", {"utf-8"}),
}


@pytest.fixture
def real_folder(docs_dir) -> Path:
    for name, (text, encoding, _) in REAL_FOLDER.items():
        (docs_dir / name).write_bytes(text.encode(encoding))
    (docs_dir / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4)
    return docs_dir


def test_a_real_folder_indexes_every_text_file_in_its_encoding_and_reports_the_binary(fresh_assistant,
                                                                                       real_folder):
    report = fresh_assistant.ingest([real_folder])

    assert sorted(Path(p).name for p in report.added) == sorted(REAL_FOLDER)
    assert [(Path(f.path).name, "binary" in f.reason) for f in report.skipped] == [("photo.png", True)]
    assert report.failed == []
    encodings = {Path(s.source).name: s.encoding for s in fresh_assistant.sources()}
    for name, (text, _, reported) in REAL_FOLDER.items():
        assert encodings[name] in reported, name
        stored = fresh_assistant.document(str(real_folder / name))
        assert stored.text == text.lstrip("\ufeff") and stored.encoding == encodings[name]
    for source, chunk in ((r["meta"]["source"], r) for r in chunk_records(fresh_assistant).values()):
        text = fresh_assistant.document(source).text
        assert text[chunk["meta"]["start"]:chunk["meta"]["end"]] == chunk["text"]
    assert_index_consistent(fresh_assistant)


def test_a_question_about_a_latin1_file_cites_its_decoded_text(fresh_assistant, real_folder):
    fresh_assistant.ingest([real_folder])
    answer = fresh_assistant.ask("Où niche le héron cendré ?")
    source = str(real_folder / "notes-latin1.txt")
    assert source in {c.source for c in answer.citations}
    for c in answer.citations:
        assert fresh_assistant.document(c.source).text[c.start:c.end] == c.quote


# ---- formats with structure ------------------------------------------------------------------

STRUCTURED_CSV = "site,year,nests,notes\n" + "".join(
    f'site {i},{2000 + i},{i * 3},"counted at dawn by volunteer {i},\nwith binoculars"\n' for i in range(40))
STRUCTURED_PY = '"""Nest counting helpers."""\n\nimport csv\n' + "".join(
    f'\n\ndef count_site_{i}(rows):\n    """Return the nests counted at site {i}, summed over every year."""\n'
    f'    return sum(int(r["nests"]) for r in rows if r["site"] == "site {i}")\n' for i in range(12)) + (
    '\n\nclass Survey:\n    """The heron survey of one spring."""\n\n    def __init__(self, path):\n'
    '        self.path = path\n')
STRUCTURED_MD = ("# Heron survey\n\nThe survey counts heron nests along the river every spring.\n\n"
                 "## Volunteers\n\nThe volunteers meet at the old watermill at nine in the morning.\n")


@pytest.fixture
def structured_folder(docs_dir) -> Path:
    (docs_dir / "counts.csv").write_text(STRUCTURED_CSV)
    (docs_dir / "nests.py").write_text(STRUCTURED_PY)
    (docs_dir / "survey.md").write_text(STRUCTURED_MD)
    return docs_dir


def test_csv_and_code_chunks_keep_their_structure_and_code_chunks_carry_line_numbers(fresh_assistant,
                                                                                   structured_folder):
    report = fresh_assistant.ingest([structured_folder])
    assert len(report.added) == 3 and not report.failed
    records = list(chunk_records(fresh_assistant).values())
    for record in records:  # every chunk is the stored text at its offsets
        meta = record["meta"]
        assert fresh_assistant.document(meta["source"]).text[meta["start"]:meta["end"]] == record["text"]

    csv_chunks = [r for r in records if r["meta"]["source"].endswith("counts.csv")]
    assert len(csv_chunks) > 3
    for r in csv_chunks:  # every chunk ends where a row does: after a whole quoted note
        assert r["text"].endswith(("notes", 'with binoculars"')), r["text"][-40:]
        assert "line" not in r["meta"]

    py_chunks = [r for r in records if r["meta"]["source"].endswith("nests.py")]
    assert len(py_chunks) > 1
    for r in py_chunks:
        meta = r["meta"]
        assert meta["line"] == STRUCTURED_PY.count("\n", 0, meta["start"]) + 1
        assert meta["start"] == 0 or r["text"].startswith(("def ", "class ")), r["text"][:40]

    passages = fresh_assistant.retrieve("nests counted at site 7", k=10)
    code = [p for p in passages if p.source.endswith("nests.py")]
    assert code and all(p.line == STRUCTURED_PY.count("\n", 0, p.start) + 1 for p in code)
    assert all(p.line is None for p in passages if not p.source.endswith("nests.py"))


def test_a_citation_of_source_code_names_its_line(fresh_assistant, structured_folder):
    fresh_assistant.ingest([structured_folder])
    answer = fresh_assistant.ask("What does the function count_site_7 return?")
    code = [c for c in answer.citations if c.source.endswith("nests.py")]
    assert code, answer.text
    for c in code:
        assert c.line == STRUCTURED_PY.count("\n", 0, c.start) + 1
        assert answer.to_dict()["citations"][c.n - 1]["line"] == c.line
    assert all("line" not in c for c in answer.to_dict()["citations"] if not c["source"].endswith(".py"))


def test_markdown_chunks_and_citations_name_their_section(fresh_assistant, structured_folder):
    fresh_assistant.ingest([structured_folder])
    source = str(structured_folder / "survey.md")
    records = chunk_records(fresh_assistant, source).values()
    assert sorted((r["text"].split("\n")[0], r["meta"]["section"]) for r in records) == [
        ("# Heron survey", "Heron survey"), ("## Volunteers", "Volunteers")]
    answer = fresh_assistant.ask("Where do the volunteers meet?")
    cited = [c for c in answer.citations if c.source == source]
    assert cited and all(c.section == "Volunteers" for c in cited), answer.text
    assert all(c["section"] == "Volunteers" for c in answer.to_dict()["citations"] if c["source"] == source)


# ---- .pptx, .odt, .epub, .eml and scanned PDFs, through the whole pipeline ----------------------

@pytest.fixture(scope="module")
def formats_assistant(tmp_path_factory) -> tuple[Assistant, Path]:
    """An index of one file per format, each holding the answer to one question (FORMAT_QUESTIONS)."""
    folder = tmp_path_factory.mktemp("formats")
    make_pptx(folder / "plans.pptx", [
        ("Travel", ["Trains are booked for the spring trip."], ""),
        ("Budget", ["The kayak budget for the estuary survey is 340 pounds."], "Ask Ruth before spending it.")])
    make_odt(folder / "memo.odt", [("h", "Introduction"), ("p", "The memo covers the whole year."),
                                   ("h", "Storage"), ("p", "The survey nets are stored in the boathouse at Kinloss.")])
    make_epub(folder / "book.epub", [("Chapter One: The Hills", ["The burn rises on the moor."]),
                                     ("Chapter Two: The Firth", ["Bottlenose dolphins feed at Chanonry Point."])])
    make_eml(folder / "dates.eml", "Survey dates", "Ann Smith <ann@example.org>",
             "Hello all,\n\nThe otter survey starts on the fourth of May at the old mill.\n\nAnn")
    make_scanned_pdf(folder / "scan.pdf", [["The ferry timetable changes in winter."],
                                           ["The lighthouse keeper counted seventeen gannets."]])
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("formats-index"))
    report = assistant.ingest([folder])
    assert len(report.added) == 5 and not report.failed, report.failed
    return assistant, folder


FORMAT_QUESTIONS = [  # (question, file, words of the cited sentence, page, section)
    ("What is the kayak budget for the estuary survey?", "plans.pptx", "340 pounds", 2, "Slide 2: Budget"),
    ("Where are the survey nets stored?", "memo.odt", "boathouse at Kinloss", None, "Storage"),
    ("Where do bottlenose dolphins feed?", "book.epub", "Chanonry Point", None, "Chapter Two: The Firth"),
    ("When does the otter survey start?", "dates.eml", "fourth of May", None, None),
    ("How many gannets did the lighthouse keeper count?", "scan.pdf", "seventeen gannets", 2, None),
]


@pytest.mark.parametrize("question, name, words, page, section", FORMAT_QUESTIONS)
def test_each_format_is_answered_with_a_citation_of_its_stored_text_and_place(formats_assistant, question, name,
                                                                               words, page, section):
    assistant, folder = formats_assistant
    answer = assistant.ask(question)
    cited = [c for c in answer.citations if c.source == str(folder / name)]
    assert not answer.abstained and cited, answer.text
    text = assistant.document(str(folder / name)).text
    assert all(text[c.start:c.end] == c.quote for c in cited)
    assert any(words in c.quote for c in cited), [c.quote for c in cited]
    assert all(c.page == page and c.section == section for c in cited if words in c.quote)


def test_email_subject_is_its_title_and_ocr_pages_are_listed(formats_assistant):
    assistant, folder = formats_assistant
    sources = {Path(s.source).name: s for s in assistant.sources()}
    assert sources["dates.eml"].title == "Survey dates"
    assert sources["scan.pdf"].ocr_pages == (1, 2) and sources["scan.pdf"].page_count == 2
    assert sources["dates.eml"].page_count == 0
    assert all(s.ocr_pages == () for name, s in sources.items() if name != "scan.pdf")
    assert assistant.store.document(str(folder / "scan.pdf")).ocr_pages == (1, 2)


# ---- files read as a reader sees them: hard wraps, inline HTML (issue 18) ---------------------

FERRY = ("The ferry to Isle Morven leaves every\nTuesday at seven in the morning from\nthe north pier and comes back from\n"
         "Kilbrannan at five.\n\nTickets are sold on board. Bicycles\ntravel free when there is room.\n")

README_PARAGRAPHS = [
    "Kestrel is a small build system with a focus on speed. It reads a build file written by a generator "
    "and runs only the commands whose inputs changed since the last build.",
    "To install Kestrel, unpack the release tarball into a folder of your choice and run the bootstrap "
    "script found at its top, which compiles the single binary and copies it to the folder named by "
    "the PREFIX variable, by default the local bin folder under your home directory.",
    "The cache of finished commands is kept in a hidden folder next to the build file, so removing that "
    "folder makes the next run build every target again from the beginning.",
]


@pytest.fixture(scope="module")
def reader_assistant(tmp_path_factory) -> tuple[Assistant, Path]:
    import shutil
    import textwrap

    folder = tmp_path_factory.mktemp("reading")
    (folder / "ferry.txt").write_text(FERRY)
    (folder / "README").write_text("Kestrel\n=======\n\n" + "\n\n".join(textwrap.fill(p, 72) for p in README_PARAGRAPHS)
                                   + "\n")
    for page in ("users-and-groups.html", "build-manual.html"):
        shutil.copy(Path(__file__).parent / "data" / "pages" / page, folder / page)
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("reading-index"))
    report = assistant.ingest([folder])
    assert len(report.added) == 4 and not report.failed
    return assistant, folder


def cited_quotes(assistant: Assistant, answer) -> list[str]:
    """The citations' quotes, each checked against the stored text of its document."""
    for c in answer.citations:
        assert assistant.document(c.source).text[c.start:c.end] == c.quote
    return [" ".join(c.quote.split()) for c in answer.citations]


def test_a_sentence_hard_wrapped_in_a_narrow_column_is_answered_whole(reader_assistant):
    assistant, folder = reader_assistant
    answer = assistant.ask("When does the ferry to Isle Morven leave?")
    assert not answer.abstained
    assert ("The ferry to Isle Morven leaves every Tuesday at seven in the morning from the north pier and comes "
            "back from Kilbrannan at five.") in cited_quotes(assistant, answer)
    assert "Tuesday at seven" in answer.text


def test_a_readme_wrapped_at_72_columns_is_answered_in_whole_sentences(reader_assistant):
    assistant, folder = reader_assistant
    answer = assistant.ask("Where does the bootstrap script copy the Kestrel binary?")
    assert README_PARAGRAPHS[1] in cited_quotes(assistant, answer)
    answer = assistant.ask("What happens when the cache folder is removed?")
    assert README_PARAGRAPHS[2] in cited_quotes(assistant, answer)


def test_an_html_value_in_inline_markup_is_in_the_answer_with_its_section(reader_assistant):
    assistant, folder = reader_assistant
    answer = assistant.ask("What is the shell of user sync?")
    assert "The shell of user sync is /bin/sync." in " ".join(answer.text.split())
    cited = [c for c in answer.citations if c.source.endswith("users-and-groups.html")]
    assert cited and cited[0].section == "Static ids"
    cited_quotes(assistant, answer)


def test_a_docbook_manual_answer_is_a_whole_sentence_under_its_own_heading(reader_assistant):
    assistant, folder = reader_assistant
    answer = assistant.ask("Which file does Kestrel look for by default?")
    quotes = cited_quotes(assistant, answer)
    assert any("it looks for a file named build.kestrel in the current directory" in q for q in quotes), quotes
    manual = [c for c in answer.citations if c.source.endswith("build-manual.html")]
    assert manual and {c.section for c in manual} == {"2. Running Kestrel"}
    answer = assistant.ask("What does the release tarball unpack into?")
    manual = [c for c in answer.citations if c.source.endswith("build-manual.html")]
    assert manual and manual[0].section == "3. Tarball Extraction" and "kestrel-1.4.0" in answer.text


# ---- questions in another language (issue 18) -------------------------------------------------

@pytest.mark.parametrize("question, language", [("Où les commandants de l'État islamique se réfugient-ils ?", "French"),
                                                ("Warum ziehen die Kommandeure nach Libyen?", "German")])
def test_a_question_in_another_language_that_finds_nothing_says_the_model_reads_english(seed_assistant, question,
                                                                                         language):
    answer = seed_assistant.ask(question)
    assert answer.abstained
    assert f"looks {language}" in answer.notice and "reads English" in answer.notice
    assert "RAG_EMBEDDING_MODEL" in answer.notice


def test_an_english_question_that_finds_nothing_has_no_language_notice(seed_assistant):
    answer = seed_assistant.ask("What is the boiling point of mercury?")
    assert answer.abstained and "reads English" not in answer.notice
