"""Verification: every answer sentence must be supported by the passages it cites."""

import pytest

from rag.verification import DraftSentence, NumberedPassage, SourceSentence, Verifier, key_terms, split_draft

SHUKRI = ("Ismail Shukri, the head of intelligence in the northern city of Misrata told BBC Newsnight: "
          "\"Some of their members are taking refuge here.\"")
KERRY = ("On 2 February, John Kerry warned that although IS is being degraded by international forces in "
         "Iraq and Syria, it has been largely untouched in Libya.")
FIGHTERS = "The majority of IS fighters in Sirte are foreigners, around 70%."


@pytest.fixture(scope="module")
def verifier():
    from rag.embeddings import SentenceEmbeddings

    return Verifier(SentenceEmbeddings("bundled", 16), min_similarity=0.6)


def passages(*texts):
    return [NumberedPassage(n, (SourceSentence(t, "doc.txt", 0, len(t)),)) for n, t in enumerate(texts, start=1)]


def check(verifier, sentence, cited, *texts):
    return verifier.check([DraftSentence(sentence, cited)], passages(*texts))[0]


def test_paraphrase_of_cited_sentence_is_supported(verifier):
    c = check(verifier, "Ismail Shukri is the head of intelligence in Misrata.", (1,), SHUKRI, KERRY)
    assert c.supported


def test_name_missing_from_cited_passage_is_rejected(verifier):
    c = check(verifier, "Ismail Shukri, the head of intelligence in Tripoli, spoke to the BBC.", (1,), SHUKRI)
    assert not c.supported and "Tripoli" in c.missing


def test_number_missing_from_cited_passage_is_rejected(verifier):
    c = check(verifier, "Around 90% of IS fighters in Sirte are foreigners.", (1,), FIGHTERS)
    assert not c.supported and "90" in c.missing


def test_date_missing_from_cited_passage_is_rejected(verifier):
    c = check(verifier, "On 5 March, John Kerry warned that IS is largely untouched in Libya.", (1,), KERRY)
    assert not c.supported and {"5", "March"} <= set(c.missing)


def test_fact_from_an_uncited_passage_is_rejected(verifier):
    # "Kerry" is in passage 2, but the sentence cites passage 1 only.
    c = check(verifier, "John Kerry is the head of intelligence in Misrata.", (1,), SHUKRI, KERRY)
    assert not c.supported


def test_unrelated_sentence_citing_a_passage_is_rejected(verifier):
    c = check(verifier, "Sirte has many beautiful beaches.", (1,), SHUKRI)
    assert not c.supported


def test_sentence_without_marker_is_checked_against_closest_passage(verifier):
    c = check(verifier, "John Kerry said IS has been largely untouched in Libya.", (), SHUKRI, KERRY)
    assert c.supported and c.cited == (2,)


def test_split_draft_reads_markers_after_the_stop():
    drafts = split_draft("Shukri heads intelligence in Misrata [1]. He spoke to the BBC. [1][2] Done")
    assert [d.cited for d in drafts] == [(1,), (1, 2), ()]
    assert drafts[0].text == "Shukri heads intelligence in Misrata."


def test_key_terms_are_names_numbers_and_dates():
    assert set(key_terms("He said on 2 February that 70% came from Tunisia.")) >= {"2", "February", "70", "Tunisia"}
    assert "He" not in key_terms("He said so.")
