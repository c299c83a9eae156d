"""Sentences as people write them: a hard-wrapped sentence is one sentence, offsets stay exact."""

import textwrap

import pytest

from rag.text import flatten, question_language, shortest_unique_paths, split_sentences, stem

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


# ---- hard-wrapped prose, at any width --------------------------------------------------------

FERRY = ("The ferry to Isle Morven leaves every\nTuesday at seven in the morning from\nthe north pier and comes back from\n"
         "Kilbrannan at five. Tickets are sold\non board.\n")

PROSE = ("The ferry to Isle Morven leaves every Tuesday at seven in the morning from the north pier. "
         "Tickets are sold on board, and bicycles travel free of charge when there is room on the deck. "
         "In winter the crossing takes ninety minutes; in summer, with the faster boat, it takes an hour. "
         "Dogs are welcome but must stay on a lead. The harbour master, Mr. Duncan Reid, can be reached "
         "at the office by the slipway.")


def test_a_sentence_wrapped_in_a_narrow_column_is_one_sentence():
    assert sentences(FERRY) == ["The ferry to Isle Morven leaves every\nTuesday at seven in the morning from\n"
                                "the north pier and comes back from\nKilbrannan at five.", "Tickets are sold\non board."]


@pytest.mark.parametrize("width", range(22, 101, 3))
def test_prose_hard_wrapped_at_any_width_has_the_sentences_of_the_unwrapped_text(width):
    wrapped = textwrap.fill(PROSE, width)
    got = split_sentences(wrapped)
    assert [flatten(wrapped[s.start:s.end]) for s in got] == sentences(PROSE)
    assert all(wrapped[s.start:s.end] == wrapped[s.start:s.end].strip() for s in got)


def test_short_lines_with_room_left_on_them_stay_apart():
    address = "John Smith\n12 High Street\nDublin\n\nAnnual Report 2024\nThe board met eleven times and approved it."
    assert sentences(address) == ["John Smith", "12 High Street", "Dublin", "Annual Report 2024",
                                  "The board met eleven times and approved it."]


def test_table_rows_stay_apart_however_long():
    rows = ("Ferry to Isle Morven from the north pier | Tuesday 07:00\n"
            "Ferry to Isle Morven from the south pier | Friday 09:30\n"
            "Bus 12 towards the harbour and the old town     08:15\n"
            "Bus 14 towards the station and the hospital     08:45\n")
    assert len(sentences(rows)) == 4


def test_a_wrapped_list_item_is_one_sentence_and_its_number_is_no_sentence():
    text = ("Steps:\n\n1.  Install the package from the wheel in the release folder, then\n"
            "    run the setup script once.\n2. Restart.\n- Ask a question of the documents in the folder\n"
            "  you indexed.\n- Done.\n")
    assert sentences(text) == [
        "Steps:", "1.  Install the package from the wheel in the release folder, then\n    run the setup script once.",
        "2. Restart.", "- Ask a question of the documents in the folder\n  you indexed.", "- Done."]


def test_paths_are_shortened_to_the_fewest_last_parts_that_tell_them_apart():
    got = shortest_unique_paths(["/usr/share/doc/zlib/README", "/usr/share/doc/zstd/README", "/home/ann/notes.txt",
                                 "/srv/a/b/copyright", "/srv/c/b/copyright", "/a/b", "/x/a/b"])
    assert got == {"/usr/share/doc/zlib/README": "zlib/README", "/usr/share/doc/zstd/README": "zstd/README",
                   "/home/ann/notes.txt": "notes.txt", "/srv/a/b/copyright": "a/b/copyright",
                   "/srv/c/b/copyright": "c/b/copyright", "/a/b": "/a/b", "/x/a/b": "x/a/b"}


@pytest.mark.parametrize("question, language", [
    ("Où les commandants de l'État islamique se réfugient-ils ?", "French"),
    ("Quand part le ferry pour Isle Morven ?", "French"),
    ("Warum ziehen die Kommandeure nach Libyen?", "German"),
    ("Wer ist Ismail Shukri?", "German"),
    ("¿Dónde se refugian los comandantes del Estado Islámico?", "Spanish"),
    ("Chi è Ismail Shukri?", "Italian"),
    ("Waar verschuilen de commandanten zich?", "Dutch"),
    ("who is Ismail Shukri?", None),
    ("When does the ferry to Isle Morven leave?", None),
    ("Is the café open on Sunday?", None),
    ("What did Kerry say about IS in Libya on 2 February?", None),
    ("Who directed the film La Dolce Vita?", None),
])
def test_the_language_of_a_question_is_told_from_its_function_words(question, language):
    assert question_language(question) == language
