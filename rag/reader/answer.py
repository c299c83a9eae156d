"""Reader stage 6, the answer: (sentence, the evidence it cites) pairs -> an Answer, its citations
numbered in order of first use; `cited_answer` leads with the answer span as its own sentence.
`llm_answer` and `summarize` compose their answers here too.
"""

from __future__ import annotations

from dataclasses import replace

from ..text import flatten
from ..types import Answer, AnswerSentence, Citation, Evidence


def lead_parts(evidence: list[Evidence]) -> list[tuple[str, tuple[Evidence, ...]]]:
    """The answer span as its own first sentence, then the evidence sentences, each citing itself."""
    parts: list[tuple[str, tuple[Evidence, ...]]] = []
    best = evidence[0]
    span = flatten(best.answer).strip(" ,;:–—-")
    if span and len(span) < 0.8 * len(flatten(best.text)):
        parts.append((span[:1].upper() + span[1:] + ("" if span.endswith((".", "!", "?")) else "."), (best,)))
    return parts + [(e.text, (e,)) for e in evidence]


def choice_answer(parts: list[tuple[str, tuple[Evidence, ...]]], notice: str = "") -> Answer:
    """The answer to a choice or yes/no question from `rag.choices.choice_parts`. A "Yes."/"No."
    lead is the reader's own words, drawn from the values the cited sentences state: it is marked
    as not quoted, however it compares with their text."""
    answer = compose(parts, "none", notice)
    if parts and parts[0][0] in ("Yes.", "No."):
        answer.sentences[0] = replace(answer.sentences[0], quoted=False)
    return answer


def cited_answer(evidence: list[Evidence], backend: str = "none") -> Answer:
    return compose(lead_parts(evidence), backend)


def compose(parts: list[tuple[str, tuple[Evidence, ...]]], backend: str, notice: str = "") -> Answer:
    """An Answer from (sentence, the evidence it cites) pairs. Citations are numbered in order of
    first use, one per source sentence, however many answer sentences cite it. The text of the
    answer for a prefix of `parts` is a prefix of the answer's text, so it can be streamed."""
    numbers: dict[tuple[str, int, int], int] = {}
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    for text, evidence in parts:
        ns = []
        for e in evidence:
            key = (e.source, e.start, e.end)
            if key not in numbers:
                numbers[key] = len(numbers) + 1
                citations.append(Citation(n=numbers[key], source=e.source, start=e.start, end=e.end, quote=e.text,
                                          score=e.score, page=e.page))
            ns.append(numbers[key])
        quoted = len(evidence) == 1 and flatten(text).rstrip(".").lower() in flatten(evidence[0].text).lower()
        sentences.append(AnswerSentence(text=text, citations=tuple(dict.fromkeys(ns)), quoted=quoted))
    text = " ".join(sentence_text(s) for s in sentences)
    return Answer(text=text, citations=citations, abstained=False, sentences=sentences, backend=backend,
                  notice=notice)


def sentence_text(s: AnswerSentence) -> str:
    """How an answer sentence reads in the answer's text: on one line, then its [n] markers."""
    return f"{flatten(s.text)} " + "".join(f"[{n}]" for n in s.citations)
