"""Checks an LLM answer sentence by sentence against the numbered passages it cites.

A sentence is supported when
1. every name, number and date in it occurs in a passage it cites;
2. its meaning is close to one sentence of those passages, its best match (cosine similarity with
   the bundled embedder);
and, because a negated or swapped sentence is as close in meaning to its source as a faithful one,
3. polarity: a "not", "never", "no" ... it has is in a sentence it draws on, before the same words,
   and a negation of a sentence it draws on is kept wherever the negated words are repeated;
4. numbers: each occurs in a sentence it draws on (no more often), next to a word it is next to in
   the draft ("70%" of the foreigners, not the "2" of "2 February");
5. order: two names or numbers it shares with the best match are not in the opposite order around
   the same words ("Fabius warned Kerry" from "Kerry warned Fabius"), unless the voice changed;
6. roles: a name of the best match does not stand where the source has another name the draft
   leaves out ("untouched in Syria" from "... in Iraq and Syria, it is untouched in Libya");
7. names: each comes from a sentence it draws on (its best match, or another cited sentence that
   gives it words of its own), from the sentence before when the best match says "he" or "it" for
   it, or is the speaker of a quotation that goes on; a name of several words is one name in the
   source, and no name is written more often than there.
Rules 3-7 are rules on words and their order, not a parser; bench/verification_set.py measures
them (BENCHMARKS.md, "Verification").

It does not judge whether the answer is relevant to the question; the answerer decides that
before the LLM is called.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from .text import split_sentences
from .types import Evidence

_CITE = re.compile(r"\s*\[(\d+(?:\s*,\s*\d+)*)\]")
_AFTER_STOP = re.compile(r"([.!?][\"'”’]?)((?:\s*\[\d+(?:\s*,\s*\d+)*\])+)")
_NUMBER = re.compile(r"\d+(?:[.,:]\d+)*")
_WORD = re.compile(r"(?<![\w'’])[^\W\d_][\w'’-]*")
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
    """Passage [n] as shown to the model: one or more consecutive source sentences. The reader's
    `Evidence` has the same fields as `SourceSentence` and is checked as it is, without conversion."""

    n: int
    sentences: tuple[SourceSentence | Evidence, ...]

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
    reason: str = ""  # why it is not supported ("" when it is), e.g. "negation not in the source: not say"


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
    if term[:1].isdigit():  # "1970" of "the 1970s", "41" of "41st": the source writes it the same way
        return re.search(rf"(?<!\d)(?<!\d[.,]){re.escape(term)}(?!\d|[.,]\d)", text) is not None
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, re.IGNORECASE) is not None


# --- words, in order, for the rules on negation, numbers and order -----------------------------------

_TOKEN = re.compile(r"\d+(?:[.,:]\d+)*|[^\W\d_]+(?:['’-][^\W\d_]+)*|[%$€£]")
_CONTRACTION = re.compile(r"\b(ca|wo|sha)n['’]t\b|n['’]t\b|\bcannot\b", re.IGNORECASE)
_NEGATIONS = set("not never no none nobody nothing neither nor without".split())
# Words a negation's scope skips over, and that carry no meaning of their own in a context.
_FUNCTION = set(("a an the be been being is are was were am do does did has have had to of in on at by for "
                 "with from as and or that this which who whom whose it its there than then so such also only "
                 "yet ever always even still really just very more most any some can could will would shall "
                 "should may might must one longer").split())
# A negation is matched by the next two content words after it, a number by the content words
# within three words of it; two names are judged swapped when half the words between them in the
# draft are between them in the source; a name's neighbours for the role rule are the two nearest
# content words each side, at most six words away. Swept with bench/verification_set.py on its set
# and on a news2023 set built at run time: from scope 1 to 3, window 2 to 5, share 0.34 to 0.8 and
# role window 3 to 8 no rate moved by more than 0.01 (BENCHMARKS.md, "Verification").
_SCOPE = 2
_NUMBER_WINDOW = 3
_SWAPPED_BETWEEN = 0.5
_ROLE_WINDOW = 6
_DATE_PREPOSITIONS = set("in on at since by from until till during after before".split())
_PRONOUNS = set("he she it they his her its their him them this these those".split())


@dataclass(frozen=True)
class _Token:
    """A word of a sentence, as the rules compare it."""

    text: str  # as written, contractions expanded ("didn't" -> "did", "not")
    low: str
    stem: str
    term: bool  # a name or a number: what must be found in the source
    number: bool
    joined: bool = False  # nothing but spaces between it and the word before: "John Kerry", not "Paris, France"


# Reporting verbs are the commonest rewording ("X said" -> "X stated"); they compare as one word.
_REPORTING = set("say says said state states stated tell tells told add adds added note notes noted".split())


def _stem(word: str) -> str:
    word = word.lower().removesuffix("'s").removesuffix("’s")
    if word in _REPORTING:
        return "say"
    for suffix in ("ing", "ed", "es", "s", "ly"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


def _tokens(sentence: str) -> list[_Token]:
    """The words of a sentence in order, "n't" and "cannot" written out ("can't" -> "can not")."""
    def expand(m: re.Match) -> str:
        if m.group(0).lower() == "cannot":
            return "can not"
        return {"ca": "can not", "wo": "will not", "sha": "shall not"}.get((m.group(1) or "").lower(), " not")

    text = _CONTRACTION.sub(expand, sentence)
    out = []
    previous_end = None
    for i, m in enumerate(_TOKEN.finditer(text)):
        joined = previous_end is not None and not text[previous_end:m.start()].strip()
        previous_end = m.end()
        word = m.group(0)
        low = word.lower()
        number = word[0].isdigit()
        name = (word[0].isupper() and low.removesuffix("'s").removesuffix("’s") not in _COMMON
                and low not in _FUNCTION and low not in _NEGATIONS and not (i == 0 and low in _PRONOUNS))
        out.append(_Token(word, low, _stem(word), number or name or low in _MONTHS, number, joined))
    return out


def _number_key(token: _Token) -> str:
    return token.text.replace(",", "")


def _negations(tokens: list[_Token]) -> list[set[str]]:
    """Each negation's scope: the stems of the next content words after it (of the next words, when
    none follows: "can and cannot do")."""
    scopes = []
    for i, t in enumerate(tokens):
        if t.low in _NEGATIONS:
            after = [u for u in tokens[i + 1:] if u.low not in _NEGATIONS]
            scope = [u.stem for u in after if u.low not in _FUNCTION][:_SCOPE] or [u.stem for u in after][:_SCOPE]
            scopes.append(set(scope))
    return scopes


def _polarity_conflict(draft: list[_Token], drawn_on: list[list[_Token]]) -> str:
    source_scopes = [scope for sentence in drawn_on for scope in _negations(sentence)]
    draft_scopes = _negations(draft)
    for scope in draft_scopes:
        match = next((other for other in source_scopes if scope & other or not (scope or other)), None)
        if match is None:
            return f"negation not in the source: not {' '.join(sorted(scope))}"
        source_scopes.remove(match)  # "not no ..." is not "no ...": each negation matches one
    draft_stems = {t.stem for t in draft}
    for scope in (scope for sentence in drawn_on for scope in _negations(sentence)):
        kept = scope & draft_stems
        if kept and not any(kept & other for other in draft_scopes):
            return f"negation of the source dropped: not {' '.join(sorted(kept))}"
    return ""


def _context(tokens: list[_Token], i: int) -> set[str]:
    window = tokens[max(0, i - _NUMBER_WINDOW): i] + tokens[i + 1: i + 1 + _NUMBER_WINDOW]
    return {t.stem for t in window if not t.number and t.low not in _FUNCTION}


def _number_conflict(draft: list[_Token], drawn_on: list[list[_Token]]) -> str:
    """A number of the draft must occur in a sentence it draws on, as often as there, near a word it
    is near in the draft ("70%" of "foreigners", not of another count)."""
    def count(tokens: list[_Token], key: str) -> int:
        return sum(t.number and _number_key(t) == key for t in tokens)

    for i, t in enumerate(draft):
        if not t.number:
            continue
        key = _number_key(t)
        places = [_context(s, j) for s in drawn_on for j, u in enumerate(s) if u.number and _number_key(u) == key]
        if not places:
            return f"number {t.text} is not in the sentence the draft matches"
        if count(draft, key) > sum(count(sentence, key) for sentence in drawn_on):
            return f"number {t.text} more often than in the source"
        context = _context(draft, i)
        # A phrase moved to the end keeps its number but not its neighbours: "In 1840, X did Y"
        # -> "X did Y in 1840". What the number is said of is then the whole sentence.
        at_edge = all(u.low in _FUNCTION or u.number for u in draft[:i]) or (
            all(u.low in _FUNCTION or u.number for u in draft[i + 1:])
            and any(u.low in _DATE_PREPOSITIONS for u in draft[max(0, i - 3):i]))
        if context and not at_edge and not any(context & place or not place for place in places):
            return f"number {t.text} bound to other words than in the source"
    return ""


def _names_once(tokens: list[_Token]) -> dict[tuple[str, ...], tuple[int, int]]:
    """Each name or number that occurs once, as (first, last) token: single words, and the names of
    several words ("Berry Oakley" once, though "Berry" is also in "Berry Duane Oakley")."""
    items: dict[tuple[str, ...], list[tuple[int, int]]] = {}
    i = 0
    while i < len(tokens):
        if not tokens[i].term:
            i += 1
            continue
        j = i
        while j + 1 < len(tokens) and tokens[j + 1].term and tokens[j + 1].joined:
            j += 1
        for k in range(i, j + 1):
            items.setdefault((tokens[k].low,), []).append((k, k))
        if j > i:
            items.setdefault(tuple(t.low for t in tokens[i:j + 1]), []).append((i, j))
        i = j + 1
    return {key: places[0] for key, places in items.items() if len(places) == 1}


def _order_conflict(draft: list[_Token], best: list[_Token]) -> str:
    def between(tokens: list[_Token], a: int, b: int) -> tuple[set[str], set[str]]:
        words = [t for t in tokens[a + 1: b] if not t.term and t.low not in ("and", "or") and len(t.low) > 1]
        return {t.stem for t in words if t.low not in _FUNCTION}, {t.low for t in words if t.low in _FUNCTION}

    in_draft, in_best = _names_once(draft), _names_once(best)
    draft_stems = {t.stem for t in draft}
    shared = sorted((span, key) for key, span in in_draft.items() if key in in_best)
    for x, ((a0, a1), a) in enumerate(shared):
        for (b0, b1), b in shared[x + 1:]:
            if b0 <= a1 or all(t.term for t in draft[a0: b1 + 1]):
                continue  # overlapping, one name of several words, or a list of names
            (s_a0, s_a1), (s_b0, s_b1) = in_best[a], in_best[b]
            if s_a0 <= s_b1:
                continue  # same order as in the source (or overlapping there)
            (words, small), (source_words, source_small) = between(draft, a1, b0), between(best, s_b1, s_a0)
            if ("by" in small) != ("by" in source_small):
                continue  # active and passive: "X founded Y" is "Y was founded by X"
            # The words between them in the draft come from between them in the source, reversed;
            # a draft may leave some out ("A (born 1990) is a B" -> "B is a A"). Only "of", "in" ...
            # between them ("A of B" -> "B of A") counts when that is all there is in both.
            if words:
                swapped = len(words & source_words) / len(words) >= _SWAPPED_BETWEEN
            else:  # words the draft left out ("A (born 1990) is a B") do not count
                swapped = bool(small) and not source_words & draft_stems and small <= source_small
            # and what is around the pair stays in place: "He said A beat B." -> "He said B beat A."
            in_place = (_beside(draft, a0, -1) == _beside(best, s_b0, -1)
                        or _beside(draft, b1, 1) == _beside(best, s_a1, 1))
            if swapped and in_place:
                return f"{' '.join(a)} and {' '.join(b)} in the opposite order to the source"
    return ""


def _runs(tokens: list[_Token]) -> list[tuple[int, int]]:
    """(first, last) token of each name of one or more words; numbers are not names."""
    out, i = [], 0
    while i < len(tokens):
        if tokens[i].term and not tokens[i].number:
            j = i
            while j + 1 < len(tokens) and tokens[j + 1].term and not tokens[j + 1].number and tokens[j + 1].joined:
                j += 1
            out.append((i, j))
            i = j + 1
        else:
            i += 1
    return out


def _role_conflict(draft: list[_Token], best: list[_Token]) -> str:
    """A name put where the source has another name that the draft leaves out: "IS is untouched in
    Syria" from "... degraded in Iraq and Syria, it is untouched in Libya". Not when the other name
    lay between the two in the source, set off by a comma: then the draft left out what stood
    between ("Whiton, an official of the Bush administration, called" -> "Whiton called"). But
    "the longest running film society Doc Films, organizing committee for the Scavenger Hunt" does
    not make the Scavenger Hunt the film society: Doc Films is attached to "society"."""
    def around(tokens: list[_Token], a: int, b: int) -> dict[str, int]:
        """The nearest content words either side, within the clause ("Syria, it has been" stops at
        the comma). "Said" is left out: who says what is the order rule's to judge."""
        out: dict[str, int] = {}
        sides = ((-1, a - 1, max(-1, a - 1 - _ROLE_WINDOW)), (1, b + 1, min(len(tokens), b + 1 + _ROLE_WINDOW)))
        for step, k, stop in sides:
            found = 0
            while k != stop and found < 2 and (tokens[k + 1].joined if step < 0 else tokens[k].joined):
                t = tokens[k]
                if not t.term and t.low not in _FUNCTION and t.stem != "say":
                    out[t.stem] = k
                    found += 1
                k += step
        return out

    in_draft = {t.low for t in draft}
    source_runs = [(tuple(t.low for t in best[a:b + 1]), a, around(best, a, b)) for a, b in _runs(best)]
    for a, b in _runs(draft):
        name = set(t.low for t in draft[a:b + 1])
        own = [(at, context) for key, at, context in source_runs if name & set(key)]
        if not own:
            continue  # not in the best match: the other rules judge where it comes from
        context = around(draft, a, b)
        if not context or not any(c for _, c in own) or any(context.keys() & c for _, c in own):
            continue  # nothing to compare, or near the same words as in the source
        for key, other_at, other in source_runs:
            if set(key) & in_draft:
                continue
            for word in context.keys() & other.keys():
                k = other[word]
                attached = all(t.joined for t in best[min(k, other_at) + 1: max(k, other_at) + 1])
                if attached or not any(min(at, k) < other_at < max(at, k) for at, _ in own):
                    return f"{' '.join(t.text for t in draft[a:b + 1])} where the source has {' '.join(key)}"
    return ""


def _beside(tokens: list[_Token], k: int, step: int) -> str | None:
    """The first word before (step -1) or after (1) the name at k, past the rest of the name."""
    k += step
    while 0 <= k < len(tokens) and (tokens[k].term or tokens[k].low in ("the", "a", "an")):
        k += step
    return tokens[k].low if 0 <= k < len(tokens) else None


_RUN = re.compile(r"(?<![\w'’-])[A-Z][\w'’.-]*(?:\s+[A-Z][\w'’.-]*)+")


def _name_conflict(text: str, draft: list[_Token], best: int, tokens: list[list[_Token]], drawn_on: set[int]) -> str:
    """Every name from a sentence the draft draws on, or from the sentence before the best match
    when that one starts with "He", "It" ... and the draft names whom it means, or, for the speaker
    ("X said", "according to X") of a best match that names none, from a sentence next to it; a name
    of several words as one in the source ("Yale University" is not in "Yale ... Oxford University")."""
    allowed = set(drawn_on)
    if best > 0 and tokens[best] and tokens[best][0].low in _PRONOUNS and draft and draft[0].low not in _PRONOUNS:
        allowed.add(best - 1)
    words = {t.low for j in allowed for t in tokens[j]}
    speakers = set()
    if not any(t.low in _SPEAKS for t in tokens[best]):  # a quotation goes on: '"..." X said. "..."'
        speakers = {t.low for j in (best - 1, best + 1) if 0 <= j < len(tokens) for t in tokens[j]}
    for i, t in enumerate(draft):
        if not t.term or t.number or t.low in words or t.low.removesuffix("'s") in words:
            continue
        if t.low in speakers and _speaker(draft, i):
            continue
        return f"{t.text} is not in the sentence the draft matches"
    # A name written twice where the source has it once, in the place of a name the draft leaves
    # out, stands in for it: "the Disturbed heavy metal band Disturbed" from "the American heavy
    # metal band Disturbed". (A model repeating a name elsewhere is not that.)
    in_draft = Counter(_bare(t.text) for t in draft if t.term and not t.number)
    in_source = Counter(_bare(t.text) for j in allowed for t in tokens[j])
    source = tokens[best]
    left_out = [(a, b) for a, b in _runs(source) if not {_bare(t.text) for t in source[a:b + 1]} & set(in_draft)]
    for a, b in _runs(draft):
        name = _bare(draft[a].text)
        if in_draft[name] > 1 and in_draft[name] > in_source[name] and any(
                _beside(draft, a, -1) == _beside(source, c, -1) or _beside(draft, b, 1) == _beside(source, d, 1)
                for c, d in left_out):
            return f"{' '.join(t.text for t in draft[a:b + 1])} more often than in the source, in another name's place"
    for m in _RUN.finditer(text):
        name = [_bare(t.text) for t in _tokens(m.group(0))]
        while name and name[0] in _COMMON:
            name = name[1:]  # "The Oberoi Group", "It's New Zealand's"
        if len(name) > 1 and not any(_holds(tokens[j], name) for j in allowed):
            return f"{' '.join(name)} is not one name in the source"
    return ""


_SPEAKS = set("said says told tells added adds stated states noted notes warned according explained".split())


def _speaker(tokens: list[_Token], i: int) -> bool:
    """Whether the name at i says something: "X said", "said X", "according to X"."""
    j, k = i - 1, i + 1
    while j >= 0 and tokens[j].term and tokens[j].joined:
        j -= 1
    while k < len(tokens) and tokens[k].term and tokens[k].joined:
        k += 1
    near = [tokens[x] for x in (j, j - 1, k) if 0 <= x < len(tokens)]
    return any(t.low in _SPEAKS for t in near)


def _bare(word: str) -> str:
    return word.lower().removesuffix("'s").removesuffix("’s")


def _holds(tokens: list[_Token], name: list[str], gap: int = 2) -> bool:
    """Whether the words of `name` occur in order, at most `gap` words apart ("Lendley C. (Lynn) Black")."""
    words = [_bare(t.text) for t in tokens]
    for start, word in enumerate(words):
        if word != name[0]:
            continue
        at = start
        for part in name[1:]:
            nxt = next((k for k in range(at + 1, min(at + 2 + gap, len(words))) if words[k] == part), None)
            if nxt is None:
                break
            at = nxt
        else:
            return True
    return False


class Verifier:
    """Checks draft sentences against the passages they cite.

        verifier = Verifier(SentenceEmbeddings("bundled", 32), settings.verify_min_similarity)
        checks = verifier.check(split_draft(llm_output), passages)
        kept = [c.draft.text for c in checks if c.supported]
    """

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
        source_tokens = [_tokens(s.text) for _, s in flat]
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
            reason = ""
            if missing:
                reason = f"not in the cited passages: {', '.join(missing)}"
            elif similarity < self.min_similarity:
                reason = f"similarity {similarity:.2f} below {self.min_similarity}"
            else:
                reason = self._conflict(draft.text, j, candidates, source_tokens)
            checks.append(Check(draft, not reason, cited, flat[j][1], flat[j][0], similarity, missing, reason))
        return checks

    @staticmethod
    def _conflict(text: str, best: int, candidates: list[int], source_tokens: list[list[_Token]]) -> str:
        draft = _tokens(text)
        # The sentences the draft draws on: its best match, and any other cited sentence that gives it
        # words the best match lacks ("..., followed by Egyptians" from the next sentence). A name
        # alone is not enough: that is how a name from elsewhere is swapped in.
        own = {t.stem for t in source_tokens[best]}
        words = {t.stem for t in draft if not t.term and t.low not in _FUNCTION and t.low not in _NEGATIONS} - own
        drawn = [k for k in candidates if k == best or words & {t.stem for t in source_tokens[k]}]
        drawn_on = [source_tokens[k] for k in drawn]
        return (_polarity_conflict(draft, drawn_on)
                or _number_conflict(draft, drawn_on)
                or _order_conflict(draft, source_tokens[best])
                or _role_conflict(draft, source_tokens[best])
                or _name_conflict(text, draft, candidates.index(best), [source_tokens[k] for k in candidates],
                                  {candidates.index(k) for k in drawn}))
