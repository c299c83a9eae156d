"""Answers over the seed article: every citation quotes its source exactly, answers cite what they
say, follow-ups use the conversation, and questions the documents cannot answer are abstained on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.answering import ABSTAIN_TEXT

# Questions from ../shared/eval/seed_dev.jsonl, with the words a correct answer contains.
ANSWERABLE = [
    ("who is Ismail Shukri?", ["head of intelligence", "Misrata"]),
    ("What has Sirte seen an influx of?", ["foreign fighters"]),
    ("What did Kerry say about IS in Libya on 2 February?", ["untouched"]),
    ("What is Daesh playing a game of, according to Kerry?", ["metastasizing"]),
    ("Which city's intelligence chief said IS sees Libya as a safe haven?", ["Misrata"]),
]
UNANSWERABLE = ["What is the boiling point of mercury?", "Who is the CEO of Tesla?"]
QUESTIONS = [q for q, _ in ANSWERABLE] + UNANSWERABLE


@pytest.fixture(scope="module")
def answers(seed_assistant):
    return {q: seed_assistant.ask(q) for q in QUESTIONS}


@pytest.mark.parametrize("question", QUESTIONS)
def test_citation_quote_matches_source_file_span(answers, question):
    for c in answers[question].citations:
        assert Path(c.source).read_text(encoding="utf-8")[c.start:c.end] == c.quote


@pytest.mark.parametrize("question", QUESTIONS)
def test_citation_quote_matches_stored_document_span(seed_assistant, answers, question):
    for c in answers[question].citations:
        assert seed_assistant.document(c.source).text[c.start:c.end] == c.quote


@pytest.mark.parametrize("question", QUESTIONS)
def test_citation_markers_refer_to_listed_citations(answers, question):
    answer = answers[question]
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.text)}
    assert markers == {c.n for c in answer.citations}
    assert [c.n for c in answer.citations] == list(range(1, len(answer.citations) + 1))


@pytest.mark.parametrize("question,expected", ANSWERABLE)
def test_answerable_question_is_answered_with_citations(answers, question, expected):
    answer = answers[question]
    assert not answer.abstained and answer.citations
    assert all(word.lower() in answer.text.lower() for word in expected)


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_unanswerable_question_abstains_without_citations(answers, question):
    answer = answers[question]
    assert answer.abstained
    assert answer.citations == [] and ABSTAIN_TEXT in answer.text


@pytest.mark.parametrize("question", UNANSWERABLE)
def test_abstention_lists_nearest_passages_as_see_also(seed_assistant, answers, question):
    see_also = answers[question].see_also
    assert see_also
    for p in see_also:
        assert seed_assistant.document(p.source).text[p.start:p.end] == p.text


def test_follow_up_question_uses_the_earlier_turn(seed_assistant):
    first_q = "What did the French foreign minister say?"
    first = seed_assistant.ask(first_q)
    follow_up = seed_assistant.ask("What is his name?", history=[(first_q, first.text)])
    assert "Fabius" in follow_up.text and follow_up.citations


def test_answer_sentences_cite_known_citations(answers):
    answer = answers[ANSWERABLE[0][0]]
    numbers = {c.n for c in answer.citations}
    assert answer.sentences and all(set(s.citations) <= numbers for s in answer.sentences)


def test_stream_yields_text_pieces_then_the_answer(seed_assistant):
    *pieces, final = list(seed_assistant.stream("who is Ismail Shukri?"))
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == final.text
