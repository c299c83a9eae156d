"""Reader stage 4, the question's constraints: the years and other numbers a question gives must
occur in the evidence's document (`numbers_occur`, looked up per document by
`ExtractiveAnswerer.constraints_hold`); where no passage keeps them, `_constraint_notice` says what
the documents cover instead ("The documents cover 2018, not 2019.").
"""

from __future__ import annotations

import re

from ..types import Passage, Question

_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")


def numbers_occur(numbers: tuple[str, ...], text: str) -> bool:
    plain = text.replace(",", "")
    return all(re.search(rf"(?<![\d.]){re.escape(n)}(?![\d])", plain) for n in numbers)


def _constraint_notice(q: Question, passages: list[Passage]) -> str:
    """What the documents cover instead: "The documents cover 2018, not 2019." """
    asked_years = [n for n in q.numbers if _YEAR.fullmatch(n)]
    found = list(dict.fromkeys(y for p in passages[:3] for y in _YEAR.findall(f"{p.title} {p.text}")
                               if y not in asked_years))
    if asked_years and found:
        return f"The documents cover {', '.join(found[:3])}, not {', '.join(asked_years)}."
    missing = [n for n in q.numbers if not any(numbers_occur((n,), f"{p.title} {p.text}") for p in passages)]
    return f"No passage mentions {', '.join(missing[:3])}." if missing else ""
