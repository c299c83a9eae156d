"""Reader stage 2, the rule span: where in one sentence the answer of the asked kind is (a name,
place, number, date, a reason, what "who is X?" is, a photo credit, an alias), found by patterns
alone. A sentence holding one scores higher (`ranking`), and its span leads the answer unless the
reader model's does.

It does not rank sentences (`ranking`) or run the reader model (`rag.reader.model`).
"""

from __future__ import annotations

import re

from ..text import stem, stems, tokenize
from ..types import Question
from .question import _CAPWORD, _COMMON, _NAME

_LOCATIVE = re.compile(r"\b(?:in|at|from|into|across|near|throughout|within|to)\s+(?:the\s+)?"
                       r"(?:[A-Z][\w'-]*(?:\s+[A-Z][\w'-]*)*\s*(?:,|and|or)\s*)*$")
_ADJECTIVE = re.compile(r"-(?:led|based|backed|born|owned|run|made|style|era|like|wide)$")  # "UN-led": no name
_QUOTED = re.compile(r"(?:(?<=[\s(])|^)[\"“‘]([^\"“”‘’]{2,80}?)[\"”’](?=[\s,.;:!?)]|$)")  # a quoted title, not an apostrophe
_PAREN = re.compile(r"\(([^()]{2,60})\)")
_NUMWORD = (r"(?:one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|fifteen|twenty|thirty|forty|"
            r"fifty|hundred|hundreds|thousand|thousands|dozen|dozens|million|millions|billion|trillion|half)")
_UNIT = r"(?:\s?(?:%|[pP]ercent|per cent|[mM]illion|[bB]illion|[tT]rillion|thousand|hundred|[kKmMbB]n?\b))"
_NOUN_AFTER = r"(?:\s+(?!(?:from|to|in|of|on|at|by|for|and|or|the|an?|with|as|than|that|is|was|were|are|be)\b)[a-z][a-z-]+)?"
_NUMBER = re.compile(rf"(?:[$€£¥]\s?)?(?:\d[\d,.]*\d|\d){_UNIT}?{_NOUN_AFTER}|"
                     rf"\b(?i:{_NUMWORD})(?:[\s-]+(?i:{_NUMWORD}))*{_NOUN_AFTER}")
_MONTH = (r"(?:January|February|March|April|May|June|July|August|September|October|November|December|"
          r"Jan\.?|Feb\.?|Mar\.?|Apr\.?|Jun\.?|Jul\.?|Aug\.?|Sept?\.?|Oct\.?|Nov\.?|Dec\.?)")
_DATE = re.compile(rf"\b(?:\d{{1,2}}\s+{_MONTH}(?:\s+\d{{4}})?|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?|"
                   rf"{_MONTH}\s+\d{{4}}|(?:in\s+)?{_MONTH}|(?:1[5-9]|20)\d\d(?:s)?|(?:Monday|Tuesday|Wednesday|"
                   rf"Thursday|Friday|Saturday|Sunday)|(?:last|next|this)\s+(?:year|month|week))\b")
_REASON = re.compile(r"\b(?:because(?: of)?|due to|as a result of|owing to|thanks to|in order to|so that|after|"
                     r"amid|given|since|as|under|following|for fear)\b", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;:!?)–—]|\.(?!\w)|\s(?:and|but|while|which|who|when|where|although|said|told|says)\s")
# Photo credits end captions in news pages: "... Joseph Eid/Getty", "Photo: Jane Doe/AFP".
_PHOTO = re.compile(r"\b(?:photo\w*|picture|image|pictured|shot)\b", re.IGNORECASE)
_CREDIT = re.compile(r"([A-Z][\w'.-]+\s+[A-Z][\w'.-]+)\s*/\s*(?:Getty|AFP|Reuters|AP|EPA|PA|Shutterstock|"
                     r"Alamy|Bloomberg|Corbis|Rex|Anadolu|NurPhoto|SOPA|Xinhua)\b")
# "What other name is used for IS?": "IS (Daesh)", "IS, also known as Daesh".
_ALIAS_Q = re.compile(r"\b(?:other names?|also (?:known|called)|alias|nicknamed?|stands? for|short for|acronym|"
                      r"abbreviation|real name|known as)\b", re.IGNORECASE)
_CODEY = re.compile(r"(^\s*[$#>]\s|[{};]\s*$|\w\([^)]*\)|==|=>|->|::|</?\w+>|^\s*(?:import|from|def|class|"
                    r"return|sudo|pip|apt|git|npm|cd|ls)\b)")


def _candidates(kind: str, sentence: str) -> list[tuple[int, int]]:
    """(start, end) spans in the sentence that could be an answer of this kind."""
    spans: list[tuple[int, int]] = []
    if kind in ("person", "place", "organisation", "title", "thing", "other", "definition"):
        for m in _NAME.finditer(sentence):
            a, b = m.span()
            while True:  # "The Buffalo Bills": the leading common word is not part of the name
                first = re.match(r"(\S+)\s+", sentence[a:b])
                if first and first.group(1).lower() in _COMMON:
                    a += first.end()
                else:
                    break
            if sentence[a:b].lower() not in _COMMON and not _ADJECTIVE.search(sentence[a:b]):
                spans.append((a, b))
        spans += [m.span(1) for m in _QUOTED.finditer(sentence)]
        spans += [m.span(1) for m in _PAREN.finditer(sentence)]
    if kind in ("number", "thing", "other"):
        spans += [m.span() for m in _NUMBER.finditer(sentence) if re.search(r"\d|\w{3}", m.group(0))]
    if kind in ("date", "number"):
        spans += [m.span() for m in _DATE.finditer(sentence)]
    spans = [(a, b) for a, b in spans if b > a and sentence[a:b].strip()]
    if kind == "person":  # "in Syria", "from Tripoli": places, not people
        spans = [(a, b) for a, b in spans if not _LOCATIVE.search(sentence[:a])]
    return spans


def _continuation(sentence: str, asked: set[str]) -> tuple[int, int] | None:
    """What follows the last of the question's words in the sentence, to the end of its clause:
    "What has Sirte seen an influx of?" -> "foreign fighters"."""
    last = None
    for m in re.finditer(r"\w+", sentence):
        if stem(m.group(0).lower()) in asked:
            last = m
    if last is None:
        return None
    rest = sentence[last.end():]
    lead = re.match(r"\s*(?:(?:of|out|up|off|about|that|to|for|with|as|is|was|were|are|by)\s+)*", rest)
    a = last.end() + lead.end()
    stop = _CLAUSE_END.search(sentence, a)
    b = stop.start() if stop else len(sentence)
    b = min(b, a + 120)
    return (a, b) if len(tokenize(sentence[a:b])) >= 1 else None


def _reason(sentence: str, asked: set[str]) -> tuple[int, int] | None:
    """The clause giving a reason ("because ...", "given ...") nearest after the question's words."""
    last = max((m.end() for m in re.finditer(r"\w+", sentence) if stem(m.group(0).lower()) in asked), default=0)
    found = []
    for m in _REASON.finditer(sentence):
        stop = _CLAUSE_END.search(sentence, m.end() + 1)
        b = stop.start() if stop else len(sentence)
        if len(tokenize(sentence[m.start():b])) >= 2:
            found.append((m.start() < last, abs(m.start() - last), (m.start(), b)))
    return min(found)[2] if found else None


def _definition(sentence: str, subject: str) -> tuple[int, int] | None:
    """For "who is X?": the apposition after X ("X, the head of intelligence in ..."), what X is
    ("X is a ..."), or the title in front of X ("Foreign Minister X")."""
    words = [re.escape(w) for w in subject.split()]
    m = re.search(r"\b" + r"\s+".join(words) + r"\b", sentence) if words else None
    if not m:  # the surname alone, as articles name people after the first mention
        m = re.search(rf"\b{words[-1]}\b", sentence) if words else None
    if not m:
        return None
    after = sentence[m.end():]
    app = re.match(r"\s*(?:,|\(|–|—|-)\s*((?:an?|the|who is|who was|one of)\b[^,;:()\"“]{3,150}?)(?=\s*(?:,|;|\)|:|\.|"
                   r"\s(?:told|said|says|who|has|had|was|is|will)\b|$))", after)
    if app:
        a = m.end() + app.start(1)
        return a, a + len(app.group(1).rstrip())
    pred = re.match(r"\s+(?:is|was|has been|became|serves as|served as)\s+((?:an?|the)\b[^,;:\"“]{3,150}?)(?=[,;.]|$)",
                    after)
    if pred:
        a = m.end() + pred.start(1)
        return a, a + len(pred.group(1).rstrip())
    before = re.search(r"((?:[A-Z][\w-]*\s+){1,4})$", sentence[: m.start()])
    if before and before.group(1).split()[0].lower() not in _COMMON:
        return before.start(1), before.end(1) - 1
    return None


def pattern_answer(question: Question, sentence: str) -> tuple[int, int] | None:
    """Answers that a sentence's form gives away whatever its words: a photo credit for "who took
    the photo?", a bracketed or "also known as" alias for "what other name...?"."""
    if _PHOTO.search(question.text):
        credit = _CREDIT.search(sentence)
        if credit:
            return credit.span(1)
    if _ALIAS_Q.search(question.text):
        for name in question.names:
            m = re.search(rf"\b{re.escape(name)}\s*(?:\(([^()]{{2,40}})\)|,?\s+(?:also known as|aka|also called|"
                          rf"known as|or)\s+({_CAPWORD}(?:\s+{_CAPWORD})*))", sentence)
            if m:
                return m.span(1) if m.group(1) else m.span(2)
    return None


def find_answer(question: Question, sentence: str, asked: set[str]) -> tuple[int, int, bool] | None:
    """(start, end, sure): the span of `sentence` that answers `question` (offsets in the
    sentence), or None. A span the question already says ("Who is Ismail Shukri?" -> "Ismail
    Shukri") is no answer. `sure` is False for the nearest name or number in a sentence when the
    question asks for no particular kind ("what ...?"): such a guess helps rank the sentence, but
    held the answer in 29 of 93 cases on the dev sets (BENCHMARKS.md, issue 11), so it does not
    lead the answer."""
    def sure(span: tuple[int, int] | None, is_sure: bool = True) -> tuple[int, int, bool] | None:
        return (span[0], span[1], is_sure) if span else None

    if question.kind == "definition":
        span = _definition(sentence, question.subject)
        if span:
            return sure(span)
    if question.asks_code and _CODEY.search(sentence):
        return None  # a command or a call is quoted whole
    if question.kind == "reason":
        return sure(_reason(sentence, asked))
    if question.kind == "statement":
        return None
    qlow = question.text.lower()

    def new(span: tuple[int, int]) -> bool:
        text = sentence[span[0]:span[1]]
        return bool(stems(text) - asked) and text.lower() not in qlow

    special = pattern_answer(question, sentence)
    if special:
        return sure(special)
    spans = [s for s in _candidates(question.kind, sentence) if new(s)]
    if question.focus:  # "which show ...?" -> "the show Squid Game"
        for m in re.finditer(rf"\b{re.escape(question.focus)}s?\b", sentence, re.IGNORECASE):
            after = [sp for sp in spans if 0 <= sp[0] - m.end() <= 2]
            if after:
                return sure(after[0])
    if question.kind == "thing":  # "What did Kerry rule out?" -> what follows "ruled out"
        cont = _continuation(sentence, asked)
        if cont and new(cont):
            return sure(cont)
    if not spans:
        return None
    # The answer sits near the question's words: "X told BBC Newsnight" for "who told ...". Where
    # the question ends on its verb or a preposition ("shipped from?"), the answer follows that word.
    anchors = [m.start() for m in re.finditer(r"\w+", sentence)
               if stem(m.group(0).lower()) in asked or m.group(0) in asked]
    guess = question.kind in ("thing", "other")
    if not anchors:
        return sure(spans[0], not guess)
    tail = re.search(r"(\w+)\W*$", question.text)
    slot = None
    if tail and re.fullmatch(r"from|to|in|at|by|of|for|with|on|into|after|before", tail.group(1), re.IGNORECASE):
        words = [w for w in re.findall(r"\w+", question.text)[:-1] if stem(w.lower()) in asked]
        if words:
            hits = [m.end() for m in re.finditer(rf"\b{re.escape(stem(words[-1].lower()))}\w*", sentence,
                                                 re.IGNORECASE)]
            slot = hits[-1] if hits else None

    def distance(span: tuple[int, int]) -> float:
        near = min(min(abs(span[0] - x), abs(span[1] - x)) for x in anchors)
        if slot is not None:
            return (0 if span[0] >= slot else 1, span[0] - slot if span[0] >= slot else near)
        return (0, near)

    return sure(min(spans, key=distance), not guess)

