"""Follow-up or new question: a question that points back ("his", "that city") is searched with the
conversation's topic; a short question that names something new starts a new topic."""

import pytest

from rag.followups import leans_on_history, standalone_question

HISTORY = [("Who opened the finch sanctuary?",
            "Mayor Ana Ruiz. [1] Mayor Ana Ruiz opened the finch sanctuary on Saturday. [1]")]


@pytest.mark.parametrize("question", ["What is his name?", "where is that city?", "When did she open it?",
                                      "And their budget?"])
def test_question_that_points_back_is_a_follow_up(question):
    assert leans_on_history(question, HISTORY)
    assert standalone_question(question, HISTORY).startswith(HISTORY[0][0])


@pytest.mark.parametrize("question", ["Who is the registry director?", "Where is Tripoli?", "Define photosynthesis.",
                                      "Kerry's warning?", "Misrata population?"])
def test_short_question_on_a_new_topic_stands_alone(question):
    assert not leans_on_history(question, HISTORY)
    assert standalone_question(question, HISTORY) == question


def test_short_question_on_the_same_topic_is_a_follow_up():
    assert leans_on_history("Sanctuary hours?", HISTORY)


def test_first_question_is_never_a_follow_up():
    assert not leans_on_history("What is his name?", [])


def test_new_short_question_in_a_conversation_does_not_repeat_the_previous_answer(tmp_path):
    from rag import Assistant

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "town.txt").write_text(
        "Mayor Ana Ruiz opened the finch sanctuary on Saturday morning in front of two hundred visitors.\n\n"
        "The registry director is Tomas Berg, who has led the town's birth and land registry since 2015.\n",
        encoding="utf-8")
    a = Assistant(index_dir=tmp_path / "index")
    a.ingest([docs])
    first = a.ask("Who opened the finch sanctuary?")
    assert "Ana Ruiz" in first.text
    second = a.ask("Who is the registry director?", [("Who opened the finch sanctuary?", first.text)])
    assert "Tomas Berg" in second.text and "finch" not in second.text
