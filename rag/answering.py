"""Passages -> Answer: the reader. It ranks every sentence of the retrieved passages as the answer
to the question, finds in the best one the span that answers it (a name, place, number, date, a
reason...), checks that the question's own constraints (years, numbers, names) hold in that
evidence, and either answers, leading with the span and citing the sentence, or abstains and
lists the nearest passages. A choice or yes/no question ("Who was born first, X or Y?") is
answered from each option's sentence by rag/choices.py. It needs no LLM and is what every other
backend falls back to.

It does not retrieve (rag/retrieval.py), rewrite follow-ups (rag/followups.py) or call a model
(rag/llm_answer.py).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import replace

from .choices import choice_parts, options_of
from .disagreement import cited_in_order, find_disagreement
from .disagreement import note as disagreement_note
from .text import flatten, split_sentences, stem, stems, terms, tokenize
from .types import Answer, AnswerSentence, Citation, Evidence, Passage, Question

ABSTAIN_TEXT = "The documents do not contain an answer to this question."
# Words a question uses to ask for a statement ("what did X say?"); the answer seldom repeats them,
# so they count for nothing in coverage.
_REPORTING_WORDS = frozenset("say said says tell told according mention mentioned describe described".split())
_SECOND_SENTENCE_MARGIN = 0.15  # how far below the best a complementary second sentence may score
# What a sentence that cannot be the answer (a fragment, code, instructions, a broken constraint)
# loses: more than any score can gain, so it ranks below every candidate that can.
_RANK_LAST = 1.0
_MODEL_READS = 8  # the reader model reads the passages holding the rules' best sentences, this many
_NO_READING = 10.0  # a sentence the model did not read counts as this sure there is no answer (logits)

# ---- what the question asks for ----------------------------------------------------------------
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
_YEAR = re.compile(r"\b(?:1[5-9]|20)\d\d\b")
_Q_NUMBER = re.compile(r"(?<![\w.])\d[\d,.]*\d(?![\w.])|(?<![\w.])\d(?![\w.])")
_REASON = re.compile(r"\b(?:because(?: of)?|due to|as a result of|owing to|thanks to|in order to|so that|after|"
                     r"amid|given|since|as|under|following|for fear)\b", re.IGNORECASE)
_CLAUSE_END = re.compile(r"[,;:!?)–—]|\.(?!\w)|\s(?:and|but|while|which|who|when|where|although|said|told|says)\s")
# Text written as instructions to an assistant, not as information: never an answer on its own.
INSTRUCTION = re.compile(r"\b(?:ignore (?:all |any )?(?:the )?(?:previous|prior|above|earlier) (?:instructions|prompts?)|"
                         r"disregard (?:all |any )?(?:previous|prior|the above)|system (?:prompt|override)|"
                         r"(?:you are|as) an? (?:ai|assistant|language model)|the assistant (?:must|should)|"
                         r"(?:answer|respond|reply) (?:every|all|each|any) (?:question|query)|whatever the question|"
                         r"from now on,? (?:answer|say|respond)|(?:say|tell the user|answer) that\b|"
                         r"the password (?:of|for|is)\b|reveal (?:the|your) (?:system|configuration|prompt))",
                         re.IGNORECASE)
# Photo credits end captions in news pages: "... Joseph Eid/Getty", "Photo: Jane Doe/AFP".
_PHOTO = re.compile(r"\b(?:photo\w*|picture|image|pictured|shot)\b", re.IGNORECASE)
_CREDIT = re.compile(r"([A-Z][\w'.-]+\s+[A-Z][\w'.-]+)\s*/\s*(?:Getty|AFP|Reuters|AP|EPA|PA|Shutterstock|"
                     r"Alamy|Bloomberg|Corbis|Rex|Anadolu|NurPhoto|SOPA|Xinhua)\b")
# "What other name is used for IS?": "IS (Daesh)", "IS, also known as Daesh".
_ALIAS_Q = re.compile(r"\b(?:other names?|also (?:known|called)|alias|nicknamed?|stands? for|short for|acronym|"
                      r"abbreviation|real name|known as)\b", re.IGNORECASE)
_CODEY = re.compile(r"(^\s*[$#>]\s|[{};]\s*$|\w\([^)]*\)|==|=>|->|::|</?\w+>|^\s*(?:import|from|def|class|"
                    r"return|sudo|pip|apt|git|npm|cd|ls)\b)")


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


# ---- the span that answers ---------------------------------------------------------------------
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


# ---- the reader --------------------------------------------------------------------------------
class ExtractiveAnswerer:
    """Ranks the sentences of retrieved passages as answers and answers from the best, or abstains.

        reader = ExtractiveAnswerer(embedder, idf, threshold=0.5)
        ranked = reader.rank("who is Ismail Shukri?", passages)
        answer = reader.select(ranked, passages)   # Answer, leading with the answer span
    """

    def __init__(self, embedder, idf: Callable[[str], float], threshold: float = 0.4, max_sentences: int = 2,
                 similarity_weight: float = 0.5, previous_answer: str = "", span_weight: float = 0.1,
                 documents: Callable[[str], tuple[str, str] | None] | None = None, model=None,
                 model_weight: float = 0.0, model_threshold: float = 0.0):
        """`previous_answer`: in a conversation, the last answer's text (see `should_abstain`).
        `span_weight`: what finding an answer of the asked kind adds to a sentence's score.
        `documents`: source -> (title, text) of a stored document, where the question's numbers are
        looked for (without it, the passage and its title).
        `model`: rag's reader model (rag.reader.model.ReaderModel) or None for the rules alone;
        `model_weight`: what its margin adds to a sentence's score (see `_model_term`);
        `model_threshold`: with the model, abstain when the best sentence's margin is below it."""
        self.model = model
        self.model_weight = model_weight
        self.model_threshold = model_threshold
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
        ranked = self.read(q, passages, out, asked) if self.model else [e for _, e in out]
        ranked.sort(key=lambda e: -e.score)
        if ranked and ranked[0].score < 0 and not all(kept.values()):
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
            e = replace(e, score=e.score + self.model_weight * _model_term(got.margin if got else -_NO_READING),
                        reader=got)
            if got is not None and _model_leads(q, e.answer_start, p.text[got.start - p.start:got.end - p.start],
                                                asked):
                e = replace(e, answer_start=got.start, answer_end=got.end)
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
        best = ranked[0]
        q = self.question
        # The model reads spans, so its margin says nothing of a yes/no or an "X or Y?" question.
        if best.reader is not None and not (q and (q.options or q.yes_no)):
            return best.reader.margin < self.model_threshold or best.score < 0  # no answer read, or a broken check
        return best.score < self.threshold

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


def _model_leads(q: Question, rule_start: int | None, span: str, asked: set[str]) -> bool:
    """Whether the model's span, not the rules', leads the answer: it does unless it only repeats
    the question's words, the question wants a statement (the sentence is the answer), or a
    "who is X?" apposition was found by the rules, which read appositions better (BENCHMARKS.md,
    "rag's reader model")."""
    if q.kind == "statement" or (q.kind == "definition" and rule_start is not None):
        return False
    return bool(stems(span) - asked) and span.lower() not in q.text.lower()


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


def abstention(passages: list[Passage], notice: str = "") -> Answer:
    return Answer(text=ABSTAIN_TEXT, citations=[], abstained=True, see_also=list(passages[:3]), backend="none",
                  notice=notice)


def lead_parts(evidence: list[Evidence]) -> list[tuple[str, tuple[Evidence, ...]]]:
    """The answer span as its own first sentence, then the evidence sentences, each citing itself."""
    parts: list[tuple[str, tuple[Evidence, ...]]] = []
    best = evidence[0]
    span = flatten(best.answer).strip(" ,;:–—-")
    if span and len(span) < 0.8 * len(flatten(best.text)):
        parts.append((span[:1].upper() + span[1:] + ("" if span.endswith((".", "!", "?")) else "."), (best,)))
    return parts + [(e.text, (e,)) for e in evidence]


def choice_answer(parts: list[tuple[str, tuple[Evidence, ...]]], notice: str = "") -> Answer:
    """The answer to a choice or yes/no question from `rag.choices.choice_parts`. A "Yes."/"No."
    lead is the reader's own words, drawn from the values the cited sentences state: it is marked
    as not quoted, however it compares with their text."""
    answer = compose(parts, "none", notice)
    if parts and parts[0][0] in ("Yes.", "No."):
        answer.sentences[0] = replace(answer.sentences[0], quoted=False)
    return answer


def cited_answer(evidence: list[Evidence], backend: str = "none") -> Answer:
    return compose(lead_parts(evidence), backend)


def compose(parts: list[tuple[str, tuple[Evidence, ...]]], backend: str, notice: str = "") -> Answer:
    """An Answer from (sentence, the evidence it cites) pairs. Citations are numbered in order of
    first use, one per source sentence, however many answer sentences cite it. The text of the
    answer for a prefix of `parts` is a prefix of the answer's text, so it can be streamed."""
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
        quoted = len(evidence) == 1 and flatten(text).rstrip(".").lower() in flatten(evidence[0].text).lower()
        sentences.append(AnswerSentence(text=text, citations=tuple(dict.fromkeys(ns)), quoted=quoted))
    text = " ".join(sentence_text(s) for s in sentences)
    return Answer(text=text, citations=citations, abstained=False, sentences=sentences, backend=backend,
                  notice=notice)


def sentence_text(s: AnswerSentence) -> str:
    """How an answer sentence reads in the answer's text: on one line, then its [n] markers."""
    return f"{flatten(s.text)} " + "".join(f"[{n}]" for n in s.citations)
