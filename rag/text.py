"""Text helpers shared by every stage: sentences, tokens and stems, the shortest unique names of
paths, and the language of a question. No stage logic lives here.

`split_sentences` is used by chunking, by the answerer to pick evidence and by verification, so
chunk boundaries and citation boundaries agree. Every span satisfies `text[start:end] == span_text`.
A sentence runs across a hard line break when the line is wrapped prose (README, e-mail, text
exported from a PDF, a note typed in a narrow column); a blank line, a list item, a heading, a
table row or a short line with room left on it ends it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class Span:
    start: int
    end: int


# A sentence ends at . ! or ? (plus closing quotes/brackets) followed by whitespace, or at a line
# break that is not a soft wrap (see `_soft_wrap`).
_BOUNDARY = re.compile(r"""(?<=[.!?])["'”’)\]]*(?=\s+)|\n""")
_MAX_QUOTED = 400  # longer quotations are split at sentence ends after all
_ABBREVIATIONS = {"mr", "mrs", "ms", "dr", "prof", "st", "vs", "etc", "e.g", "i.e", "jr", "sr", "no", "fig",
                  "inc", "ltd", "co", "u.s", "u.k", "jan", "feb", "mar", "apr", "jun", "jul", "aug", "sep",
                  "sept", "oct", "nov", "dec", "gen", "gov", "sen", "rep", "col", "lt", "sgt", "capt", "mt"}
# A wrapped line is long: text wrapped at 72-80 columns leaves lines of 40+ characters except the
# last of a paragraph, while titles, captions, table rows and list entries are mostly shorter.
_MIN_WRAPPED_LINE = 40
# Text wrapped narrower (a note typed at 40 columns, a newspaper column, a PDF in two columns) is
# told by its width: a line of at least _MIN_NARROW_LINE characters is wrapped when the next line's
# first word would not have fit on it within the longest of the _WIDTH_LINES lines either side
# (the paragraph's wrap width). An address or a list has short lines with room left on them.
_MIN_NARROW_LINE = 16
_WIDTH_LINES = 6
_NEW_BLOCK = re.compile(r"[ \t]*(?:[-*•+>#|]|\d{1,3}[.)]\s|[A-Z][\w ]{0,30}:\s|\$ |    )")
# Columns laid out with tabs or runs of spaces, or cells joined by " | " (how the DOCX, PPTX and
# HTML readers write a table row): a row, never wrapped prose.
_LIST_ITEM = re.compile(r"[ \t]*(?:[-*•+]|\d{1,3}[.)])[ \t]+\S")
_ADORNMENT = re.compile(r"[ \t]*([=\-~^*#_+.:`'\"])\1+[ \t]*$")
_ABBREVIATED = frozenset(("mr.", "mrs.", "ms.", "dr.", "prof.", "st.", "e.g.", "i.e."))
_NUMBERED = re.compile(r"[ \t]*\d{1,3}\.")
_TABULAR = re.compile(r"\S(?:[ \t]*\t[ \t]*| {3,}|[ \t]+\|[ \t]+)\S")
_TOKEN = re.compile(r"\w+", re.UNICODE)
# Small English stopword list: these words carry no evidence in BM25 or in answer selection.
STOPWORDS = frozenset("""a an and are as at be been but by can could did do does for from had has have he her
hers him his how i if in into is it its me my no not of on or our she so than that the their them then there
these they this to was we were what when where which who whom whose why will with would you your about after
also any before being between both each few more most other over same some such through under until very
while""".split())


def _soft_wrap(text: str, newline: int) -> bool:
    """True when the line break at `newline` only wraps a sentence that goes on in the next line."""
    line_start = text.rfind("\n", 0, newline) + 1
    line = text[line_start:newline].rstrip()
    nxt_end = text.find("\n", newline + 1)
    nxt = text[newline + 1: len(text) if nxt_end < 0 else nxt_end].rstrip()
    length = len(line.strip())
    if length < _MIN_NARROW_LINE or not nxt.strip() or _TABULAR.search(line) or _TABULAR.search(nxt):
        return False
    if _LIST_ITEM.match(line) and _indent(nxt) > _indent(line):  # "- a list item\n  wrapped under it"
        if _NEW_BLOCK.match(nxt.lstrip()):
            return False
    elif _NEW_BLOCK.match(nxt) or _NEW_BLOCK.match(line):
        return False
    if line.endswith((":", ";")) and not nxt.lstrip()[:1].islower():
        return False
    if length >= _MIN_WRAPPED_LINE:
        return True
    # A narrow line is judged by the width only when it reads as prose cut mid-sentence: three
    # words or more, ending as a sentence goes on (`_cut_mid_sentence`), not over an underline. Measured on /usr/share/doc, the lines this rule joined without these
    # were mostly titles ("D-Bus 1.9.10 (2015-02-09)" over "=="), names in a list ("Ann Smith
    # <ann@example.org>") and file names.
    if len(line.split()) < 3 or _ADORNMENT.match(nxt) or not _cut_mid_sentence(line, nxt):
        return False
    return len(line) + 1 + len(nxt.split()[0]) > _wrap_width(text, line_start)


def _cut_mid_sentence(line: str, nxt: str) -> bool:
    """Whether a line stops mid-sentence: it ends in a comma (or ; :), an abbreviation ("Mr.") or
    a word, lower-case ("every") or a capitalised one among mostly lower-case words in this line
    and the next ("The ferry to Isle" / "Morven leaves every"), not in a title's or a list of
    names' capitals ("Shapes and Outlines" / "Sections", "Rene Rivera" / "Vladimir Prus")."""
    last = line.split()[-1]
    if last.endswith((",", ";", ":")) or last.lower() in _ABBREVIATED:
        return True
    if not last.isalpha():
        return False
    if last[0].islower():
        return True
    alphabetic = [w for w in (w.strip(",.;:()\"'") for w in f"{line} {nxt}".split()) if w.isalpha()]
    return 3 * sum(w[0].isupper() for w in alphabetic) < 2 * len(alphabetic)  # under two thirds


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip())


def _wrap_width(text: str, line_start: int) -> int:
    """The longest line among the `_WIDTH_LINES` lines either side of the one starting at
    `line_start`, within its paragraph (blank lines bound it)."""
    width = 0
    at = line_start  # lines above, this one included
    for _ in range(_WIDTH_LINES + 1):
        end = text.find("\n", at)
        line = text[at: len(text) if end < 0 else end].rstrip()
        if not line.strip():
            break
        width = max(width, len(line))
        if at == 0:
            break
        at = text.rfind("\n", 0, at - 1) + 1
    at = text.find("\n", line_start)  # lines below
    for _ in range(_WIDTH_LINES):
        if at < 0:
            break
        end = text.find("\n", at + 1)
        line = text[at + 1: len(text) if end < 0 else end].rstrip()
        if not line.strip():
            break
        width = max(width, len(line))
        at = end
    return width


def split_sentences(text: str, start: int = 0, end: int | None = None) -> list[Span]:
    """Sentence spans in text[start:end], trimmed of surrounding whitespace, never empty."""
    end = len(text) if end is None else end
    spans: list[Span] = []
    cut = start
    for m in _BOUNDARY.finditer(text, start, end):
        stop = m.end()
        if m.group(0) == "\n" and _soft_wrap(text, m.start()):
            continue
        if text[m.start() - 1: m.start()] == "." and m.group(0) != "\n":
            word = re.search(r"([\w.]+)\.$", text[max(cut, m.start() - 12): m.start()])
            if word and (word.group(1).lower() in _ABBREVIATIONS or (len(word.group(1)) == 1 and word.group(1).isalpha())):
                continue  # "Mr. Smith", "J. Smith": not a sentence end
            if _NUMBERED.fullmatch(text, text.rfind("\n", 0, m.start()) + 1, m.start()):
                continue  # "1. Install it": a list item's number, not a sentence
        if m.group(0) != "\n" and stop - cut < _MAX_QUOTED and _inside_quote(text[cut:stop]):
            continue  # keep a quotation of several sentences whole: it is one statement by one speaker
        _append_trimmed(text, cut, stop, spans)
        cut = stop
    _append_trimmed(text, cut, end, spans)
    return spans


def _inside_quote(segment: str) -> bool:
    return segment.count('"') % 2 == 1 or segment.count("“") > segment.count("”")


def _append_trimmed(text: str, a: int, b: int, out: list[Span]) -> None:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    if a < b:
        out.append(Span(a, b))


def flatten(text: str) -> str:
    """The text on one line, runs of whitespace as one space: how a reflowed sentence reads."""
    return " ".join(text.split())


def tokenize(text: str) -> list[str]:
    """Lower-cased words, stopwords and single letters dropped (digits kept)."""
    return [t for t in (w.lower() for w in _TOKEN.findall(text)) if t not in STOPWORDS and (len(t) > 1 or t.isdigit())]


def stem(token: str) -> str:
    """A light suffix stripper: enough to match 'strikes'/'strike', 'moving'/'moved', 'rule'/'ruled'."""
    for suffix in ("ings", "ing", "edly", "ed", "es", "s"):
        if token.endswith(suffix) and len(token) - len(suffix) >= 3 and not (suffix == "s" and token.endswith("ss")):
            token = token[: -len(suffix)]
            break
    return token[:-1] if token.endswith("e") and len(token) > 3 else token  # "rule"/"ruled"


def stems(text: str) -> set[str]:
    return {stem(t) for t in tokenize(text)}


def terms(text: str) -> set[str]:
    """`stems`, plus acronyms that read as stopwords in lower case ("IS", "US", "IT"), kept in
    capitals so that "is" never matches them."""
    acronyms = {w for w in re.findall(r"\b[A-Z]{2,5}\b", text) if w.lower() in STOPWORDS}
    return stems(text) | acronyms if not text.isupper() else stems(text)


def shortest_unique_paths(paths) -> dict[str, str]:
    """Each path shortened to its fewest last components that no other of `paths` ends with:
    "README" alone when it is the only one, "zstd/README" and "zlib/README" when there are two
    (issue 18: eight READMEs cited as "README" looked alike). A path whose every ending another
    shares stays whole."""
    from collections import Counter

    parts = {p: tuple(x for x in p.replace("\\", "/").split("/") if x) or (p,) for p in dict.fromkeys(paths)}
    short: dict[str, str] = {}
    pending, n = list(parts), 1
    while pending:  # one count of the n-part endings per round: 10,000 sources cost milliseconds
        endings = Counter(mine[-n:] for mine in parts.values())
        rest = []
        for path in pending:
            mine = parts[path]
            if endings[mine[-n:]] == 1:
                short[path] = "/".join(mine[-n:])
            elif n >= len(mine):
                short[path] = path
            else:
                rest.append(path)
        pending, n = rest, n + 1
    return short


# Function words of the languages a question is most often asked in besides English, leaving out
# those that are English words too ("a", "in", "was", "die", "come", "per"): enough to tell the
# language of a one-line question without a model (issue 18: French, German and Spanish questions
# over English documents were answered "not in the documents", with no hint why).
_FUNCTION_WORDS = {
    "French": set("le la les des du un une est sont où quand qui quoi quel quelle quels quelles comment pourquoi "
                  "combien dans pour avec sur au aux ce cette ces il elle ils elles nous vous je ne pas et de qu "
                  "l d c j n s est-ce y".split()),
    "German": set("der das den dem des ein eine einen einer ist sind wo wann wer wie warum welche welcher welches "
                  "wieviel wieviele mit für auf im und nicht von zu zum zur es sie wir ich hat haben wird nach bei aus "
                  "dass oder wurde wurden seit".split()),
    "Spanish": set("el la los las un una es son dónde donde cuándo cuando quién qué que cómo cuánto cuántos con "
                   "para del al y se su sus está están hay".split()),
    "Italian": set("il lo la gli le un una è sono dove quando chi che cosa perché quanto quanti con della del "
                   "nel nella sul alla ci".split()),
    "Portuguese": set("o os as um uma é são onde quando quem que como quanto com para do da dos das no na "
                      "em não".split()),
    "Dutch": set("de het een zijn waar wanneer wie wat waarom welke met voor op van niet naar er zich ze hij "
                 "wordt worden".split()),
}
_ACCENTED = re.compile(r"[àâäçéèêëîïôöùûüÿñœßáíóúãõ¿¡]", re.IGNORECASE)


def question_language(text: str) -> str | None:
    """The language a question is written in when it is clearly not English ("French", "German",
    "Spanish", "Italian", "Portuguese", "Dutch"), from its function words; None for English or
    when unsure. Two of a language's function words, more than its English ones, are needed."""
    words = re.findall(r"[^\W\d_]+", text.lower().replace("’", "'"))
    if not words:
        return None
    english = sum(w in STOPWORDS for w in words)
    accents = 1 if _ACCENTED.search(text) else 0
    hits = {lang: sum(w in vocabulary for w in words) for lang, vocabulary in _FUNCTION_WORDS.items()}
    lang, best = max(hits.items(), key=lambda item: item[1])
    if best + accents >= 2 and best > english:
        return lang
    return None
