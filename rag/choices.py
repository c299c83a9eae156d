"""Ranked evidence -> the answer parts for a question that asks between named things: a choice
("Who was born first, Pablo Trapero or Aleksander Ford?") or a yes/no question about them ("Are
Pam Veasey and Jon Jost both American?"). The reader (rag/reader/ranking.py) calls `choice_parts`; an
answer that quotes sentences without saying which option they favour does not answer these.

For each option it finds the passage where the option is described (the sentence that opens on
its name, and the words up to the next option's) and what that says: a year, a number before the
asked noun, a nationality, the question's other words. It leads with the option, or "Yes."/"No.",
only when those values decide it; otherwise it cites each side and says what is missing. The
option lead is the option's name as the cited sentence writes it; "Yes."/"No." is the one
sentence not quoted from a source, and is said only when the cited sentences state the values it
compares.

It does not rank sentences (the reader does) or parse the question (`rag.reader.analyse` fills
`Question.options` and `Question.yes_no` with `options_of`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .text import flatten, stem, stems, terms
from .types import Evidence, Question

Parts = list[tuple[str, tuple[Evidence, ...]]]

# Words that join the words of one name ("First for Women", "Beyond the Gates of Splendor").
_JOINERS = frozenset("of the for de del da di van von der la le du y & and".split())
# Capitalised words that open a question, not a name.
_OPENERS = frozenset("is are was were do does did has have had can could will would which who what whom whose "
                     "both either neither".split())
_POLAR = re.compile(r"^\s*(?:is|are|was|were|do|does|did|has|have|had|can|could)\b|,\s*(?:is|are|was|were)\s+[^,]+\?\s*$",
                    re.IGNORECASE)
# The comparison a choice question makes: which end wins, and whether it compares dates or numbers.
_EARLIER = re.compile(r"\b(?:first|earlier|earliest|older|oldest|sooner)\b", re.IGNORECASE)
_LATER = re.compile(r"\b(?:second|later|latest|last|younger|youngest|newer|newest|more recently)\b", re.IGNORECASE)
_MORE = re.compile(r"\b(?:more|larger|bigger|longer|higher|taller|greater|heavier|wider|deeper)\s+([\w\s'-]+)",
                   re.IGNORECASE)
_FEWER = re.compile(r"\b(?:fewer|less|smaller|shorter|lower)\s+([\w\s'-]+)", re.IGNORECASE)
_YEAR = re.compile(r"(?<!\d)(?:1[0-9]|20)\d\d(?!\d)")
_SMALL = {w: i for i, w in enumerate("zero one two three four five six seven eight nine ten eleven twelve thirteen "
                                     "fourteen fifteen sixteen seventeen eighteen nineteen twenty".split())}
_COUNT = re.compile(r"\b(\d[\d,]*|" + "|".join(_SMALL) + r")\b(?:\s*[–-]\s*\d+)?", re.IGNORECASE)
# What a compared year is, by the question's verb: "The documents give a founding year for X".
_YEAR_OF = (("born", "birth year"), ("found", "founding year"), ("start", "founding year"),
            ("establish", "founding year"), ("form", "founding year"), ("releas", "release year"),
            ("publish", "publication year"), ("open", "opening year"), ("launch", "launch year"))
# Nationalities a sentence gives as "X is an American film director"; a positive list, so that
# "a Republican politician" or "a Catholic priest" is never read as one.
_DEMONYMS = frozenset("""American Argentine Argentinian Armenian Australian Austrian Belgian Bolivian Brazilian British
Bulgarian Canadian Chilean Chinese Colombian Croatian Cuban Czech Danish Dutch Ecuadorian Egyptian English Estonian
Filipino Finnish French Georgian German Ghanaian Greek Hungarian Icelandic Indian Indonesian Iranian Iraqi Irish Israeli
Italian Jamaican Japanese Kenyan Korean Latvian Lebanese Lithuanian Malaysian Mexican Moroccan Nigerian Norwegian
Pakistani Peruvian Polish Portuguese Romanian Russian Scottish Serbian Slovak Slovenian Soviet Spanish Swedish Swiss
Syrian Taiwanese Thai Turkish Ukrainian Uruguayan Venezuelan Vietnamese Welsh""".split())
# Nationalities that overlap (a Scot is British; Northern Ireland is Irish and British): never a "No".
_OVERLAPPING = frozenset("British English Scottish Welsh Irish".split())
_COPULA = re.compile(r"\b(?:is|was|are|were)\s+(?:an?|the|one of the)\s+((?:[\w-]+\s+){0,3}[\w-]+)")
_NEGATION = re.compile(r"\b(?:not|never|no longer|neither|nor)\b(?!-)", re.IGNORECASE)  # "not-for-profit" is no negation


def options_of(question: str) -> tuple[tuple[str, ...], bool]:
    """(options, yes_no): the named things the question asks between ("X or Y") or names together
    in a yes/no question ("are X and Y both ...?"), and whether it asks yes or no."""
    q = flatten(question).strip()
    pair = _pair(q, "or")
    if pair:
        return pair, False
    if _POLAR.search(q) and not re.search(r"\b(?:which|what|who|whom|whose|where|when|why|how)\b", q, re.IGNORECASE):
        return _pair(q, "and") or _single(q), True
    return (), False


def _pair(q: str, word: str) -> tuple[str, ...]:
    """The capitalised names either side of the first " or " (" and ") that has one on each side."""
    for m in re.finditer(rf",?\s+{word}\s+", q):
        left, right = _name_before(q[:m.start()]), _name_after(q[m.end():])
        if left and right:
            return left, right
    return ()


def _single(q: str) -> tuple[str, ...]:
    """"Is X a Y?": X."""
    m = re.match(r"\s*(?:is|was)\s+(.+?)\s+(?:an?|the)\s", q, re.IGNORECASE)
    name = _name_after(m.group(1)) if m else ""
    return (name,) if name and len(name) == len(m.group(1)) else ()


def _capital(word: str) -> bool:
    return bool(re.match(r"[\"“]?[A-Z0-9]", word))


def _trim(words: list[str]) -> str:
    while words and (words[0].lower() in _JOINERS or words[0].lower() in _OPENERS):
        words = words[1:]
    while words and (words[-1].lower() in _JOINERS or words[-1] in _DEMONYMS):  # "Kings of Leon American rock"
        words = words[:-1]
    return " ".join(words) if re.search(r"[A-Z]", " ".join(words)) else ""  # "2 or 5" names nothing


def _name_before(text: str) -> str:
    words: list[str] = []
    for w in reversed(text.split(" ")):
        if not w or re.search(r"[,;:?!()]$", w) or not (_capital(w) or w.lower() in _JOINERS - {"and"}):
            break
        words.insert(0, w)
    return _trim(words)


def _name_after(text: str) -> str:
    words: list[str] = []
    for w in text.split(" "):
        if not w:
            break
        bare = w.rstrip(",;:?!")
        if not (_capital(bare) or bare.lower() in _JOINERS - {"and"}):
            break
        words.append(bare)
        if bare != w:
            break
    return _trim(words)


# ---- where each option is described --------------------------------------------------------------
@dataclass(frozen=True)
class _Account:
    """What the evidence says about one option: the sentence naming it (`named`), the name as
    written there, and the text from the name up to the next option's description."""

    option: str
    named: Evidence
    name: str
    text: str
    sentences: tuple[Evidence, ...]


def _mentions(option: str, sentence: str, others: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    """Where the sentence names the option: in full, or (for a name of several words) by its last
    word, as "Neil N. LaBute" names "Neil LaBute" and "Cornel Ronald West" "Cornel West", unless
    another option ends the same way ("Barton Mine", "Camlaren Mine")."""
    sentence = sentence.replace("’", "'")  # "Children’s" names "Children's"; offsets stay
    found = [m.span() for m in re.finditer(rf"(?<!\w){re.escape(option)}s?(?!\w)", sentence, re.IGNORECASE)]
    last = option.split()[-1]
    if len(option.split()) > 1 and len(last) > 2 and last.lower() not in _JOINERS \
            and not any(last.lower() in o.lower().split() for o in others):
        found += [m.span() for m in re.finditer(rf"(?<!\w){re.escape(last)}(?!\w)", sentence)]
    return sorted(set(found))


def _subject_start(sentence: str, a: int) -> int | None:
    """Where the name holding sentence[a:] begins, if it opens the sentence (or a paragraph run
    into it: "...century.First for Women is"), as a described thing's name does; else None."""
    m = re.search(r"(?:^|[.!?][\"”’)]*\s*)((?:(?:[\"“(]?[A-Z][\w.'’\"”-]*|van|von|de|der|del|da|di|du|la|le)\s+)*)$",
                  sentence[:a])
    if m:
        return m.start(1)
    # "James Dixon Swan (born 1956), better known as Jimmy Barnes, is a ...": from the sentence's start.
    m = re.search(r"(?:^|[.!?][\"”’)]*\s*)([A-Z][^.!?]*?),?\s+(?:better |also |professionally )?known as\s+$",
                  sentence[:a])
    return m.start(1) if m else None


def _accounts(options: tuple[str, ...], ranked: list[Evidence]) -> list[_Account | None]:
    """For each option, its account in the evidence, or None where no sentence describes it."""
    by_source: dict[str, list[Evidence]] = {}
    for e in ranked:
        by_source.setdefault(e.source, []).append(e)
    for sentences in by_source.values():
        sentences.sort(key=lambda e: e.start)
    rank = {id(e): i for i, e in enumerate(ranked)}
    opened: list[tuple[int, str, int, int, int]] = []  # (rank, source, index, at, option)
    for source, sentences in by_source.items():
        for i, e in enumerate(sentences):
            for o, option in enumerate(options):
                for a, _ in _mentions(option, e.text, options[:o] + options[o + 1:]):
                    at = _subject_start(e.text, a)
                    if at is not None:
                        opened.append((rank[id(e)], source, i, at, o))
                        break
    out: list[_Account | None] = []
    for o, option in enumerate(options):
        mine = sorted(x for x in opened if x[4] == o)
        if not mine:
            out.append(None)
            continue
        _, source, i, at, _ = mine[0]
        sentences = by_source[source]
        # The account runs to where another option's opens, or three sentences on.
        stops = sorted((j, a) for _, s, j, a, p in opened if s == source and p != o and (j, a) > (i, at))
        text, cited = "", []
        for j in range(i, min(i + 3, len(sentences))):
            e = sentences[j]
            if j > i and e.start - sentences[j - 1].end > 3:
                break  # a gap: the next sentence is not the one after it in the document
            a = at if j == i else 0
            b = next((b for k, b in stops if k == j and b > a), len(e.text))
            text += " " + e.text[a:b]
            cited.append(e)
            if b < len(e.text) or any(k == j + 1 for k, _ in stops):
                break
        named = sentences[i]
        m = _mentions(option, named.text[at:], options[:o] + options[o + 1:])[0]
        name = named.text[at: at + m[1]]
        if re.search(r"[(),;{}]", name):  # "James Dixon Swan (born 1956), better known as Jimmy Barnes"
            name = named.text[at + m[0]: at + m[1]]
        out.append(_Account(option, named, name, text.strip(), tuple(cited)))
    return out


# ---- the values that decide ------------------------------------------------------------------------
def _year(account: _Account, verbs: set[str]) -> int | None:
    """The year the account gives for the question's verb ("started in 1989"), else its first:
    the "(1844–1846)" or "(born 4 October 1971)" after a described thing's name."""
    text = account.text
    for m in re.finditer(r"\w+", text):
        if stem(m.group(0).lower()) in verbs:
            near = _YEAR.search(text, m.end(), m.end() + 40)
            if near:
                return int(near.group(0))
    # The first run of digits, if it is a year: "(26 September 188926 May 1976)" gives none.
    first = re.search(r"\d{3,}", text)
    return int(first.group(0)) if first and _YEAR.fullmatch(first.group(0)) else None


def _count(account: _Account, noun: set[str]) -> float | None:
    """The number the account puts before the asked noun: "48–56 species", "seven Grand Slam titles"."""
    for m in _COUNT.finditer(account.text):
        after = account.text[m.end(): m.end() + 40].split()[:3]
        if any(stem(w.lower().strip(".,;:()")) in noun for w in after):
            word = m.group(1).lower()
            return float(_SMALL[word]) if word in _SMALL else float(word.replace(",", ""))
    return None


def _nationalities(account: _Account) -> frozenset[str]:
    """The nationality the account's description gives: "is an American film director" ->
    {American}; "is a Scottish-Australian rock singer" -> {Scottish, Australian}."""
    m = _COPULA.search(account.text)
    if not m:
        return frozenset()
    for word in m.group(1).split():
        parts = [p for p in word.split("-") if p != "born"]
        if any(p in _DEMONYMS for p in parts):
            return frozenset(p for p in parts if p in _DEMONYMS)
    return frozenset()


def _words(q: Question) -> set[str]:
    """The question's own words less the options' names and the words that only frame it."""
    framing = {"which", "who", "what", "both", "same", "follow", "current", "also"}
    return terms(q.text) - set().union(*(stems(o) for o in q.options)) - framing


def _lead(name: str) -> str:
    return name[:1].upper() + name[1:] + ("" if name.endswith((".", "!", "?")) else ".")


def _cite_all(accounts: list[_Account]) -> Parts:
    seen: list[Evidence] = []
    for acc in accounts:
        seen += [e for e in acc.sentences if e not in seen]
    return [(e.text, (e,)) for e in seen]


def choice_parts(q: Question, ranked: list[Evidence]) -> tuple[Parts, str] | None:
    """(parts, notice) for an answer to a choice or yes/no question, or None where the evidence
    does not describe each of its options (the reader then answers as for any question). The first part
    is the lead ("Aleksander Ford.", "Yes.") only when the values found decide it."""
    if not q.options:
        return None
    accounts = _accounts(q.options, ranked)
    if None in accounts:
        return None  # an option the evidence does not describe: nothing to weigh it by
    found = [a for a in accounts if a is not None]  # all of them
    cited = _cite_all(found)
    if q.yes_no:
        verdict = _yes_no(q, found)
        if verdict is None:
            return cited, ""
        return [(verdict, tuple(e for _, (e,) in cited))] + cited, ""
    winner, notice = _decide(q, found)
    if winner is None:
        return cited, notice
    return [(_lead(winner.name), (winner.named,))] + cited, notice


def _join(names: list[str]) -> str:
    return " and ".join(names)


def _decide(q: Question, accounts: list[_Account]) -> tuple[_Account | None, str]:
    """The option the accounts' years, numbers or words favour, or None and why not."""
    low = q.text.lower()
    more, fewer = _MORE.search(low), _FEWER.search(low)
    if (more or fewer) and "more recent" not in low:
        phrase = " ".join((more or fewer).group(1).split(",")[0].split()[:3])
        values = [_count(a, stems(phrase)) for a in accounts]
        # "number of members"; for "more valuable", "more often" no noun is counted: "figure".
        what = f"number of {phrase}" if phrase.endswith("s") else "figure"
        pick = max if more else min
    elif _EARLIER.search(low) or _LATER.search(low):
        verbs = _words(q)
        values = [_year(a, verbs) for a in accounts]
        what = next((name for v, name in _YEAR_OF if any(w.startswith(v) for w in verbs)),
                    "birth year" if re.search(r"\b(?:older|younger|oldest|youngest)\b", low) and q.kind == "person"
                    else "year")
        pick = min if _EARLIER.search(low) and not _LATER.search(low) else max
    else:
        return _by_words(q, accounts), ""
    given = [(a, v) for a, v in zip(accounts, values) if v is not None]
    if len(given) < len(accounts):
        if not given:
            return None, f"The documents give no {what} for {_join([a.option for a in accounts])}."
        (a, v), = given[:1]
        others = [x.option for x in accounts if x is not a]
        return None, f"The documents give a {what} for {a.option} ({_number(v)}) but none for {_join(others)}."
    best = pick(v for _, v in given)
    winners = [a for a, v in given if v == best]
    if len(winners) > 1:
        return None, f"The documents give the same {what} for {_join([a.option for a in winners])} ({_number(best)})."
    return winners[0], ""


def _number(v: float) -> str:
    return str(int(v)) if v == int(v) else str(v)


def _by_words(q: Question, accounts: list[_Account]) -> _Account | None:
    """"Which documentary is about Finnish rock groups, X or Y?": the option whose account holds
    the question's other words when the other's does not."""
    words = _words(q)
    if not words:
        return None
    held = [len(words & stems(a.text)) for a in accounts]
    order = sorted(range(len(accounts)), key=lambda i: -held[i])
    top, second = held[order[0]], held[order[1]] if len(order) > 1 else 0
    if top >= max(1, 2 * len(words) / 3) and top > second and second <= len(words) / 2 \
            and not _NEGATION.search(accounts[order[0]].text):
        return accounts[order[0]]
    return None


def _yes_no(q: Question, accounts: list[_Account]) -> str | None:
    """"Yes." or "No." where the accounts plainly decide it, else None. Only a nationality, or a
    value the question asks to be "the same", can make a "No.": a word missing from an account
    is no evidence against."""
    low = q.text.lower()
    nats = [_nationalities(a) for a in accounts]
    asked = {w for w in re.findall(r"[A-Z]\w+", q.text) if w in _DEMONYMS}
    if "nationalit" in low and len(accounts) == 2:
        if not all(nats):
            return None
        if nats[0] == nats[1] and len(nats[0]) == 1:
            return "Yes."
        if not nats[0] & nats[1] and not (nats[0] | nats[1]) <= _OVERLAPPING:
            return "No."
        return None
    if asked:
        if any(n and not n & asked and not (n | asked) <= _OVERLAPPING for n in nats):
            return "No."
        if not all(n == asked for n in nats):
            return None
    same = re.search(r"\bsame\s+(\w+)", low)
    if same and len(accounts) == 2:
        if same.group(1) == "year":
            years = [_year(a, _words(q)) for a in accounts]
            if None in years:
                return None
            return "Yes." if years[0] == years[1] else "No."
        values = [re.search(rf"\b{same.group(1)}\s+(?:of\s+)?([A-Z]\w+)", a.text) for a in accounts]
        if None in values:
            return None
        return "Yes." if values[0].group(1) == values[1].group(1) else "No."
    words = _words(q) - {stem(w.lower()) for w in asked}
    if any(_NEGATION.search(a.text) for a in accounts):
        return None
    if words and all(_close(words, a.text) for a in accounts):
        return "Yes."
    return "Yes." if asked and not words else None


def _close(words: set[str], text: str) -> bool:
    """All the words occur in the text close together (within twice their number, and two, words),
    as one phrase would: "an American punk rock musician" holds "American punk rock musicians";
    words scattered over a three-sentence account do not. Still words, not meaning: a "Yes." from
    them needs each option's account to hold them, and no negation."""
    tokens = [stem(t.lower()) for t in re.findall(r"\w+", text)]
    width = 2 * len(words) + 2
    return any(words <= set(tokens[i: i + width]) for i in range(max(1, len(tokens) - width + 1)))
