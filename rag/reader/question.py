"""Reader stage 1, the question: what kind of answer it wants (a person, place, organisation,
title, number, date, a reason, a definition of a name, a statement) and the constraints it sets
(names, numbers, the options of a choice question), as a `rag.types.Question`. The name pattern
it finds names with is shared with the rule spans (`spans`).

It does not read the passages (`spans`, `ranking`).
"""

from __future__ import annotations

import re

from ..choices import options_of
from ..text import flatten
from ..types import Question

_KIND_NOUNS = {
    "place": "city country state nation town region province capital place island continent county village "
             "location area site venue destination border territory".split(),
    "organisation": "team company group organization organisation party band club firm brand chain agency "
                    "network bank airline retailer university school league maker manufacturer automaker "
                    "carrier outlet newspaper union government ministry court body".split(),
    "person": "person man woman player actor actress singer rapper president leader politician star candidate "
              "author writer minister official director ceo founder king queen prince princess pope judge "
              "senator governor rider driver athlete artist musician celebrity figure member coach "
              "footballer quarterback pitcher chef billionaire journalist".split(),
    "title": "show film movie book song album series novel game title play episode programme program "
             "painting documentary memoir app name word term nickname".split(),
    "date": "year day date month decade century time".split(),
    "number": "number amount percentage percent age price cost total rate sum population revenue profit income "
              "sales earnings budget salary value worth debt deficit".split(),
}
_NOUN_KIND = {n: kind for kind, nouns in _KIND_NOUNS.items() for n in nouns}
_CODE_WORDS = re.compile(r"\b(command|code|function|option|flag|syntax|snippet|script|install|run|api|"
                         r"argument|parameter|config(?:ure|uration)?)\b", re.IGNORECASE)
# A capitalised word that begins a sentence or a question but names nothing.
_COMMON = frozenset("""a an the he she it they we i you his her its their this that these those there here what
who whom whose which when where why how yes no according in on at to of for from by with as and but or so also
some most many several both one two three however while although after before during since because if then
is are was were do does did has have had can could will would should may might must new recently this week
last year month according meanwhile earlier later now today yesterday monday tuesday wednesday thursday friday
saturday sunday mr mrs ms dr under along besides beyond among within without across against toward towards
upon unlike despite except via per whether either neither each every all any another other such apart aside
instead including not""".split())
_CAPWORD = r"(?:[A-Z][\w’'&.\-]*\w|[A-Z])"
_CONNECT = r"(?:of|the|de|del|da|di|van|von|der|al|bin|ibn|&|le|la|du)"
_NAME = re.compile(rf"{_CAPWORD}(?:(?:\s+{_CONNECT})*\s+{_CAPWORD}|/{_CAPWORD})*")
_Q_NUMBER = re.compile(r"(?<![\w.])\d[\d,.]*\d(?![\w.])|(?<![\w.])\d(?![\w.])")


def analyse(question: str) -> Question:
    """What kind of answer the question wants, and the constraints it sets."""
    q = flatten(question)
    low = q.lower()
    kind = "other"
    subject = ""
    focus = ""
    m = re.search(r"\b(?:which|what)((?:\s+[\w'’-]+){1,4})", low)
    if m:
        focus = next((w for w in m.group(1).split() if _kind_of_noun(w)), "")
    who_is = re.match(r"\s*who\s+(?:is|was|are|were)\s+(.+?)\??$", q, re.IGNORECASE)
    if who_is and _NAME.fullmatch(who_is.group(1).strip().rstrip("?").strip()):
        kind, subject = "definition", who_is.group(1).strip().rstrip("?").strip()
    elif re.search(r"\bhow (?:many|much|old|long|far|big|large|tall|high|often)\b|\bwhat (?:percentage|age|number)\b",
                   low):
        kind = "number"
    elif re.search(r"\b(?:when|what year|what date|what day|which year|since when|what month)\b", low):
        kind = "date"
    elif re.search(r"\bwhere\b", low):
        kind = "place"
    elif re.search(r"\bwhy\b|\bwhat (?:caused|led to|is the reason)\b|\bbecause of what\b", low):
        kind = "reason"
    elif re.search(r"\b(?:who|whom|whose)\b", low):
        kind = "person"
    elif focus:
        kind = _kind_of_noun(focus)
    elif re.search(r"\bwhat (?:did|does|do|has|have|had|is|was)\b.*\b(?:say|said|tell|told|claim|warn|announce|"
                   r"report|mention|think|argue|write|describe|explain)\w*\b", low):
        kind = "statement"  # the sentence is the answer: there is no span to pull out
    elif re.search(r"\b(?:what|which)\b", low):
        kind = "thing"
    # Names: capitalised phrases, less the first word of a sentence unless it is plainly a name.
    names = []
    for nm in _NAME.finditer(q):
        words = [w for w in re.split(r"[\s/]+", nm.group(0)) if w.lower() not in _COMMON or w.isupper() and len(w) > 1]
        if words:
            names.append(" ".join(words))
    numbers = tuple(dict.fromkeys(n.replace(",", "") for n in _Q_NUMBER.findall(q)))
    options, yes_no = options_of(q)
    return Question(text=q, kind=kind, subject=subject, names=tuple(dict.fromkeys(names)), numbers=numbers,
                    asks_code=bool(_CODE_WORDS.search(q)), focus=focus, options=options, yes_no=yes_no)


def _kind_of_noun(word: str) -> str:
    return _NOUN_KIND.get(word) or _NOUN_KIND.get(word.rstrip("s")) or ""

