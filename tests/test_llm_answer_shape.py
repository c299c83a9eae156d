"""How a model's draft becomes the answer: the verified sentences lead, the evidence sentences
follow quoted unless the draft already says them. The drafts are fixed strings fed to the real
verifier and embedder (the model's own output is exercised in test_llm.py)."""

import pytest

from rag.config import Settings
from rag.answering import Evidence, ExtractiveAnswerer, LLMAnswerer
from rag.verification import Verifier

RHINE = ("The Rhine emerges from Lake Constance, flows generally westward, as the Hochrhein, passes the Rhine "
         "Falls, and is joined by its major tributary, the river Aare.")
OTHER = "The Rhine is the longest river entirely within Germany."
QUESTION = "What is the major tributary of the Rhine?"


def evidence(text, start, score):
    return Evidence(text=text, source="rhine.txt", start=start, end=start + len(text), page=None, similarity=score,
                    coverage=score, score=score)


@pytest.fixture(scope="module")
def answerer():
    from rag.embeddings import SentenceEmbeddings

    embedder = SentenceEmbeddings("bundled", 16)
    settings = Settings(llm="local")
    extractive = ExtractiveAnswerer(embedder, idf=lambda t: 1.0, threshold=0.4, max_sentences=1)
    return LLMAnswerer(settings, extractive, Verifier(embedder, 0.6), backend="local")


RANKED = [evidence(RHINE, 0, 0.9), evidence(OTHER, 500, 0.5)]
NUMBERED = {1: RANKED[0], 2: RANKED[1]}


def best(answerer, draft):
    return answerer.best(QUESTION, [draft], RANKED, NUMBERED)


def test_model_sentence_leads_and_the_evidence_follows_quoted(answerer):
    answer = best(answerer, "The major tributary of the Rhine is the river Aare [1].")
    assert answer.backend == "local"
    assert [s.text for s in answer.sentences] == ["The major tributary of the Rhine is the river Aare.", RHINE]
    # one source sentence, one citation, cited by both
    assert len(answer.citations) == 1 and answer.citations[0].quote == RHINE
    assert all(s.citations == (1,) for s in answer.sentences)
    assert [s.quoted for s in answer.sentences] == [False, True]


def test_evidence_is_not_repeated_when_the_model_quoted_it(answerer):
    answer = best(answerer, RHINE + " [1]")
    assert [s.text for s in answer.sentences] == [RHINE]


def test_a_fragment_of_the_evidence_gives_way_to_the_whole_sentence(answerer):
    answer = best(answerer, "The Rhine emerges from Lake Constance [1].")
    assert [s.text for s in answer.sentences] == [RHINE]


def test_sentence_that_only_repeats_the_question_is_dropped(answerer):
    answer = best(answerer, "Question: What is the major tributary of the Rhine? [1]")
    assert answer.backend == "none" and [s.text for s in answer.sentences] == [RHINE]
    assert "extractive answer" in answer.notice


def test_meta_announcement_is_removed_and_the_rest_kept(answerer):
    answer = best(answerer, "The passage mentions that the major tributary of the Rhine is the Aare [1].")
    assert answer.sentences[0].text == "The major tributary of the Rhine is the Aare."


def test_unsupported_name_never_reaches_the_answer(answerer):
    answer = best(answerer, "The major tributary of the Rhine is the Moselle [1].")
    assert "Moselle" not in answer.text and answer.sentences[0].text == RHINE


def test_evidence_can_be_left_out_by_setting(answerer):
    answerer.settings = Settings(llm="local", llm_keep_evidence=False)
    try:
        answer = best(answerer, "The major tributary of the Rhine is the river Aare [1].")
    finally:
        answerer.settings = Settings(llm="local")
    assert [s.text for s in answer.sentences] == ["The major tributary of the Rhine is the river Aare."]
