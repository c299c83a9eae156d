"""Checks an LLM answer sentence by sentence against the numbered passages it cites.

A sentence is supported when (1) every name, number and date in it occurs in a passage it cites,
and (2) its meaning is close to one sentence of those passages (cosine similarity with the
bundled embedder). It does not judge whether the answer is relevant to the question; the
answerer decides that before the LLM is called.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .chunking import split_sentences

_CITE = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_AFTER_STOP = re.compile(r"([.!?][\"'”’]?)((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"[^\W\d_][\w'’-]*")
_MONTHS = ("january february march april may june july august september october november december "
           "jan feb mar apr jun jul aug sep sept oct nov dec monday tuesday wednesday thursday friday "
           "saturday sunday").split()
# Capitalised only because they start a sentence or are "I": not names.
_COMMON = set(("a an the he she it they we i you his her its their this that these those there here what who "
               "which when where why how yes no according in on at to of for from by with as and but or so "
               "also some most many several both one two three however while although after before during "
               "since because if then answer passage passages question").split())


@dataclass(frozen=True)
class SourceSentence:
    """A sentence of a retrieved document: `document.text[start:end] == text`."""

    text: str
    source: str
    start: int
    end: int
    page: int | None = None


@dataclass(frozen=True)
class NumberedPassage:
    """Passage [n] as shown to the model: one or more consecutive source sentences."""

    n: int
    sentences: tuple[SourceSentence, ...]

    @property
    def text(self) -> str:
        return " ".join(s.text for s in self.sentences)


@dataclass(frozen=True)
class DraftSentence:
    """One sentence of what the model wrote, without its [n] markers."""

    text: str
    cited: tuple[int, ...]


@dataclass(frozen=True)
class Check:
    draft: DraftSentence
    supported: bool
    cited: tuple[int, ...]  # the passages it was checked against (its own markers, or the closest passage)
    best: SourceSentence | None  # the cited source sentence closest in meaning
    best_n: int | None
    similarity: float
    missing: tuple[str, ...]  # names, numbers or dates not found in the cited passages


def split_draft(text: str) -> list[DraftSentence]:
    """Split model output into sentences and their [n] citations. A marker right after a sentence's
    final stop ("... Misrata. [1]") belongs to that sentence."""
    text = " ".join(text.split())
    text = _AFTER_STOP.sub(lambda m: m.group(2) + m.group(1), text)  # "BBC. [1][2]" -> "BBC [1][2]."
    out: list[DraftSentence] = []
    for span in split_sentences(text):
        piece = text[span.start:span.end]
        cited = tuple(int(n) for m in _CITE.finditer(piece) for n in re.split(r"\s*,\s*", m.group(1)))
        clean = _CITE.sub("", piece).strip()
        if not re.search(r"\w", clean):  # a lone "[2]" split off after the stop
            if out and cited:
                out[-1] = DraftSentence(out[-1].text, out[-1].cited + cited)
            continue
        out.append(DraftSentence(clean, cited))
    return out


def key_terms(sentence: str) -> list[str]:
    """The names, numbers and dates a sentence asserts: what must occur in its source."""
    terms = [m.group(0).rstrip(".,:") for m in _NUMBER.finditer(sentence)]
    for i, m in enumerate(_WORD.finditer(sentence)):
        word = m.group(0).strip("'’-")
        low = word.lower().removesuffix("'s").removesuffix("’s")
        if not word:
            continue
        if low in _MONTHS:
            terms.append(word)
        elif word[0].isupper() and low not in _COMMON:
            terms.append(word.removesuffix("'s").removesuffix("’s"))
    return terms


def _occurs(term: str, text: str) -> bool:
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE) is not None


class Verifier:
    def __init__(self, embedder, min_similarity: float = 0.6):
        self.embedder = embedder
        self.min_similarity = min_similarity

    def check(self, drafts: list[DraftSentence], passages: list[NumberedPassage]) -> list[Check]:
        """Check every draft sentence against the passages it cites. A sentence without a valid
        citation is checked against the passage closest to it, so a forgotten [n] costs nothing
        but an invented fact still fails."""
        if not drafts:
            return []
        by_n = {p.n: p for p in passages}
        flat = [(p.n, s) for p in passages for s in p.sentences]
        vectors = self.embedder.encode([d.text for d in drafts] + [s.text for _, s in flat])
        draft_vecs, source_vecs = vectors[: len(drafts)], vectors[len(drafts):]
        sims = draft_vecs @ source_vecs.T  # normalised embeddings: cosine
        checks = []
        for i, draft in enumerate(drafts):
            cited = tuple(n for n in dict.fromkeys(draft.cited) if n in by_n)
            if not cited and flat:
                cited = (flat[int(sims[i].argmax())][0],)
            candidates = [j for j, (n, _) in enumerate(flat) if n in cited]
            if not candidates:
                checks.append(Check(draft, False, cited, None, None, 0.0, ()))
                continue
            j = max(candidates, key=lambda j: sims[i, j])
            cited_text = " ".join(by_n[n].text for n in cited)
            missing = tuple(t for t in key_terms(draft.text) if not _occurs(t, cited_text))
            similarity = float(sims[i, j])
            checks.append(Check(draft, not missing and similarity >= self.min_similarity, cited, flat[j][1],
                                flat[j][0], similarity, missing))
        return checks
