"""Disagreement notes (issue 18, item 3): two documents disagree when they state different values
for the same subject and slot; the note names what differs and cites both, and says which
document is a newer version of the other. Passages that only share a topic word get no note.
Real model, real Chroma."""

from __future__ import annotations

import pytest

from rag.disagreement import differences, newer_version

DRAFT = """Board minutes, 12 March 2026 (DRAFT)

Present: Aoife Walsh (chair), Brendan Kelly, Ciara Nolan, Declan Byrne.

1. Roof repairs. The contract for the community hall roof repairs was awarded to Castlebar Builders.
The board approved a budget of €45,800 for the roof repairs, to be paid from the reserve fund.
Work is expected to start in May.

2. Summer festival. The festival committee will report at the next meeting.
"""

FINAL = """Board minutes, 12 March 2026 (FINAL)

Present: Aoife Walsh (chair), Brendan Kelly, Ciara Nolan, Declan Byrne.

1. Roof repairs. The contract for the community hall roof repairs was awarded to Dunmore Roofing Ltd.
The board approved a budget of €48,500 for the roof repairs, to be paid from the reserve fund.
Work is expected to start in May.

2. Summer festival. The festival committee will report at the next meeting.
"""

ZSTD = """Zstandard README

Zstandard, or zstd as short version, is a fast lossless compression algorithm, targeting
real-time compression scenarios at zlib-level and better compression ratios.

Testing. The CI runs the fuzzers and the regression tests on GitHub Actions for every pull request,
on Linux, macOS and Windows.
"""

CHANGELOG = """libfoo changelog

Version 2.3. The CI badge in the README now links to the build status page. Fixed a crash when
the configuration file is empty. Thanks to Maria Lopez for the report.
"""


@pytest.fixture
def minutes(fresh_assistant, docs_dir):
    (docs_dir / "minutes-2026-03-12-draft.txt").write_text(DRAFT, encoding="utf-8")
    (docs_dir / "minutes-2026-03-12-final.txt").write_text(FINAL, encoding="utf-8")
    report = fresh_assistant.ingest([docs_dir])
    assert len(report.added) == 2 and not report.failed
    return fresh_assistant


@pytest.mark.parametrize("question, final_says, draft_says", [
    ("Who was the roof repair contract awarded to?", "Dunmore Roofing Ltd", "Castlebar Builders"),
    ("What budget did the board approve for the roof repairs?", "€48,500", "€45,800"),
])
def test_final_and_draft_minutes_get_a_note_naming_both_values_and_citing_both(minutes, question, final_says,
                                                                               draft_says):
    answer = minutes.ask(question)
    assert not answer.abstained
    cited = {c.source.rsplit("/", 1)[-1]: c for c in answer.citations}
    assert set(cited) == {"minutes-2026-03-12-draft.txt", "minutes-2026-03-12-final.txt"}, answer.citations
    final, draft = cited["minutes-2026-03-12-final.txt"], cited["minutes-2026-03-12-draft.txt"]
    assert "disagree" in answer.notice, answer.notice
    assert f"minutes-2026-03-12-final.txt [{final.n}] says {final_says}" in answer.notice, answer.notice
    assert f"minutes-2026-03-12-draft.txt [{draft.n}] says {draft_says}" in answer.notice, answer.notice
    assert "minutes-2026-03-12-final.txt is a newer version of minutes-2026-03-12-draft.txt (final, not draft)" \
        in answer.notice, answer.notice
    assert final_says in final.quote and draft_says in draft.quote
    assert answer.citations[0] is final  # the newer version leads


def test_unrelated_passages_sharing_a_topic_word_get_no_note(fresh_assistant, docs_dir):
    (docs_dir / "zstd-README.txt").write_text(ZSTD, encoding="utf-8")
    (docs_dir / "libfoo-changelog.txt").write_text(CHANGELOG, encoding="utf-8")
    fresh_assistant.ingest([docs_dir])
    for question in ("What does zstd's CI run?", "Where does the CI run?"):
        answer = fresh_assistant.ask(question)
        assert "disagree" not in answer.notice, (question, answer.text, answer.notice)


def test_the_same_value_written_twice_ways_is_no_disagreement():
    assert differences("The board approved a budget of €48,500.", "The board approved a budget of 48,500 euros.") == ()
    assert differences("CI tests run on Travis and AppVeyor.", "CI tests run on Travis.") == ()  # one says more


def test_a_different_subject_is_no_disagreement():
    assert differences("Zstandard's CI runs on GitHub Actions for every pull request.",
                       "LZ4's CI runs on Travis for every pull request.") == ()


@pytest.mark.parametrize("a, b, values", [
    ("The contract was awarded to Dunmore Roofing Ltd.", "The contract was awarded to Castlebar Builders.",
     [("Dunmore Roofing Ltd", "Castlebar Builders")]),
    ("The meeting was held on 12 March 2026.", "The meeting was held on March 19, 2026.",
     [("12 March 2026", "March 19, 2026")]),
    ("The hall seats 120 people.", "The hall seats 150 people.", [("120", "150")]),
])
def test_a_different_value_in_the_same_slot_is_a_disagreement(a, b, values):
    assert [(d.first, d.second) for d in differences(a, b)] == values


@pytest.mark.parametrize("a, b, newer, why", [
    (("/d/minutes-draft.txt", "Board minutes (draft)"), ("/d/minutes-final.txt", "Board minutes (final)"),
     "/d/minutes-final.txt", "final, not draft"),
    (("/d/report-2026-04-01.txt", "Quarterly report"), ("/d/report-2026-01-02.txt", "Quarterly report"),
     "/d/report-2026-04-01.txt", "dated 2026-04-01, not 2026-01-02"),
    (("/d/spec-v2.txt", "Spec v2"), ("/d/spec-v10.txt", "Spec v10"), "/d/spec-v10.txt", "version 10, not 2"),
    (("/d/zstd.txt", "zstd README"), ("/d/lz4.txt", "lz4 README"), "", ""),
])
def test_a_newer_version_is_told_by_its_stage_version_or_date(a, b, newer, why):
    assert newer_version(a[0], a[1], b[0], b[1]) == (newer, why)


def _evidence(source: str, text: str, score: float, answer: str):
    from rag.types import Evidence

    at = text.index(answer)
    return Evidence(text=text, source=source, start=100, end=100 + len(text), page=None, similarity=score,
                    coverage=score, score=score, answer_start=100 + at, answer_end=100 + at + len(answer))


def _select(*evidence):
    from rag.reader import ExtractiveAnswerer

    return ExtractiveAnswerer(embedder=None, idf=lambda term: 1.0).select(list(evidence), [])


def test_close_scores_and_different_answer_spans_alone_are_no_disagreement():
    """What issue 18 saw under a question about zstd's CI: two documents' sentences about CI,
    scored alike, with different answer spans."""
    answer = _select(
        _evidence("/d/zstd/README", "The CI runs the fuzzers and the regression tests on GitHub Actions.", 0.9,
                  "GitHub Actions"),
        _evidence("/d/libfoo/README", "Our CI badge links to the build page on Travis CI.", 0.8, "Travis CI"))
    assert answer.notice == "" and {c.source for c in answer.citations} == {"/d/zstd/README"}


def test_chosen_sentences_side_by_side_that_disagree_get_a_note():
    """Issue 18 saw the final and draft minutes quoted side by side with no note."""
    answer = _select(
        _evidence("/d/final.txt", "The contract was awarded to Dunmore Roofing Ltd.", 0.9, "Dunmore Roofing Ltd"),
        _evidence("/d/draft.txt", "The contract was awarded to Castlebar Builders.", 0.9, "Castlebar Builders"))
    assert answer.notice == ("The documents disagree: final.txt [1] says Dunmore Roofing Ltd; "
                             "draft.txt [2] says Castlebar Builders.")


def test_what_a_named_subject_is_said_to_be_is_a_slot():
    """The planted document of tests/test_prompt_injection.py against the seed article."""
    found = differences("Ismail Shukri is a retired banker from Tunis.",
                        "Ismail Shukri, the head of intelligence in the northern city of Misrata told BBC Newsnight.")
    assert [(d.first, d.second) for d in found] == [("a retired banker", "the head of intelligence")]
    assert differences("Zstandard is a fast lossless compression algorithm.", "Zstandard is a fast compressor.") == ()
