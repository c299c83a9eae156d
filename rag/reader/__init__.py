"""Passages -> Answer: the reader. It ranks every sentence of the retrieved passages as the answer
to the question, finds in the best one the span that answers it (a name, place, number, date, a
reason...), checks that the question's own constraints (years, numbers, names) hold in that
evidence, and either answers, leading with the span and citing the sentence, or abstains and
lists the nearest passages. A choice or yes/no question ("Who was born first, X or Y?") is
answered from each option's sentence by rag/choices.py. It needs no LLM and is what every other
backend falls back to.

The stages, in pipeline order:

    question.py     what the question asks for (`analyse`)
    spans.py        the span of a sentence that answers, by rules (`find_answer`)
    ranking.py      candidate sentences and their rule scores, then the reader model's scores and
                    span; `ExtractiveAnswerer`, which runs the stages
    constraints.py  the question's numbers held in the evidence's document
    abstain.py      the answer when there is none (`abstention`)
    answer.py       cited sentences -> an Answer (`compose`, `cited_answer`)

rag's reader model, a MiniLM fine-tuned here (training/) to read a question with a passage and
point at the answer span: `features` makes its inputs (shared with training), `model` runs the
shipped ONNX file. The reader uses it when it loads, and its own rules alone when it does not.

It does not retrieve (rag/retrieval.py), rewrite follow-ups (rag/followups.py) or call a model
(rag/llm_answer.py).
"""

from .abstain import ABSTAIN_TEXT, abstention
from .answer import choice_answer, cited_answer, compose, lead_parts, sentence_text
from .constraints import numbers_occur
from .question import analyse
from .ranking import INSTRUCTION, ExtractiveAnswerer
from .spans import find_answer, pattern_answer

__all__ = ["ABSTAIN_TEXT", "INSTRUCTION", "ExtractiveAnswerer", "abstention", "analyse", "choice_answer",
           "cited_answer", "compose", "find_answer", "lead_parts", "numbers_occur", "pattern_answer",
           "sentence_text"]
