"""Answers over the seed article: every citation quotes its source exactly, answers cite what they
say, follow-ups use the conversation, and questions the documents cannot answer are abstained on."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rag.reader import ABSTAIN_TEXT

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
    reply = seed_assistant.stream("who is Ismail Shukri?")
    pieces = list(reply)
    assert pieces and all(isinstance(p, str) for p in pieces)
    assert "".join(pieces) == reply.answer().text


# ---- the reader's parts, without an index ---------------------------------------------------------
from rag.reader import analyse, find_answer  # noqa: E402
from rag.text import stems  # noqa: E402
from rag.types import Passage  # noqa: E402

SHUKRI = "Ismail Shukri, the head of intelligence in the northern city of Misrata told BBC Newsnight: \"Some"
NETFLIX = ("Netflix announced Sunday that the wildly popular South Korean show Squid Game is green lit for a "
           "second season.")


def span(question, sentence):
    found = find_answer(analyse(question), sentence, stems(question))
    return sentence[found[0]:found[1]] if found else None


@pytest.mark.parametrize("question,kind", [
    ("who is Ismail Shukri?", "definition"),
    ("Who took the photograph of Sirte?", "person"),
    ("How many years did he spend on the run?", "number"),
    ("When did IS announce its presence in Sirte?", "date"),
    ("Where is Sirte?", "place"),
    ("Why are IS commanders moving to Libya?", "reason"),
    ("Which show was renewed for a second season?", "title"),
    ("Which team does he play for?", "organisation"),
    ("What did Kerry rule out?", "thing"),
])
def test_question_kind(question, kind):
    assert analyse(question).kind == kind


def test_question_constraints_are_its_years_numbers_and_names():
    q = analyse("Who won the Wimbledon 2019 final against Roger Federer?")
    assert q.numbers == ("2019",) and "Wimbledon" in q.names and "Roger Federer" in q.names


@pytest.mark.parametrize("question,sentence,expected", [
    ("who is Ismail Shukri?", SHUKRI, "the head of intelligence in the northern city of Misrata"),
    ("Which show is green lit for a second season?", NETFLIX, "Squid Game"),
    ("What has Sirte seen an influx of?", "The city of Sirte has seen an influx of foreign fighters.",
     "foreign fighters"),
    ("How many years was he on the run?", "He was arrested after 30 years on the run.", "30 years"),
    ("What other name is used for IS?", "the IS (Daesh) members are moving to the country", "Daesh"),
    ("What did Kerry rule out?", "Kerry ruled out the prospect of US ground troops being deployed in the nation, "
                                 "while Fabius dismissed rumours.", "the prospect of US ground troops being deployed "
                                                                    "in the nation"),
])
def test_answer_span_is_what_the_question_asks_and_does_not_say(question, sentence, expected):
    assert span(question, sentence) == expected


def test_a_sentence_that_only_restates_the_question_has_no_answer_span():
    assert span("What was Tesla's revenue in Q2 2020?", "Tesla Q2 2020 revenue.") is None


def passage(text, title=""):
    return Passage(text=text, source="doc.txt", start=0, end=len(text), score=1.0, title=title)


def test_constraint_year_must_occur_in_the_document_or_its_title():
    from rag.reader import ExtractiveAnswerer

    q = analyse("Who won the Wimbledon final in 2019?")
    reader = ExtractiveAnswerer(None, idf=lambda t: 1.0)
    assert not reader.constraints_hold(q, passage("Djokovic won the 2018 Wimbledon final."))
    assert reader.constraints_hold(q, passage("Djokovic won the final.", title="Wimbledon 2019"))
    in_document = ExtractiveAnswerer(None, idf=lambda t: 1.0, documents=lambda s: ("Results", "... in 2019 ..."))
    assert in_document.constraints_hold(q, passage("Djokovic won the final."))


def test_wrong_year_abstains_and_says_what_the_documents_cover(seed_assistant, tmp_path):
    from rag import Assistant

    doc = tmp_path / "docs" / "wimbledon.txt"
    doc.parent.mkdir()
    doc.write_text("Wimbledon 2018\n\nNovak Djokovic beat Kevin Anderson in the 2018 Wimbledon final on Sunday "
                   "to win his fourth title at the All England Club.\n", encoding="utf-8")
    a = Assistant(index_dir=tmp_path / "index")
    a.ingest([doc.parent])
    assert "Djokovic" in a.ask("Who won the 2018 Wimbledon final?").text
    answer = a.ask("Who won the 2019 Wimbledon final?")
    assert answer.abstained and "2018" in answer.notice and "2019" in answer.notice


@pytest.mark.parametrize("question,expected", [
    ("What did Kerry rule out?", "ground troops"),
    ("What did Laurent Fabius dismiss?", "rumours"),
    ("Who took the photograph of Sirte?", "Joseph Eid"),
    ("What other name is used for IS?", "Daesh"),
])
def test_plain_seed_questions_are_answered(seed_assistant, question, expected):
    answer = seed_assistant.ask(question)
    assert not answer.abstained and expected in answer.text


def test_seed_answer_leads_with_its_answer_span_then_the_cited_sentence(seed_assistant):
    answer = seed_assistant.ask("who is Ismail Shukri?")
    assert answer.text.startswith("The head of intelligence in the northern city of Misrata. [1] Ismail Shukri")
    assert answer.sentences[0].citations == answer.sentences[1].citations == (1,)


def test_code_lines_are_not_quoted_as_prose_answers_unless_code_is_asked(tmp_path):
    from rag import Assistant

    readme = tmp_path / "docs" / "README"
    readme.parent.mkdir()
    readme.write_text("Frobnicate\n\nFrobnicate converts scanned invoices into spreadsheet rows so that\n"
                      "accountants can search them by supplier and date.\n\n"
                      "    $ frobnicate --invoices scans/ --output rows.csv\n\n"
                      "    frobnicate.convert(invoices, output='rows.csv')\n", encoding="utf-8")
    a = Assistant(index_dir=tmp_path / "index")
    a.ingest([readme.parent])
    prose = a.ask("What does frobnicate convert invoices into?")
    assert "spreadsheet rows" in prose.text and "--output" not in prose.text
    # the hard-wrapped sentence is quoted whole, its offsets exact
    quote = next(c.quote for c in prose.citations if "spreadsheet" in c.quote)
    assert quote.endswith("supplier and date.")
    assert all(readme.read_text()[c.start:c.end] == c.quote for c in prose.citations)
    code = a.ask("What is the command to convert invoices with frobnicate?")
    assert code.text.startswith(("$ frobnicate", "frobnicate.convert"))


def test_answer_follows_the_word_a_question_ends_on():
    assert span("Where is the paint for the lighthouse shipped from?",
                "The paint for the lighthouse on Quibbleton Point is shipped from Harwich every spring.") == "Harwich"


def test_ranking_puts_the_sentence_that_answers_above_the_one_that_restates_the_question(seed_assistant):
    from rag.reader import ExtractiveAnswerer

    text = ("Tesla Q2 2020 revenue.\nTesla reported revenue of $6.04 billion for the second quarter of 2020, "
            "beating analyst expectations. The company also delivered 90,650 vehicles in the quarter.")
    reader = ExtractiveAnswerer(seed_assistant.embedder, idf=lambda t: 1.0)
    ranked = reader.rank("What was Tesla's revenue in Q2 2020?", [passage(text, title="Tesla results")])
    assert "$6.04 billion" in ranked[0].text and ranked[0].answer == "$6.04 billion"
    assert ranked[-1].text != ranked[0].text


def test_ranking_puts_a_code_line_last_for_a_prose_question(seed_assistant):
    from rag.reader import ExtractiveAnswerer

    text = "$ pip install frobnicate\nFrobnicate converts scanned invoices into spreadsheet rows for accountants."
    reader = ExtractiveAnswerer(seed_assistant.embedder, idf=lambda t: 1.0)
    ranked = reader.rank("What does frobnicate convert invoices into?", [passage(text)])
    assert ranked[0].text.startswith("Frobnicate converts") and ranked[-1].text.startswith("$ pip")


# ---- choice and yes/no questions (issue 11), over hand-written passages -----------------------------
MAGAZINES = ("Arthur's Magazine (1844–1846) was an American literary periodical published in Philadelphia. "
             "First for Women is a woman's magazine published by Bauer Media Group in the USA.")


def read(seed_assistant, question, text):
    from rag.reader import ExtractiveAnswerer

    reader = ExtractiveAnswerer(seed_assistant.embedder, idf=lambda t: 1.0, threshold=0.0)
    passages = [passage(text)]
    return reader.select(reader.rank(question, passages), passages)


@pytest.mark.parametrize("question,options,yes_no", [
    ("Which magazine was started first, Arthur's Magazine or First for Women?",
     ("Arthur's Magazine", "First for Women"), False),
    ("Who was born first Neil LaBute or H. Bruce Humberstone?", ("Neil LaBute", "H. Bruce Humberstone"), False),
    ("Were Scott Derrickson and Ed Wood of the same nationality?", ("Scott Derrickson", "Ed Wood"), True),
    ("Are both The New Pornographers and Kings of Leon American rock bands?",
     ("New Pornographers", "Kings of Leon"), True),
    ("Is Paris a city?", ("Paris",), True),
    ("Was the president who appointed Thomas C. Mann a democrat or a republican?", (), False),
    ("Gülhane Park and Zografeion Lyceum, are located in which country?", (), False),
])
def test_question_options_are_the_names_either_side_of_or_and_and(question, options, yes_no):
    q = analyse(question)
    assert (q.options, q.yes_no) == (options, yes_no)


def test_choice_decided_by_years_leads_with_the_earlier_option_and_cites_both(seed_assistant):
    answer = read(seed_assistant, "Which magazine was started first, Arthur's Magazine or First for Women?",
                  MAGAZINES + " The magazine was started in 1989.")
    assert answer.text.startswith("Arthur's Magazine. [1]")
    assert answer.sentences[0].quoted and answer.sentences[0].text.rstrip(".") in answer.citations[0].quote
    quotes = " ".join(c.quote for c in answer.citations)
    assert "1844" in quotes and "started in 1989" in quotes and not answer.notice


def test_choice_later_wins_for_younger(seed_assistant):
    text = ("Pablo Trapero (born 4 October 1971) is an Argentine film producer. "
            "Aleksander Ford (24 November 1908 – 4 April 1980) was a Polish film director.")
    assert read(seed_assistant, "Who is younger, Pablo Trapero or Aleksander Ford?", text).text.startswith(
        "Pablo Trapero. [1]")
    assert read(seed_assistant, "Who was born first, Pablo Trapero or Aleksander Ford?", text).text.startswith(
        "Aleksander Ford. [")


def test_choice_without_a_year_for_one_option_cites_both_and_says_what_is_missing(seed_assistant):
    answer = read(seed_assistant, "Which magazine was started first, Arthur's Magazine or First for Women?",
                  MAGAZINES)
    assert answer.text.startswith("Arthur's Magazine (1844–1846) was")
    assert "First for Women is" in answer.text and answer.citations
    assert answer.notice == "The documents give a founding year for Arthur's Magazine (1844) but none for First for Women."


def test_choice_by_property_leads_with_the_option_whose_sentence_holds_it(seed_assistant):
    text = ("Adam Clayton Powell is a 1989 American documentary film about the politician. "
            "The Saimaa Gesture is a 1981 film by Finnish directors about three Finnish rock groups on a tour.")
    answer = read(seed_assistant, "Which documentary is about Finnish rock groups, Adam Clayton Powell or "
                                  "The Saimaa Gesture?", text)
    assert answer.text.startswith("The Saimaa Gesture. [")


@pytest.mark.parametrize("second,verdict", [
    ("Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978) was an American filmmaker and actor.", "Yes."),
    ("Edward Davis Wood Jr. (October 10, 1924 – December 10, 1978) was a Dutch filmmaker and actor.", "No."),
])
def test_same_nationality_is_answered_yes_or_no_from_both_sentences(seed_assistant, second, verdict):
    text = "Scott Derrickson (born July 16, 1966) is an American director, screenwriter and producer. " + second
    answer = read(seed_assistant, "Were Scott Derrickson and Ed Wood of the same nationality?", text)
    assert answer.text.startswith(f"{verdict} [1][2] Scott Derrickson")
    assert answer.sentences[0].citations == (1, 2) and not answer.sentences[0].quoted
    assert len(answer.citations) == 2


@pytest.mark.parametrize("question", ["Are Calochone and Adlumia both plants?",
                                      "Were Calochone and Adlumia of the same nationality?"])
def test_yes_no_without_plain_evidence_for_both_does_not_lead(seed_assistant, question):
    text = ("Calochone is a genus of flowering plants in the Rubiaceae family. "
            "Adlumia is a genus of two species in the Papaveraceae family.")
    answer = read(seed_assistant, question, text)
    assert answer.text.startswith("Calochone is a genus")
    assert not re.search(r"\b(?:yes|no)\b", answer.text, re.IGNORECASE) and len(answer.citations) == 2


def test_choice_whose_options_the_evidence_does_not_describe_leads_with_no_other_span(seed_assistant):
    text = "Saint Motel is an American indie pop band from Los Angeles whose members met at film school."
    answer = read(seed_assistant, "Which band has more members, Saint Motel or Curve?", text)
    assert answer.text.startswith("Saint Motel is an American") and "Los Angeles. [" not in answer.text


@pytest.mark.parametrize("text,lead", [
    ("Calochone is a genus of flowering plants in the Rubiaceae family.", "Yes. [1]"),
    ("Calochone is not a plant: the name is given to a genus of fungi.", "Calochone is not"),
])
def test_is_x_a_y_says_yes_only_when_the_sentence_says_so_without_negation(seed_assistant, text, lead):
    assert read(seed_assistant, "Is Calochone a plant?", text).text.startswith(lead)
