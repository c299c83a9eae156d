"""Passages -> Answer. The extractive answerer picks the retrieved sentences that answer the
question and cites them; when the evidence is too weak it abstains and lists the nearest
passages as "see also". It needs no LLM and is the fallback whenever an LLM is unavailable.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from .chunking import split_sentences
from .store import tokenize
from .types import Answer, AnswerSentence, Citation, Passage

ABSTAIN_TEXT = "The documents do not contain an answer to this question."
_PRONOUNS = re.compile(r"\b(he|him|his|she|her|hers|it|its|they|them|their|this|that|these|those|there|one)\b",
                       re.IGNORECASE)


@dataclass(frozen=True)
class Evidence:
    """A candidate answer sentence with the signals used to rank it."""

    text: str
    source: str
    start: int
    end: int
    page: int | None
    similarity: float  # cosine(question, sentence)
    coverage: float  # IDF-weighted share of the question's words found in the sentence or its neighbours
    score: float


def stem(token: str) -> str:
    """A light suffix stripper: enough to match 'strikes'/'strike' and 'moving'/'moved'."""
    for suffix in ("ings", "ing", "edly", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3:
            return token[: -len(suffix)]
    return token


def standalone_question(question: str, history: list[tuple[str, str]]) -> str:
    """Make a follow-up searchable without an LLM: when it leans on earlier turns (a pronoun, or
    almost no words of its own), prefix the previous question so retrieval sees the topic."""
    if not history:
        return question
    own = tokenize(question)
    if _PRONOUNS.search(question) or len(own) <= 2:
        return f"{history[-1][0]} {question}"
    return question


class ExtractiveAnswerer:
    def __init__(self, embedder, idf: Callable[[str], float], threshold: float = 0.4, max_sentences: int = 2,
                 similarity_weight: float = 0.5):
        self.embedder = embedder
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.similarity_weight = similarity_weight

    def rank(self, question: str, passages: list[Passage]) -> list[Evidence]:
        """Every sentence of the passages, best evidence first."""
        import numpy as np

        cands: list[tuple[Passage, int, int, int]] = []  # passage, start, end, index of sentence in passage
        spans_by_passage: list[list[tuple[int, int]]] = []
        seen: set[tuple[str, int]] = set()
        for p in passages:
            spans = [(s.start, s.end) for s in split_sentences(p.text)]
            spans_by_passage.append(spans)
            for idx, (a, b) in enumerate(spans):
                key = (p.source, p.start + a)
                if key in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(key)
                cands.append((p, a, b, idx))
        if not cands:
            return []
        vectors = self.embedder.encode([question] + [p.text[a:b] for p, a, b, _ in cands])
        sims = vectors[1:] @ vectors[0]
        terms = {stem(t) for t in tokenize(question)}
        weights = {t: self.idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        out: list[Evidence] = []
        for (p, a, b, idx), sim in zip(cands, sims):
            pi = passages.index(p)
            spans = spans_by_passage[pi]
            # Neighbouring sentences count half: "He said ..." after the sentence naming him.
            own = {stem(t) for t in tokenize(p.text[a:b])}
            lo, hi = spans[max(idx - 1, 0)][0], spans[min(idx + 1, len(spans) - 1)][1]
            near = {stem(t) for t in tokenize(p.text[lo:hi])}
            cov = sum(w if t in own else (0.5 * w if t in near else 0.0) for t, w in weights.items()) / total
            score = self.similarity_weight * float(sim) + (1 - self.similarity_weight) * cov
            out.append(Evidence(text=p.text[a:b], source=p.source, start=p.start + a, end=p.start + b, page=p.page,
                                similarity=float(sim), coverage=cov, score=score))
        out.sort(key=lambda e: -e.score)
        return out

    def answer(self, question: str, passages: list[Passage], previous_answer: str = "") -> Answer:
        """`previous_answer`: in a conversation, the last answer. A follow-up whose best evidence
        is a sentence that answer already cited stays on an established topic, so it is not held
        to the abstention threshold ("What is his name?" has few words of its own to match)."""
        ranked = self.rank(question, passages)
        if not ranked:
            return abstention(passages)
        on_topic = bool(previous_answer) and ranked[0].text in previous_answer
        if ranked[0].score < self.threshold and not on_topic:
            return abstention(passages)
        best = ranked[0]
        chosen = [best]
        for e in ranked[1:]:
            if len(chosen) >= self.max_sentences or e.score < best.score - 0.05:
                break
            chosen.append(e)
        return cited_answer(chosen)


def abstention(passages: list[Passage]) -> Answer:
    return Answer(text=ABSTAIN_TEXT, citations=[], abstained=True, see_also=list(passages[:3]), backend="none")


def cited_answer(evidence: list[Evidence], backend: str = "none") -> Answer:
    citations = [Citation(n=i, source=e.source, start=e.start, end=e.end, quote=e.text, score=e.score, page=e.page)
                 for i, e in enumerate(evidence, start=1)]
    sentences = [AnswerSentence(text=e.text, citations=(c.n,)) for e, c in zip(evidence, citations)]
    text = " ".join(f"{s.text} [{s.citations[0]}]" for s in sentences)
    return Answer(text=text, citations=citations, abstained=False, sentences=sentences, backend=backend)
