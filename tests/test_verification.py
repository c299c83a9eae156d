"""Verification: every answer sentence must be supported by the passages it cites."""

import pytest

from rag.verification import DraftSentence, NumberedPassage, SourceSentence, Verifier, key_terms, split_draft
from support import VERIFICATION_SET, bench_module

SHUKRI = ("Ismail Shukri, the head of intelligence in the northern city of Misrata told BBC Newsnight: "
          "\"Some of their members are taking refuge here.\"")
KERRY = ("On 2 February, John Kerry warned that although IS is being degraded by international forces in "
         "Iraq and Syria, it has been largely untouched in Libya.")
FIGHTERS = "The majority of IS fighters in Sirte are foreigners, around 70%."
NATIONS = "Most of them are Tunisians, followed by Egyptians, Sudanese and a few Algerians."
ANNOUNCED = ("IS announced its presence in Sirte in February last year, becoming the first city to be governed by "
             "the militant Islamist group outside of Iraq and Syria.")
VICTORY = ("Kerry said: \"We are still not at the victory that we want to achieve, and will achieve, in either Syria "
           "or Iraq.\"")
INFLUX = ("The official added that the city of Sirte – which is situated on Libya's Mediterranean coast facing "
          "Europe – has seen an influx of foreign fighters.")
FABIUS = ("Kerry ruled out the prospect of US ground troops being deployed in the oil-rich nation, while French "
          "Foreign Minister Laurent Fabius dismissed rumours that Paris could step in as \"totally inexact\".")


@pytest.fixture(scope="module")
def verifier():
    from rag.embeddings import SentenceEmbeddings

    return Verifier(SentenceEmbeddings("bundled", 16), min_similarity=0.6)


def passages(*texts):
    return [NumberedPassage(n, (SourceSentence(t, "doc.txt", 0, len(t)),)) for n, t in enumerate(texts, start=1)]


def check(verifier, sentence, cited, *texts):
    return verifier.check([DraftSentence(sentence, cited)], passages(*texts))[0]


def check_in_one_passage(verifier, sentence, *texts):
    """The sentence citing [1], one passage of several source sentences."""
    passage = NumberedPassage(1, tuple(SourceSentence(t, "doc.txt", 0, len(t)) for t in texts))
    return verifier.check([DraftSentence(sentence, (1,))], [passage])[0]


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


# Issue 11: what an embedding cannot see. Each draft is close in meaning to its source (the
# similarity check passes); `reason` shows which rule rejected it.

@pytest.mark.parametrize("draft, source", [
    ("Kerry said: \"We are still at the victory that we want to achieve, in either Syria or Iraq.\"", VICTORY),
    ("The majority of IS fighters in Sirte are not foreigners, around 70%.", FIGHTERS),
    ("On 2 February, John Kerry warned that although IS is being degraded by international forces in Iraq and "
     "Syria, it hasn't been largely untouched in Libya.", KERRY),
])
def test_negated_sentence_is_rejected(verifier, draft, source):
    c = check(verifier, draft, (1,), source)
    assert c.similarity >= 0.6 and not c.supported and "negation" in c.reason


@pytest.mark.parametrize("draft", [
    "Most of them are Egyptians, followed by Tunisians, Sudanese and a few Algerians.",
    # a name put in the place of another the draft leaves out: Libya's role given to Syria
    "On 2 February, Kerry warned that IS has been largely untouched in Syria.",
])
def test_swapped_names_are_rejected(verifier, draft):
    c = check(verifier, draft, (1,), NATIONS if "Tunisians" in draft else KERRY)
    assert c.similarity >= 0.6 and not c.supported and not c.missing and c.reason


def test_name_given_the_role_of_a_name_attached_to_it_in_the_source_is_rejected(verifier):
    # SmolLM2's sentence on a SQuAD 2.0 paragraph (CC BY-SA 4.0): the film society is Doc Films
    source = ("Among notable RSOs are the nation's longest continuously running student film society Doc Films, "
              "organizing committee for the University of Chicago Scavenger Hunt, the twice-weekly student "
              "newspaper The Chicago Maroon, and the university-owned radio station WHPK.")
    c = check(verifier, "The country's longest continuously running student film society is the University of "
                        "Chicago Scavenger Hunt.", (1,), source)
    assert c.similarity >= 0.6 and not c.supported and "doc films" in c.reason.lower()
    c = check(verifier, "Kerry dismissed rumours that Paris could step in.", (1,), FABIUS)
    assert not c.supported and "fabius" in c.reason.lower()


def test_number_attached_to_something_else_is_rejected(verifier):
    # "2" is in the cited passage (2 February), not in the sentence about the fighters
    c = check_in_one_passage(verifier, "Around 2% of the IS fighters in Sirte are foreigners.", KERRY, FIGHTERS)
    assert c.similarity >= 0.6 and not c.supported and not c.missing and "number 2" in c.reason


def test_number_given_twice_is_rejected(verifier):
    source = "Together with her partner, she was the 1988 and 1994 Olympic Champion in pair skating."
    c = check(verifier, "Together with her partner, she was the 1994 and 1994 Olympic Champion in pair skating.",
              (1,), source)
    assert not c.supported and "1994" in c.reason


def test_name_from_another_sentence_of_the_passage_is_rejected(verifier):
    # Sirte is in the cited passage, but not in the sentence the draft restates
    c = check_in_one_passage(verifier, SHUKRI.replace("Misrata", "Sirte"), SHUKRI, ANNOUNCED)
    assert c.similarity >= 0.6 and not c.supported and not c.missing and "Sirte" in c.reason


def test_name_of_several_words_made_from_two_names_is_rejected(verifier):
    c = check(verifier, "French Foreign Minister Laurent Kerry dismissed rumours that Paris could step in.", (1,),
              FABIUS + " Kerry warned of the risk.")
    assert not c.supported and not c.missing and "Laurent Kerry" in c.reason.title()


def test_name_written_twice_for_two_names_is_rejected(verifier):
    # source sentence from HotpotQA (via HaluEval, MIT; HotpotQA CC BY-SA 4.0)
    c = check(verifier, "\"Stricken\" is a song by the Disturbed heavy metal band Disturbed.", (1,),
              "\"Stricken\" is a song by the American heavy metal band Disturbed.")
    assert c.similarity >= 0.6 and not c.supported and "more often" in c.reason


@pytest.mark.parametrize("draft, texts", [
    ("Around 70% of the IS fighters in Sirte are foreigners, Shukri said.", (FIGHTERS + " Shukri said.",)),
    ("Most of the foreign fighters in Sirte are Tunisians, followed by Egyptians.", (FIGHTERS, NATIONS)),
    ("John Kerry warned on 2 February that IS has been largely untouched in Libya.", (KERRY,)),
    ("IS has been largely untouched in Libya, Kerry warned.", (KERRY,)),
    ("Sirte was the first city outside Iraq and Syria to be governed by IS.", (ANNOUNCED,)),
    ("Kerry said they are still not at the victory they want to achieve in Syria or Iraq.", (VICTORY,)),
    ("Kerry said they aren't yet at the victory they want to achieve in Syria or Iraq.", (VICTORY,)),
    ("Kerry ruled out US ground troops, while Laurent Fabius dismissed rumours that Paris could step in.", (FABIUS,)),
    # SmolLM's own sentence, a name repeated (tests/test_llm.py's model, on the seed article)
    ("Sirte has seen an influx of foreign fighters, which is a reference to the fact that Sirte is a city located "
     "on the Mediterranean coast facing Europe.", (INFLUX,)),
    # the speaker of a quotation named in the sentence before it
    ("According to Shukri, most of the Iraqis come from Saddam Hussein's disbanded army.",
     ("\"Add to that the Iraqis and the Syrians,\" Shukri said.",
      "\"Most of the Iraqis come from Saddam Hussein's disbanded army.\"")),
])
def test_faithful_paraphrase_is_kept(verifier, draft, texts):
    c = check_in_one_passage(verifier, draft, *texts)
    assert c.supported, c.reason


def test_committed_verification_set_rates_are_reported_and_hold(verifier):
    """bench/verification_set.py --report on the committed set. The set is data, so its rates are
    a regression check: BENCHMARKS.md ("Verification") has the figures."""
    import rag.verification

    bench = bench_module("verification_set")
    rows = bench.read_set(VERIFICATION_SET)
    result = bench.score(rows, rag.verification, verifier.embedder, verifier.min_similarity)
    assert result["sizes"]["faithful"] >= 300 and sum(result["sizes"][k] for k in bench.KINDS) >= 300
    rejected = result["perturbations_rejected"]
    assert set(rejected) == {"negation", "swap", "number", "entity", "overall"}
    assert rejected["overall"] >= 0.95 and all(rejected[k] >= 0.9 for k in bench.KINDS), rejected
    assert result["faithful_kept"] >= 0.85, result["faithful_kept"]
