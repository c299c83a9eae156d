"""Reader stage 3, candidates and model scores, and the reader that runs the stages in order:
`ExtractiveAnswerer.rank` scores every sentence of the retrieved passages as the answer by rules
(closeness to the question, the question's words it holds, a rule span of the asked kind; a
sentence that cannot be an answer ranks last), `read` adds the reader model's scores and takes its
span as the lead, `constraints_hold` holds the question's numbers (`constraints`), `should_abstain`
decides, and `select` / `choose` pick the sentences the answer cites (`answer`) or abstain
(`abstain`). A choice or yes/no question is answered from each option's sentence by
rag/choices.py; a disagreement between documents is shown by rag/disagreement.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from ..choices import choice_parts
from ..disagreement import cited_in_order, find_disagreement
from ..disagreement import note as disagreement_note
from ..text import flatten, split_sentences, stem, stems, terms
from ..types import Answer, Evidence, Passage, Question
from .abstain import abstention
from .answer import choice_answer, cited_answer, compose
from .constraints import _constraint_notice, numbers_occur
from .question import analyse
from .spans import _CODEY, find_answer, pattern_answer

# Words a question uses to ask for a statement ("what did X say?"); the answer seldom repeats them,
# so they count for nothing in coverage.
_REPORTING_WORDS = frozenset("say said says tell told according mention mentioned describe described".split())
_SECOND_SENTENCE_MARGIN = 0.15  # how far below the best a complementary second sentence may score
# What a sentence that cannot be the answer (a fragment, code, instructions, a broken constraint)
# loses: more than any score can gain, so it ranks below every candidate that can.
_RANK_LAST = 1.0
_MODEL_READS = 8  # the reader model reads the passages holding the rules' best sentences, this many
_NO_READING = 10.0  # a sentence the model did not read counts as this sure there is no answer (logits)
# Text written as instructions to an assistant, not as information: never an answer on its own.
INSTRUCTION = re.compile(r"\b(?:ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|prompts?)|"
                         r"disregard (?:all |any )?(?:previous|prior|the above)|system (?:prompt|override)|"
                         r"(?:you are|as) an? (?:ai|assistant|language model)|the assistant (?:must|should)|"
                         r"(?:answer|respond|reply) (?:every|all|each|any) (?:question|query)|whatever the question|"
                         r"from now on,? (?:answer|say|respond)|(?:say|tell the user|answer) that\b|"
                         r"the password (?:of|for|is)\b|reveal (?:the|your) (?:system|configuration|prompt))",
                         re.IGNORECASE)


class ExtractiveAnswerer:
    """Ranks the sentences of retrieved passages as answers and answers from the best, or abstains.

        reader = ExtractiveAnswerer(embedder, idf, threshold=0.5)
        ranked = reader.rank("who is Ismail Shukri?", passages)
        answer = reader.select(ranked, passages)   # Answer, leading with the answer span
    """

    def __init__(self, embedder, idf: Callable[[str], float], threshold: float = 0.4, max_sentences: int = 2,
                 similarity_weight: float = 0.5, previous_answer: str = "", span_weight: float = 0.1,
                 documents: Callable[[str], tuple[str, str] | None] | None = None, model=None,
                 model_weight: float = 0.0):
        """`previous_answer`: in a conversation, the last answer's text (see `should_abstain`).
        `span_weight`: what finding an answer of the asked kind adds to a sentence's score.
        `documents`: source -> (title, text) of a stored document, where the question's numbers are
        looked for (without it, the passage and its title).
        `model`: rag's reader model (rag.reader.model.ReaderModel) or None for the rules alone;
        `model_weight`: what its margin adds to a sentence's score (see `_model_term`). Abstention
        reads the rules' score alone, model or not (`should_abstain`)."""
        self.model = model
        self.model_weight = model_weight
        self.embedder = embedder
        self.idf = idf
        self.threshold = threshold
        self.max_sentences = max_sentences
        self.similarity_weight = similarity_weight
        self.previous_answer = previous_answer
        self.span_weight = span_weight
        self.documents = documents
        self._documents: dict[str, tuple[str, str] | None] = {}
        self.question: Question | None = None
        self.notice = ""

    def rank(self, question: str, passages: list[Passage]) -> list[Evidence]:
        """Every sentence of the passages, best evidence first. Sentences that cannot be an answer
        (fragments, code lines unless code is asked for, instructions to an assistant; PDF running
        headers never reach a chunk, see `Document.furniture`)
        rank last; a sentence whose passage breaks one of the question's constraints ranks below
        every one that keeps them."""
        q = analyse(question)
        self.question = q
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
        vectors = self.embedder.encode([q.text] + [flatten(passages[pi].text[a:b]) for pi, a, b, _ in cands])
        sims = vectors[1:] @ vectors[0]
        wanted = terms(question) - {stem(w) for w in _REPORTING_WORDS}
        asked = terms(question)
        weights = {t: self.idf(t) for t in wanted}
        total = sum(weights.values()) or 1.0
        kept = {pi: self.constraints_hold(q, p) for pi, p in enumerate(passages)}
        out: list[tuple[int, Evidence]] = []
        for (pi, a, b, idx), sim in zip(cands, sims):
            p, spans = passages[pi], spans_by_passage[pi]
            text = p.text[a:b]
            # Neighbouring sentences count half: "He said ..." after the sentence naming him.
            own = terms(text)
            if pattern_answer(q, text):  # its form answers what the words ask: count them as said
                own |= asked
            lo, hi = spans[max(idx - 1, 0)][0], spans[min(idx + 1, len(spans) - 1)][1]
            near = terms(p.text[lo:hi])
            cov = sum(w if t in own else (0.5 * w if t in near else 0.0) for t, w in weights.items()) / total
            score = self.similarity_weight * float(sim) + (1 - self.similarity_weight) * cov
            span = find_answer(q, text, asked)
            if span or (q.asks_code and _CODEY.search(text)):  # a command answers "what is the command"
                score += self.span_weight
            if len(own - asked) < 2 and q.kind != "other":
                score -= self.span_weight  # restates the question: "Tesla Q2 2020 revenue."
            if not _answerable_text(text, q):
                score -= _RANK_LAST
            if not kept[pi]:
                score -= _RANK_LAST
            start = p.start + a
            a_start, a_end = (start + span[0], start + span[1]) if span and span[2] else (None, None)
            out.append((pi, Evidence(text=text, source=p.source, start=start, end=p.start + b, page=p.page,
                                     similarity=float(sim), coverage=cov, score=score,
                                     matched=frozenset(own & wanted), answer_start=a_start, answer_end=a_end)))
        # The model was trained on prose: for a command or code it is the rules' call alone.
        ranked = self.read(q, passages, out, asked) if self.model and not q.asks_code else [e for _, e in out]
        ranked.sort(key=lambda e: -e.score)
        if ranked and max(e.rule_score for e in ranked) < 0 and not all(kept.values()):
            self.notice = _constraint_notice(q, passages)
        return ranked

    def read(self, q: Question, passages: list[Passage], scored: list[tuple[int, Evidence]],
             asked: set[str]) -> list[Evidence]:
        """The rule-scored sentences with the reader model's reading added: it reads only the
        passages holding the rules' best `_MODEL_READS` sentences (a sentence the rules rank far
        down is rarely the answer, and each passage read costs ~0.1 s on two cores); a sentence it
        did not read counts as read without an answer."""
        best = sorted(scored, key=lambda x: -x[1].score)[:_MODEL_READS]
        read_pis = sorted({pi for pi, e in best if e.score > -_RANK_LAST / 2})
        readings = dict(zip(read_pis, self.model.read(q.text, [(passages[pi].title or "", passages[pi].text)
                                                                for pi in read_pis])))
        out = []
        for pi, e in scored:
            p = passages[pi]
            reading = readings.get(pi)
            got = reading.best(e.start - p.start, e.end - p.start, p.start) if reading else None
            term = self.model_weight * _model_term(got.margin if got else -_NO_READING)
            e = replace(e, score=e.score + term, model_term=term, reader=got)
            if got is not None:
                a, b = _without_markup(p.text, got.start - p.start, got.end - p.start)
                if a < b and _model_leads(q, e.answer_start, p.text[a:b], asked):
                    e = replace(e, answer_start=p.start + a, answer_end=p.start + b)
            out.append(e)
        return out

    def constraints_hold(self, q: Question, passage: Passage) -> bool:
        """The years and other numbers the question gives occur in the passage's document (its
        title or text). Names are not held to this: a multi-hop or comparison question names
        things that different documents describe, and a document names a person once, then says
        "he"; names weigh in the ranking through coverage instead."""
        if not q.numbers:
            return True
        if passage.source not in self._documents:
            self._documents[passage.source] = self.documents(passage.source) if self.documents else None
        found = self._documents[passage.source]
        title, text = found if found else (passage.title, passage.text)
        return numbers_occur(q.numbers, f"{title}\n{text}")

    def answer(self, question: str, passages: list[Passage]) -> Answer:
        return self.select(self.rank(question, passages), passages)

    def should_abstain(self, ranked: list[Evidence]) -> bool:
        if not ranked:
            return True
        # A follow-up whose best evidence the previous answer already cited stays on an established
        # topic, so it is not held to the threshold ("What is his name?" has few words of its own).
        on_topic = bool(self.previous_answer) and ranked[0].text in self.previous_answer and ranked[0].score > 0
        if on_topic:
            return False
        # The reader model ranks and leads, but whether anything answers is the rules' call: the
        # model's answerability separated answerable from unanswerable questions worse than the
        # rules' score did (BENCHMARKS.md, "rag's reader model").
        return max(e.rule_score for e in ranked) < self.threshold

    def select(self, ranked: list[Evidence], passages: list[Passage]) -> Answer:
        """The answer from already ranked evidence: the best sentences, or an abstention."""
        if self.should_abstain(ranked):
            return abstention(passages, self.notice)
        decided = choice_parts(self.question, ranked) if self.question else None
        if decided is not None:  # "X or Y?", "are X and Y both ...?": each option's sentence, cited
            return choice_answer(*decided)
        chosen = self.choose(ranked)
        if self.question and self.question.options:  # a span that is no option does not answer "X or Y?"
            return compose([(e.text, (e,)) for e in chosen], "none")
        found = find_disagreement(ranked, chosen, passages)  # both sides shown: a planted document cannot silently win
        if found is not None:
            answer = cited_answer(cited_in_order(found, chosen))
            return replace(answer, notice=disagreement_note(found, answer.citations))
        return cited_answer(chosen)

    def choose(self, ranked: list[Evidence]) -> list[Evidence]:
        """The sentences that answer: the best, and a second one that is nearly as good or holds
        question words the first lacks (a two-part, "multi-hop" question is often answered by two).
        The second is judged by the rules' scores: with the reader model, the model picks the first
        sentence and the rules' own runner-up stays beside it."""
        best = ranked[0]
        chosen = [best]
        covered = set(best.matched)
        for e in sorted(ranked[1:], key=lambda e: -e.rule_score):
            if len(chosen) >= self.max_sentences or e.rule_score < best.rule_score - _SECOND_SENTENCE_MARGIN:
                break
            if e.rule_score >= best.rule_score - 0.05 or e.matched - covered:
                chosen.append(e)
                covered |= e.matched
        return chosen


def _model_leads(q: Question, rule_start: int | None, span: str, asked: set[str]) -> bool:
    """Whether the model's span, not the rules', leads the answer: it does unless it only repeats
    the question's words, the question wants a statement (the sentence is the answer), or a
    "who is X?" apposition was found by the rules, which read appositions better (BENCHMARKS.md,
    "rag's reader model")."""
    if q.kind == "statement" or (q.kind == "definition" and rule_start is not None):
        return False
    return bool(stems(span) - asked) and span.lower() not in q.text.lower()


_LINK_TARGET = re.compile(r"\]\(|\]\[")  # markdown: [text](target), [text][ref]


def _without_markup(text: str, a: int, b: int) -> tuple[int, int]:
    """The span text[a:b] without the markdown around it: a link's target after its text
    ("BSD](LICENSE)" is "BSD"), a bracket or code span it cuts in two, and brackets, backticks
    and emphasis marks at either end ("`libzstd`" is "libzstd"). The model reads the raw text,
    marks and all."""
    def strip(a: int, b: int) -> tuple[int, int]:
        while a < b and text[a] in "[(`*_\"' \t\n":
            a += 1
        while b > a and text[b - 1] in "[(`*_\"')] \t\n" and not (text[b - 1] == ")" and "(" in text[a:b]):
            b -= 1
        return a, b

    link = _LINK_TARGET.search(text, a, b)
    if link:
        b = link.start()
    a, b = strip(a, b)
    if text.count("[", a, b) > text.count("]", a, b):  # "The [libsodium-doc": a link's text, opened
        a = text.rindex("[", a, b) + 1
    if text.count("`", a, b) % 2:  # a code span cut in two: the longer side
        tick = text.index("`", a, b)
        a, b = (a, tick) if tick - a >= b - tick - 1 else (tick + 1, b)
    return strip(a, b)


def _model_term(margin: float) -> float:
    """The reader model's margin (logits) on the scale of the rule score (about -1 to 1)."""
    return max(-1.0, min(1.0, margin / 10.0))


def _answerable_text(text: str, q: Question) -> bool:
    """A sentence a person would accept as an answer: not a bare page number or heading fragment,
    not instructions to an assistant, not a code or command line unless the question asks for code."""
    words = re.findall(r"[^\W\d_]{2,}", text)
    if len(words) < 2 and not (q.kind in ("number", "date") and re.search(r"\d", text)):
        return False
    if INSTRUCTION.search(text):
        return False
    return q.asks_code or not _CODEY.search(text)
