"""Reader stage 5, abstaining: the answer when the documents hold none, with no citation, the
nearest passages to see instead and what the documents cover (`constraints`). Whether to abstain is
`ExtractiveAnswerer.should_abstain` (`ranking`), which reads the reader's thresholds; `llm_answer`
abstains with this same answer.
"""

from __future__ import annotations

from ..types import Answer, Passage

ABSTAIN_TEXT = "The documents do not contain an answer to this question."


def abstention(passages: list[Passage], notice: str = "") -> Answer:
    return Answer(text=ABSTAIN_TEXT, citations=[], abstained=True, see_also=list(passages[:3]), backend="none",
                  notice=notice)
