"""Whether the documents behind an answer disagree, and the note that says so.

Two sentences of different documents disagree when they say the same thing of the same subject
and fill one slot with a different value: a number, a date or a name after the same word
("awarded to Dunmore Roofing" / "awarded to Castlebar Builders", "a budget of €48,500" / "a
budget of €45,800"). "The same thing" means that most of their other words are shared; sharing a
topic word is not enough (issue 18: two unrelated passages about zstd's CI were said to
disagree), nor is a different subject ("Zstandard's CI ..." / "LZ4's CI ..."), nor one sentence
saying more than the other ("Travis and AppVeyor" / "Travis"). The values are read from the
sentences themselves, not from the answer spans, which may come from the reader model.

When the two documents are versions of one (the same title but for "draft"/"final", a version
number or a date), the note says which one is newer.

It does not rank or choose evidence (rag/reader/ranking.py) and does not compare whole documents
(`rag.summarize.compare`).
"""

from __future__ import annotations

import re
from pathlib import PurePath

from .text import STOPWORDS, shortest_unique_paths, stem, stems, tokenize
from .types import Citation, Disagreement, Evidence, Passage, ValueDifference

# Which ranked sentences may be shown against a chosen one: the first few, and none that lost
# rag/reader/ranking.py's _RANK_LAST penalty (instructions, code, a broken constraint of the question). The
# wide margin is safe because a pair must also pass the content test below.
_LOOK_AT = 10
_SCORE_MARGIN = 0.5
# The share of the smaller sentence's words (values aside) the other must hold to say "the same
# thing", and the fewest shared words: a topic word alone ("CI") is not a subject and predicate.
_SHARED_SHARE = 0.5
_MIN_SHARED = 2

_MONTH_NAMES = ("january february march april may june july august september october november "
                "december").split()
_MONTH = r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|Sep(?:t(?:ember)?)?|" \
         r"Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DATE = re.compile(rf"\b(?:\d{{4}}-\d\d-\d\d|{_DAY}\s+{_MONTH}(?:,?\s+\d{{4}})?|{_MONTH}\s+{_DAY}(?:,?\s+\d{{4}})?|"
                   rf"{_MONTH}\s+\d{{4}})\b")
_SCALE = r"(?:\s?(?:%|percent\b|per cent\b|million\b|billion\b|thousand\b|bn\b|[kK]\b))"
_CURRENCY_WORD = r"(?:\s?(?:euros?|dollars?|pounds?|EUR|USD|GBP)\b)"
_AMOUNT = re.compile(rf"(?:[$€£¥]\s?)?(?<![\w.])\d+(?:[.,]\d+)*{_SCALE}?{_CURRENCY_WORD}?")
_CAP = r"[A-Z][\w&'’.-]*[\w&]|[A-Z]"
_NAME = re.compile(rf"(?:{_CAP})(?:(?:\s+(?:of|the|de|du|van|von|der|and|&))*\s+(?:{_CAP}))*")
# Capitalised words that name nothing: a sentence's first word, months and weekdays.
_NOT_NAMES = STOPWORDS | frozenset(_MONTH_NAMES) | frozenset(
    """monday tuesday wednesday thursday friday saturday sunday however meanwhile also then there here
    yes no we our us mr mrs ms dr please note see""".split())


def find_disagreement(ranked: list[Evidence], chosen: list[Evidence],
                      passages: list[Passage] = ()) -> Disagreement | None:
    """The first pair of a chosen sentence and a sentence of another document, among the chosen
    and the best ranked, that disagree (see the module's docstring), or None. `passages` give the
    documents' titles, to tell whether one is a newer version of the other."""
    if not ranked or not chosen:
        return None
    best = ranked[0].score
    pool = chosen + [e for e in ranked[:_LOOK_AT] if e not in chosen and e.score >= best - _SCORE_MARGIN]
    titles = {p.source: p.title for p in passages}
    for first in chosen:
        for second in pool:
            if second.source == first.source:
                continue
            found = differences(first.text, second.text)
            if found:
                newer, why = newer_version(first.source, titles.get(first.source, ""),
                                           second.source, titles.get(second.source, ""))
                return Disagreement(first=first, second=second, differences=found, newer=newer, version=why)
    return None


def note(found: Disagreement, citations: list[Citation]) -> str:
    """The notice shown with the answer: what each document says, each cited by its number in
    `citations`, and which one is a newer version of the other, when one is.

        The documents disagree: minutes-final.txt [1] says Dunmore Roofing Ltd and €48,500;
        minutes-draft.txt [2] says Castlebar Builders and €45,800. minutes-final.txt is a newer
        version of minutes-draft.txt (final, not draft)."""
    numbers = {(c.source, c.start, c.end): c.n for c in citations}
    names = shortest_unique_paths([found.first.source, found.second.source])

    def says(e: Evidence, values: list[str]) -> str:
        n = numbers.get((e.source, e.start, e.end))
        return f"{names[e.source]}{f' [{n}]' if n else ''} says {_listed(values)}"

    first = says(found.first, [_stated(d, d.first) for d in found.differences])
    second = says(found.second, [_stated(d, d.second) for d in found.differences])
    text = f"The documents disagree: {first}; {second}."
    if found.newer:
        older = found.second.source if found.newer == found.first.source else found.first.source
        text += f" {names[found.newer]} is a newer version of {names[older]} ({found.version})."
    return text


def _stated(difference: ValueDifference, value: str) -> str:
    """A value as the note says it: a description with its subject ("Ismail Shukri is a banker")."""
    return f"{difference.slot} is {value}" if difference.kind == "description" else value


def cited_in_order(found: Disagreement, chosen: list[Evidence]) -> list[Evidence]:
    """The evidence to cite: the chosen sentences and the other document's, the newer version's
    first when the other document is the newer version of the chosen one."""
    evidence = chosen + ([found.second] if found.second not in chosen else [])
    if found.newer == found.second.source and chosen[0] is found.first:
        evidence = [found.second] + [e for e in evidence if e is not found.second]
    return evidence


# ---- two sentences ---------------------------------------------------------------------------------
class _Value:
    """A number, date or name in a sentence, with the content word before it (its slot)."""

    def __init__(self, kind: str, text: str, start: int, slot: str):
        self.kind, self.text, self.start, self.slot = kind, text, start, slot
        self.key = _key(kind, text)


def differences(a: str, b: str) -> tuple[ValueDifference, ...]:
    """The slots in which two sentences about the same subject state different values; () when
    they are about different things or state the same values (one saying more is no difference)."""
    values_a, words_a = _read(a)
    values_b, words_b = _read(b)
    described = _descriptions_differ(a, b, values_a, values_b)
    if described:
        return (described,)
    keys_a, keys_b = {v.key for v in values_a}, {v.key for v in values_b}
    shared = (words_a & words_b) | (keys_a & keys_b)
    smaller = min(len(words_a | keys_a), len(words_b | keys_b))
    if len(shared) < _MIN_SHARED or len(shared) < _SHARED_SHARE * smaller:
        return ()
    if not _same_subject(a, b, values_a, values_b, words_a | keys_a, words_b | keys_b):
        return ()
    only_a = [v for v in values_a if v.key not in keys_b and not _written_in(v, b)]
    only_b = [v for v in values_b if v.key not in keys_a and not _written_in(v, a)]
    pairs: list[ValueDifference] = []
    for va in list(only_a):  # the same slot: "awarded to X" / "awarded to Y"
        vb = next((v for v in only_b if v.kind == va.kind and v.slot and v.slot == va.slot), None)
        if vb is not None:
            pairs.append(ValueDifference(va.kind, va.slot, va.text, vb.text))
            only_a.remove(va)
            only_b.remove(vb)
    for kind in ("number", "date"):  # one left of a kind on each side: "€48,500 was approved" / "the budget is €45,800"
        left_a, left_b = [v for v in only_a if v.kind == kind], [v for v in only_b if v.kind == kind]
        if len(left_a) == 1 and len(left_b) == 1:
            pairs.append(ValueDifference(kind, left_a[0].slot or left_b[0].slot, left_a[0].text, left_b[0].text))
    return tuple(pairs)


# What a sentence says a named subject is: "Ismail Shukri is a retired banker", "Ismail Shukri, the
# head of intelligence in ...". Shown up to its first preposition, clause or verb of saying.
_DESCRIPTION = re.compile(r"(?:\s*,\s*|\s+(?:is|was)\s+)((?:a|an|the)\s+[^,.;:!?()\"“”]+)")
_DESCRIPTION_END = re.compile(r"\s+(?:in|from|at|on|for|with|who|which|that|told|said|says|and)\b.*$")


def _descriptions_differ(a: str, b: str, values_a: list[_Value], values_b: list[_Value]) -> ValueDifference | None:
    """Two sentences that name the same subject and say what it is in words that share nothing
    ("a retired banker" / "the head of intelligence"): the identity slot, filled differently. A
    planted document claiming something else about a person is shown beside the article."""
    names_b = {v.key: v for v in values_b if v.kind == "name"}
    for va in values_a:
        vb = names_b.get(va.key) if va.kind == "name" else None
        if vb is None:
            continue
        da = _DESCRIPTION.match(a, va.start + len(va.text))
        db = _DESCRIPTION.match(b, vb.start + len(vb.text))
        if da and db and not (stems(da.group(1)) & stems(db.group(1))):
            return ValueDifference("description", va.text, _DESCRIPTION_END.sub("", da.group(1)).strip(),
                                   _DESCRIPTION_END.sub("", db.group(1)).strip())
    return None


def _read(sentence: str) -> tuple[list[_Value], set[str]]:
    """The sentence's values, in order, and its other content words (stemmed)."""
    taken: list[tuple[int, int, str]] = []
    for kind, pattern in (("date", _DATE), ("number", _AMOUNT), ("name", _NAME)):
        for m in pattern.finditer(sentence):
            start, end = m.start(), m.end()
            text = m.group(0).rstrip(".,’'")
            if kind == "name":  # "The Board" names "Board"; a lone "The" or "However" names nothing
                words = text.split()
                while words and words[0].lower() in _NOT_NAMES:
                    words = words[1:]
                while words and words[-1].lower() in _NOT_NAMES | {"of", "the", "and", "&"}:
                    words = words[:-1]
                if not words:
                    continue
                start = sentence.index(words[0], m.start())
                text = sentence[start:sentence.index(words[-1], start) + len(words[-1])]
                end = start + len(text)
            if any(s < end and start < e for s, e, _ in taken):
                continue
            taken.append((start, end, kind))
    taken.sort()
    masked = sentence
    for s, e, _ in taken:
        masked = masked[:s] + " " * (e - s) + masked[e:]
    values = []
    for s, e, kind in taken:
        before = tokenize(masked[:s])
        values.append(_Value(kind, sentence[s:e].rstrip(".,"), s, stem(before[-1]) if before else ""))
    return values, {stem(t) for t in tokenize(masked) if not t.isdigit()}


def _same_subject(a: str, b: str, values_a: list[_Value], values_b: list[_Value],
                  all_a: set[str], all_b: set[str]) -> bool:
    """Whether the two sentences open on the same subject: their first word or value (a name
    that opens the sentence is its subject) is one the other sentence holds too, on either side."""
    first_a, first_b = _first_term(a, values_a), _first_term(b, values_b)
    return not first_a or not first_b or first_a in all_b or first_b in all_a


def _first_term(sentence: str, values: list[_Value]) -> str:
    """The first content word (stemmed) or value key of the sentence."""
    words = tokenize(sentence)
    first_value = values[0] if values else None
    if first_value is not None and not tokenize(sentence[:first_value.start]):
        return first_value.key
    return stem(words[0]) if words else ""


def _key(kind: str, text: str) -> str:
    """What two ways of writing one value share: "€48,500" and "48,500 euros" are "number:48500"."""
    if kind == "number":
        digits = re.search(r"\d+(?:[.,]\d+)*", text).group(0)
        digits = digits.replace(",", "") if re.fullmatch(r"\d{1,3}(?:,\d{3})+(?:\.\d+)?", digits) else digits
        scale = re.search(r"%|percent|per cent|million|billion|thousand|bn|[kK]\b", text)
        unit = {"percent": "%", "per cent": "%", "bn": "billion", "k": "thousand", "K": "thousand"}.get(
            scale.group(0), scale.group(0)) if scale else ""
        return f"number:{digits}{unit}"
    if kind == "date":
        iso = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)", text)
        if iso:
            return f"date:{int(iso.group(1))}-{int(iso.group(2))}-{int(iso.group(3))}"
        month = next((i + 1 for i, m in enumerate(_MONTH_NAMES) if re.search(rf"\b{m[:3]}", text, re.I)), 0)
        year = re.search(r"\d{4}", text)
        day = re.search(r"\b\d{1,2}(?!\d)", text)
        return f"date:{year.group(0) if year else '?'}-{month}-{int(day.group(0)) if day else '?'}"
    return f"name:{text.lower()}"


def _written_in(value: _Value, other: str) -> bool:
    """A name the other sentence writes too, in any case ("Board" / "the board"), is no difference."""
    return value.kind == "name" and re.search(rf"(?<!\w){re.escape(value.text)}(?!\w)", other, re.I) is not None


def _listed(values: list[str]) -> str:
    return values[0] if len(values) == 1 else ", ".join(values[:-1]) + " and " + values[-1]


# ---- versions of one document ----------------------------------------------------------------------
# How far along a document is, by the words its title or file name holds: a draft comes before a
# revised text, which comes before the final or approved one.
_STAGES = {"draft": 0, "proposed": 0, "preliminary": 0, "provisional": 0, "wip": 0,
           "revised": 1, "amended": 1, "updated": 1, "corrected": 1,
           "final": 2, "approved": 2, "adopted": 2, "signed": 2}
_VERSION = re.compile(r"\b(?:v|ver\.?|version|rev\.?|revision)\s?(\d+(?:\.\d+)*)\b", re.I)


def newer_version(source_a: str, title_a: str, source_b: str, title_b: str) -> tuple[str, str]:
    """(the newer source, why) when the two documents are versions of one: the same title or
    file name once "draft"/"final", version numbers and dates are left out, and one is further
    along (final after draft), of a later version or of a later date. ("", "") otherwise."""
    both_a, both_b = f"{title_a} {PurePath(source_a).stem}", f"{title_b} {PurePath(source_b).stem}"
    for name_a, name_b in ((title_a, title_b), (PurePath(source_a).stem, PurePath(source_b).stem)):
        if not name_a or not name_b or _base(name_a) != _base(name_b) or not _base(name_a):
            continue
        stage_a, stage_b = _stage(both_a), _stage(both_b)
        if stage_a and stage_b and _STAGES[stage_a] != _STAGES[stage_b]:
            newer = source_a if _STAGES[stage_a] > _STAGES[stage_b] else source_b
            return newer, f"{stage_a}, not {stage_b}" if newer == source_a else f"{stage_b}, not {stage_a}"
        for read, label in ((_version, "version"), (_date, "dated")):
            va, vb = read(both_a), read(both_b)
            if va and vb and va[0] != vb[0]:
                newer, (later, earlier) = (source_a, (va, vb)) if va[0] > vb[0] else (source_b, (vb, va))
                return newer, f"{label} {later[1]}, not {earlier[1]}"
    return "", ""


def _base(name: str) -> str:
    name = _DATE.sub(" ", name)
    name = re.sub(r"\b\d{4}(?:[-_.]\d\d){0,2}\b", " ", name)
    name = _VERSION.sub(" ", name)
    words = [w for w in re.findall(r"[^\W\d_]+", name.lower()) if w not in _STAGES and w not in STOPWORDS]
    return " ".join(words)


def _stage(name: str) -> str:
    found = [w for w in re.findall(r"[^\W\d_]+", name.lower()) if w in _STAGES]
    return max(found, key=_STAGES.get) if found else ""


def _version(name: str) -> tuple[tuple[int, ...], str] | None:
    m = _VERSION.search(name)
    return (tuple(int(p) for p in m.group(1).split(".")), m.group(1)) if m else None


def _date(name: str) -> tuple[tuple[int, int, int], str] | None:
    m = _DATE.search(name) or re.search(r"\b\d{4}[-_.]\d\d[-_.]\d\d\b", name)
    if not m:
        return None
    key = _key("date", re.sub(r"[_.]", "-", m.group(0))).removeprefix("date:").split("-")
    parts = tuple(int(p) if p.isdigit() else 0 for p in key)
    return (parts, m.group(0)) if parts[0] else None
