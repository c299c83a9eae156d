"""Passages -> Answer. The extractive answerer picks the retrieved sentences that answer the
question and cites them; when the evidence is too weak it abstains and lists the nearest
passages as "see also". It needs no LLM and is the fallback whenever an LLM is unavailable.
`LLMAnswerer` lets a chat model (rag/llm.py) write the answer over the same evidence and keeps
only the sentences rag/verification.py finds supported.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace

from .chunking import split_sentences
from .store import tokenize
from .types import Answer, AnswerSentence, Citation, Passage

ABSTAIN_TEXT = "The documents do not contain an answer to this question."
_PRONOUNS = re.compile(r"\b(he|him|his|she|her|hers|it|its|they|them|their|this|that|these|those|there|one)\b",
                       re.IGNORECASE)
# Words a question uses to ask for a statement ("what did X say?"); the answer seldom repeats them,
# so they count for nothing in coverage.
_REPORTING_WORDS = frozenset("say said says tell told according mention mentioned describe described".split())
_SECOND_SENTENCE_MARGIN = 0.15  # how far below the best a complementary second sentence may score


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
    matched: frozenset[str] = frozenset()  # the question's (stemmed) words the sentence itself holds


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
                 similarity_weight: float = 0.5, previous_answer: str = ""):
        """`previous_answer`: in a conversation, the last answer's text (see `should_abstain`)."""
        self.embedder = embedder
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.similarity_weight = similarity_weight
        self.previous_answer = previous_answer

    def rank(self, question: str, passages: list[Passage]) -> list[Evidence]:
        """Every sentence of the passages, best evidence first."""
        cands: list[tuple[int, int, int, int]] = []  # passage index, start, end, index of sentence in passage
        spans_by_passage: list[list[tuple[int, int]]] = []
        seen: set[tuple[str, int]] = set()
        for pi, p in enumerate(passages):
            spans = [(s.start, s.end) for s in split_sentences(p.text)]
            spans_by_passage.append(spans)
            for idx, (a, b) in enumerate(spans):
                key = (p.source, p.start + a)
                if key in seen:  # overlapping chunks repeat sentences
                    continue
                seen.add(key)
                cands.append((pi, a, b, idx))
        if not cands:
            return []
        vectors = self.embedder.encode([question] + [passages[pi].text[a:b] for pi, a, b, _ in cands])
        sims = vectors[1:] @ vectors[0]
        terms = {stem(t) for t in tokenize(question) if t not in _REPORTING_WORDS}
        weights = {t: self.idf(t) for t in terms}
        total = sum(weights.values()) or 1.0
        out: list[Evidence] = []
        for (pi, a, b, idx), sim in zip(cands, sims):
            p, spans = passages[pi], spans_by_passage[pi]
            # Neighbouring sentences count half: "He said ..." after the sentence naming him.
            own = {stem(t) for t in tokenize(p.text[a:b])}
            lo, hi = spans[max(idx - 1, 0)][0], spans[min(idx + 1, len(spans) - 1)][1]
            near = {stem(t) for t in tokenize(p.text[lo:hi])}
            cov = sum(w if t in own else (0.5 * w if t in near else 0.0) for t, w in weights.items()) / total
            score = self.similarity_weight * float(sim) + (1 - self.similarity_weight) * cov
            out.append(Evidence(text=p.text[a:b], source=p.source, start=p.start + a, end=p.start + b, page=p.page,
                                similarity=float(sim), coverage=cov, score=score, matched=frozenset(own & terms)))
        out.sort(key=lambda e: -e.score)
        return out

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        return self.select(self.rank(question, passages), passages)

    def should_abstain(self, ranked: list[Evidence]) -> bool:
        if not ranked:
            return True
        # A follow-up whose best evidence the previous answer already cited stays on an established
        # topic, so it is not held to the threshold ("What is his name?" has few words of its own).
        on_topic = bool(self.previous_answer) and ranked[0].text in self.previous_answer
        return ranked[0].score < self.threshold and not on_topic

    def select(self, ranked: list[Evidence], passages: list[Passage]) -> Answer:
        """The answer from already ranked evidence: the best sentences, or an abstention."""
        if self.should_abstain(ranked):
            return abstention(passages)
        return cited_answer(self.choose(ranked))

    def choose(self, ranked: list[Evidence]) -> list[Evidence]:
        """The sentences that answer: the best, and a second one that is nearly as good or holds
        question words the first lacks (a two-part, "multi-hop" question is often answered by two)."""
        best = ranked[0]
        chosen = [best]
        covered = set(best.matched)
        for e in ranked[1:]:
            if len(chosen) >= self.max_sentences or e.score < best.score - _SECOND_SENTENCE_MARGIN:
                break
            if e.score >= best.score - 0.05 or e.matched - covered:
                chosen.append(e)
                covered |= e.matched
        return chosen


def abstention(passages: list[Passage]) -> Answer:
    return Answer(text=ABSTAIN_TEXT, citations=[], abstained=True, see_also=list(passages[:3]), backend="none")


def cited_answer(evidence: list[Evidence], backend: str = "none") -> Answer:
    return compose([(e.text, (e,)) for e in evidence], backend)


def compose(parts: list[tuple[str, tuple[Evidence, ...]]], backend: str, notice: str = "") -> Answer:
    """An Answer from (sentence, the evidence it cites) pairs. Citations are numbered in order of
    first use, one per source sentence, however many answer sentences cite it."""
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
        quoted = len(evidence) == 1 and text == evidence[0].text
        sentences.append(AnswerSentence(text=text, citations=tuple(dict.fromkeys(ns)), quoted=quoted))
    text = " ".join(f"{s.text} " + "".join(f"[{n}]" for n in s.citations) for s in sentences)
    return Answer(text=text, citations=citations, abstained=False, sentences=sentences, backend=backend,
                  notice=notice)


# ---- LLM answers ---------------------------------------------------------------------------------
# The LLM writes; the evidence decides. The extractive ranking picks what the model sees and whether
# to answer at all, and every sentence the model writes is verified against what it cites.

# Small models like to announce their answer ("The answer is: ...", "The passage mentions that ...");
# the announcement carries nothing and the rest may be a good answer.
_META = re.compile(r"^(?:(?:the )?(?:answer|passage|passages|text|question)\b[^:]{0,60}:\s*[\"“]?|"
                   r"(?:the )?(?:passages?|text|context)(?: \[\d+\])? (?:mentions|says|states|notes|explains|"
                   r"indicates|tells us|reports|describes how) (?:that )?|according to (?:the )?passages?(?: \[\d+\])?, )",
                   re.IGNORECASE)
_LIST_MARK = re.compile(r"^\s*(?:\d{1,2}[.)]|[-*•])\s+")  # "1. In 1939, ..."
# Not an answer: "I don't know", or talk about the passages/question instead of the documents' content.
_IDK = re.compile(r"\b(i don'?t know|(?:do|does|did)(?:n'?t| not) (?:contain|mention|say|provide|answer)|"
                  r"not (?:contain|mention|say)|none of (?:them|the)|no (?:information|answer)|"
                  r"the (?:passages?|question|text|context)\b|\bthe answer is\b)", re.IGNORECASE)


def numbered_passages(ranked: list[Evidence], limit: int) -> dict[int, Evidence]:
    """The best evidence sentences, numbered from 1 in rank order, as the model will see them."""
    # Headings and captions ("Sirte Libya") rank well on shared words but answer nothing; a small
    # model given one simply repeats it.
    useful = [e for e in ranked if len(e.text.split()) >= 4][:limit]
    return dict(enumerate(useful, start=1))


def _as_checkable(numbered: dict[int, Evidence]):
    from .verification import NumberedPassage, SourceSentence

    return [NumberedPassage(n, (SourceSentence(e.text, e.source, e.start, e.end, e.page),))
            for n, e in numbered.items()]


def render_passages(numbered: dict[int, Evidence]) -> str:
    return "\n".join(f"[{n}] {' '.join(e.text.split())}" for n, e in numbered.items())


class LLMAnswerer:
    """Asks a chat model for a short cited answer over numbered evidence, then keeps only what the
    cited passages support. Unsupported sentences are dropped; when nothing survives, the extractive
    answer (the best-ranked source sentences, quoted) stands instead, with a notice. What survives
    leads the answer, and the extractive sentences follow it, quoted, unless it already says them
    (`llm_keep_evidence`)."""

    def __init__(self, settings, extractive: ExtractiveAnswerer, verifier, backend: str):
        self.settings = settings
        self.extractive = extractive
        self.verifier = verifier
        self.backend = backend

    def stream(self, question: str, ranked: list[Evidence], passages: list[Passage]):
        """Yield the model's tokens (str) as they come, then the verified Answer."""
        from . import llm, prompts
        from .errors import BackendUnavailable

        if self.extractive.should_abstain(ranked):  # whatever a model would write, the documents do not answer
            answer = abstention(passages)
            yield from _pieces(answer.text)
            yield answer
            return
        numbered = numbered_passages(ranked, self.settings.llm_passages)
        system, user = prompts.load("answer").render(passages=render_passages(numbered), question=question)
        drafts: list[str] = []
        try:
            text = ""
            for piece in llm.stream_text(llm.chat_model(self.settings), system, user, self.settings):
                text += piece
                yield piece
            drafts.append(text)
            for i in range(1, self.settings.llm_candidates):  # sampled alternatives, not streamed
                model = llm.chat_model(self.settings, temperature=0.7)
                drafts.append(llm.complete(model, system, user, self.settings))
        except BackendUnavailable as e:
            if not drafts:
                answer = cited_answer(self.extractive.choose(ranked))
                yield replace(answer, notice=f"LLM unavailable, showing the extractive answer instead. {e}")
                return
        yield self.best(question, drafts, ranked, numbered)

    def best(self, question: str, drafts: list[str], ranked: list[Evidence], numbered: dict[int, Evidence]) -> Answer:
        """The verified answer from the best supported draft, or the extractive answer."""
        from .verification import split_draft

        checkable = _as_checkable(numbered)
        results = []
        for draft in drafts:
            checks = self.verifier.check(split_draft(draft), checkable)
            kept = sum(c.supported for c in checks)
            results.append(((kept, -len(checks) + kept, sum(c.similarity for c in checks if c.supported)), checks))
        _, checks = max(results, key=lambda r: r[0])
        # Supported is not enough: an answer built only on weaker passages is true but often beside
        # the point (asked which city's chief spoke, it describes another city), so the model's
        # answer must draw on the best evidence, passage 1.
        on_point = any(c.supported and 1 in c.cited for c in checks)
        lead, dropped = self.lead(question, checks, numbered) if on_point else ([], 0)
        evidence = self.extractive.choose(ranked)
        if not lead:
            return replace(cited_answer(evidence), notice="The model's answer was not supported by the best "
                                                          "passage; showing the extractive answer instead.")
        notice = (f"{dropped} sentence(s) of the model's answer were not supported by the passages they cite "
                  "and were removed.") if dropped else ""
        if self.settings.llm_keep_evidence:
            # A small model's true sentence often leaves out the very name or date asked for, so the
            # evidence sentences follow the model's, quoted, unless the model already said them.
            # A model's sentence that is only a piece of an evidence sentence adds nothing to it.
            quotes = [_words(e.text) for e in evidence]
            lead = [(text, cited) for text, cited in lead if not any(_words(text) in q for q in quotes)]
            said = _words(" ".join(text for text, _ in lead))
            lead += [(e.text, (e,)) for e in evidence if _words(e.text) not in said]
        return compose(lead, self.backend, notice)

    @staticmethod
    def lead(question: str, checks, numbered: dict[int, Evidence]) -> tuple[list[tuple[str, tuple[Evidence, ...]]], int]:
        """The model's sentences that may be shown, with the evidence they cite, and how many were
        dropped: unsupported ones, refusals and talk about the passages, and ones that only repeat
        the question."""
        asked = {stem(t) for t in tokenize(question)}
        shown: list[tuple[str, tuple[Evidence, ...]]] = []
        dropped = 0
        for c in checks:
            text = _META.sub("", _LIST_MARK.sub("", c.draft.text)).strip() or c.draft.text
            text = text[:1].upper() + text[1:]
            if not c.supported or _IDK.search(text) or {stem(t) for t in tokenize(text)} <= asked:
                dropped += 1
            elif all(text != t for t, _ in shown):
                shown.append((text, tuple(numbered[n] for n in c.cited)))
        return shown, dropped


def _words(text: str) -> str:
    """Content words in order, space-padded, for "does this text already say that sentence"."""
    return f" {' '.join(tokenize(text))} "


def _pieces(text: str) -> list[str]:
    return re.findall(r"\S+\s*", text)


def condense_question(question: str, history: list[tuple[str, str]], settings) -> tuple[str, str]:
    """(standalone question, notice). The LLM rewrites a follow-up where one is configured; its
    rewrite is kept only if it brings in words from the conversation, otherwise (or when the
    backend is down) `standalone_question` does it without a model."""
    fallback = standalone_question(question, history)
    if not history or not settings.uses_llm:
        return fallback, ""
    from . import llm, prompts
    from .errors import BackendUnavailable

    turns = history[-2:]
    convo = "\n".join(f"Q: {q}\nA: {' '.join(a.split())[:300]}" for q, a in turns)
    system, user = prompts.load("condense").render(history=convo, question=question)
    try:
        text = llm.complete(llm.chat_model(settings, temperature=0.0), system, user, settings)
    except BackendUnavailable as e:
        return fallback, f"LLM unavailable for the follow-up question, used the earlier turn instead. {e}"
    rewrite = " ".join(text.strip().splitlines()[0].split()).strip("\"'") if text.strip() else ""
    own = {stem(t) for t in tokenize(question)}
    context = {stem(t) for q, a in turns for t in tokenize(q + " " + a)}
    brought = {stem(t) for t in tokenize(rewrite)} & (context - own)
    kept = not own or own & {stem(t) for t in tokenize(rewrite)}  # still asks what the user asked
    if not brought or not kept or len(rewrite) > 3 * len(question) + 80:
        return fallback, ""
    return rewrite, ""
