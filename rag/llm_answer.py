"""Ranked evidence -> an Answer written by a chat model, of which only verified sentences are ever
shown. The reader (rag/reader/) decides what the model sees and whether to answer at all;
the model writes; rag/verification.py checks each sentence as soon as the model finishes it, and
only a sentence that passed is streamed. Nothing the model writes reaches a client unchecked.

It does not build models (rag/llm.py) or judge support itself (rag/verification.py).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator

from .reader import abstention, cited_answer, compose
from .text import flatten, stems, tokenize
from .types import Answer, Evidence, Passage

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

Part = tuple[str, tuple[Evidence, ...]]
log = logging.getLogger(__name__)


def numbered_passages(ranked: list[Evidence], limit: int) -> dict[int, Evidence]:
    """The best evidence sentences, numbered from 1 in rank order, as the model will see them."""
    # Headings and captions ("Sirte Libya") rank well on shared words but answer nothing; a small
    # model given one simply repeats it.
    useful = [e for e in ranked if len(e.text.split()) >= 4][:limit]
    return dict(enumerate(useful, start=1))


def render_passages(numbered: dict[int, Evidence]) -> str:
    return "\n".join(f"[{n}] {flatten(e.text)}" for n, e in numbered.items())


class LLMAnswerer:
    """Asks a chat model for a short cited answer over numbered evidence and streams only the
    sentences the cited passages support. A supported sentence is held back until one of them
    draws on the best passage ([1]): an answer built only on weaker passages is true but often
    beside the point. When nothing survives, the extractive answer stands instead, with a notice.
    The evidence sentences follow the model's, quoted, unless it already said them
    (`llm_keep_evidence`)."""

    def __init__(self, settings, reader, verifier, backend: str):
        self.settings = settings
        self.reader = reader
        self.verifier = verifier
        self.backend = backend

    def stream(self, question: str, ranked: list[Evidence], passages: list[Passage]) -> Iterator[str | Answer]:
        """Yield verified text pieces as each model sentence passes, then the Answer, whose text the
        pieces spell exactly."""
        from . import llm, prompts

        if self.reader.should_abstain(ranked):  # whatever a model would write, the documents do not answer
            yield from _spell(abstention(passages, self.reader.notice))
            return
        numbered = numbered_passages(ranked, self.settings.llm_passages)
        system, user = prompts.load("answer").render(passages=render_passages(numbered), question=question)

        def draft() -> Iterator[str]:  # the model starts only when the first piece is asked for
            yield from llm.stream_text(llm.chat_model(self.settings), system, user, self.settings)

        yield from self.verified(question, draft(), numbered, self.reader.choose(ranked))

    def verified(self, question: str, draft: Iterable[str], numbered: dict[int, Evidence],
                 evidence: list[Evidence]) -> Iterator[str | Answer]:
        """Read the model's draft as it comes (`draft`: its text in pieces) and yield the answer's
        text as each sentence passes verification, then the Answer. `evidence`: the extractive
        answer's sentences, quoted after the model's and shown alone when none of its pass."""
        from .errors import BackendUnavailable
        from .verification import split_draft

        checkable = _checkable(numbered)
        shown: list[Part] = []
        held: list[Part] = []
        on_point, dropped, checked, text, streamed = False, 0, 0, "", ""

        def take(sentence) -> Iterator[str]:
            nonlocal on_point, dropped, streamed
            check = self.verifier.check([sentence], checkable)[0]
            part = self.keep(question, check, numbered, evidence, shown + held)
            on_point = on_point or (check.supported and 1 in check.cited)
            if part is None:
                if not check.supported or not _idle(check.draft.text, question):
                    dropped += 1
                    log.info("model sentence not shown (supported=%s, missing=%s): %s", check.supported,
                             list(check.missing), check.draft.text)
                return
            held.append(part)
            if on_point:
                shown.extend(held)
                held.clear()
                now = compose(shown, self.backend).text
                yield now[len(streamed):]
                streamed = now

        try:
            for piece in draft:
                text += piece
                sentences = split_draft(text)
                while checked < len(sentences) - 1:  # the last sentence may still grow
                    yield from take(sentences[checked])
                    checked += 1
            for sentence in split_draft(text)[checked:]:
                yield from take(sentence)
        except BackendUnavailable as e:
            if not shown:
                yield from _spell(cited_answer(evidence), streamed,
                                  f"LLM unavailable, showing the extractive answer instead. {e}")
                return
        if not shown:
            yield from _spell(cited_answer(evidence), streamed, "The model's answer was not supported by the best "
                                                                "passage; showing the extractive answer instead.")
            return
        parts = list(shown)
        if self.settings.llm_keep_evidence:
            # A small model's true sentence often leaves out the very name or date asked for, so the
            # evidence sentences follow the model's, quoted, unless the model already said them.
            said = _words(" ".join(t for t, _ in parts))
            parts += [(e.text, (e,)) for e in evidence if _words(e.text) not in said]
        notice = (f"{dropped} sentence(s) of the model's answer were not supported by the passages they cite "
                  "and were removed.") if dropped else ""
        yield from _spell(compose(parts, self.backend, notice), streamed)

    def keep(self, question: str, check, numbered: dict[int, Evidence], evidence: list[Evidence],
             earlier: list[Part]) -> Part | None:
        """The model's sentence as it may be shown, with the evidence it cites, or None: unsupported,
        a refusal or talk about the passages, a repeat of the question, or only a piece of an
        evidence sentence that will be quoted anyway."""
        text = _META.sub("", _LIST_MARK.sub("", check.draft.text)).strip() or check.draft.text
        text = text[:1].upper() + text[1:]
        if not check.supported or not _idle(text, question):
            return None
        quotes = [_words(e.text) for e in evidence] if self.settings.llm_keep_evidence else []
        if any(_words(text) in q for q in quotes) or any(text == t for t, _ in earlier):
            return None
        return text, tuple(numbered[n] for n in check.cited)


def _idle(text: str, question: str) -> bool:
    """False for a sentence that says nothing: a refusal, talk about the passages, or the question again."""
    return not _IDK.search(text) and not stems(text) <= stems(question)


def _checkable(numbered: dict[int, Evidence]):
    from .verification import NumberedPassage

    return [NumberedPassage(n, (e,)) for n, e in numbered.items()]


def _words(text: str) -> str:
    """Content words in order, space-padded, for "does this text already say that sentence"."""
    return f" {' '.join(tokenize(text))} "


def _spell(answer: Answer, streamed: str = "", notice: str = "") -> Iterator[str | Answer]:
    """The answer's text after what was already streamed, in word pieces, then the Answer."""
    from dataclasses import replace

    if notice:
        answer = replace(answer, notice=notice)
    rest = answer.text[len(streamed):] if answer.text.startswith(streamed) else answer.text
    yield from re.findall(r"\s*\S+", rest)
    yield answer
