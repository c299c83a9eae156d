"""How a model's draft becomes the answer: only verified sentences are streamed, each as soon as
it passes; the evidence sentences follow quoted unless the draft already says them. The drafts are
fixed strings fed, in small pieces as a model streams, to the real verifier and embedder (the
model's own output is exercised in test_llm.py)."""

import pytest

from rag.reader import ExtractiveAnswerer
from rag.config import Settings
from rag.llm_answer import LLMAnswerer
from rag.types import Answer, Evidence
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


def run(answerer, draft):
    """(pieces streamed, final Answer) for a draft arriving three characters at a time."""
    items = list(answerer.verified(QUESTION, (draft[i:i + 3] for i in range(0, len(draft), 3)), NUMBERED, RANKED[:1]))
    *pieces, answer = items
    assert isinstance(answer, Answer) and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == answer.text  # nothing streamed is taken back
    return pieces, answer


def best(answerer, draft):
    return run(answerer, draft)[1]


def test_unsupported_sentence_is_never_streamed_and_supported_one_is_streamed_before_the_end(answerer):
    pieces, answer = run(answerer, "The major tributary of the Rhine is the river Aare [1]. "
                                   "The Moselle joins it at Koblenz [1]. It flows into the North Sea.")
    assert "Moselle" not in "".join(pieces) and "Moselle" not in answer.text
    assert pieces[0].startswith("The major tributary of the Rhine is the river Aare.")


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


def test_a_model_sentence_without_markers_is_shown_only_with_the_passage_it_was_checked_against(answerer):
    """Issue 19, item 7: a sentence the model wrote with no [n] is checked against its closest
    passage and, when shown, cites it; one that passage does not support is never shown."""
    answer = best(answerer, "The river Aare is the major tributary of the Rhine. The Moselle joins it at Koblenz.")
    written = [s for s in answer.sentences if not s.quoted]
    assert written and all(s.citations and s.supported for s in written)
    assert "Aare" in written[0].text and "Moselle" not in answer.text
    assert all(answer.citations[n - 1].quote in (RHINE, OTHER) for s in written for n in s.citations)
