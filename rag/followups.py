"""Follow-up questions -> standalone questions, before retrieval. "What is his name?" after a
question about the French foreign minister is searched as a question about him.

Without an LLM, a follow-up that leans on earlier turns (a pronoun, or almost no words of its
own and no name of its own) gets the previous question in front of it. With an LLM, the model
rewrites it (`prompts/condense.md`) and the rewrite is kept only if it brings in the conversation's
words and still asks what the user asked. It does not retrieve or answer.
"""

from __future__ import annotations

import re

from .text import flatten, stems, tokenize

_PRONOUNS = re.compile(r"\b(he|him|his|she|her|hers|it|its|they|them|their|this|that|these|those|there|one)\b",
                       re.IGNORECASE)
_NAME = re.compile(r"(?<!^)(?<![.?!]\s)\b[A-Z][\w'-]+")  # a capitalised word not starting the question


def leans_on_history(question: str, history: list[tuple[str, str]]) -> bool:
    """True when the question cannot stand alone: it points back with a pronoun, or it has almost
    no words of its own and names nothing the conversation did not already name."""
    if not history:
        return False
    if _PRONOUNS.search(question):
        return True
    own = tokenize(question)
    if len(own) > 2:
        return False
    said = stems(" ".join(q + " " + a for q, a in history[-2:]))
    names = [n.lower() for n in _NAME.findall(question.strip())]
    new_name = any(n not in said and n.rstrip("s") not in said for n in names)
    return not own or (not new_name and bool(stems(question) & said))


def standalone_question(question: str, history: list[tuple[str, str]]) -> str:
    """Make a follow-up searchable without an LLM by prefixing the previous question."""
    return f"{history[-1][0]} {question}" if leans_on_history(question, history) else question


def is_rewrite(query: str, history: list[tuple[str, str]]) -> bool:
    """True when the standalone query is a rewritten question, not the earlier turn glued in front."""
    return not any(query.startswith(q) for q, _ in history)


def condense_question(question: str, history: list[tuple[str, str]], settings) -> tuple[str, str]:
    """(standalone question, notice). The LLM rewrites a follow-up where one is configured; its
    rewrite is kept only if it brings in words from the conversation, otherwise (or when the
    backend is down) `standalone_question` does it without a model."""
    fallback = standalone_question(question, history)
    if not history or not settings.uses_llm or fallback == question:
        return fallback, ""
    from . import llm, prompts
    from .errors import BackendUnavailable

    turns = history[-2:]
    convo = "\n".join(f"Q: {q}\nA: {flatten(a)[:300]}" for q, a in turns)
    system, user = prompts.load("condense").render(history=convo, question=question)
    try:
        text = llm.complete(llm.chat_model(settings, temperature=0.0), system, user, settings)
    except BackendUnavailable as e:
        return fallback, f"LLM unavailable for the follow-up question, used the earlier turn instead. {e}"
    rewrite = flatten(text.strip().splitlines()[0]).strip("\"'") if text.strip() else ""
    own = stems(question)
    context = stems(" ".join(q + " " + a for q, a in turns))
    brought = stems(rewrite) & (context - own)
    kept = not own or own & stems(rewrite)  # still asks what the user asked
    if not brought or not kept or len(rewrite) > 3 * len(question) + 80:
        return fallback, ""
    return rewrite, ""
