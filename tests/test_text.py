"""Sentences as people write them: a hard-wrapped sentence is one sentence, offsets stay exact."""

from rag.text import split_sentences, stem

WRAPPED = """README

This tool indexes the documents in a folder and answers questions about them with
citations that point at the exact words in the source. It runs offline.

- one item
- another item
"""


def sentences(text):
    return [text[s.start:s.end] for s in split_sentences(text)]


def test_hard_wrapped_sentence_is_one_sentence_with_exact_offsets():
    got = sentences(WRAPPED)
    assert got[1] == ("This tool indexes the documents in a folder and answers questions about them with\n"
                      "citations that point at the exact words in the source.")
    for s in split_sentences(WRAPPED):
        assert WRAPPED[s.start:s.end] == WRAPPED[s.start:s.end].strip()


def test_headings_list_items_and_short_lines_stay_apart():
    got = sentences(WRAPPED)
    assert got[0] == "README" and "- one item" in got and "- another item" in got
    assert sentences("Sirte Libya\nTop Isis commanders are taking refuge in Libya") == [
        "Sirte Libya", "Top Isis commanders are taking refuge in Libya"]


def test_stem_matches_inflections():
    assert stem("ruled") == stem("rule") and stem("moving") == stem("moved") and stem("strikes") == stem("strike")


def test_a_sentence_ending_in_a_digit_ends_there_but_an_initial_does_not_end_one():
    assert sentences("Sales rose in month 1. They fell in month 2.") == ["Sales rose in month 1.", "They fell in month 2."]
    assert sentences("J. Smith wrote it. He left.") == ["J. Smith wrote it.", "He left."]
