"""Build and score the verification set: faithful paraphrases and perturbations of real source sentences.

    python bench/verification_set.py                      # writes tests/data/verification_set.jsonl
    python bench/verification_set.py --report             # scores rag/verification.py on it
    python bench/verification_set.py --report --baseline main   # scores the verifier of a git revision
    python bench/verification_set.py --news --out /tmp/news-set.jsonl   # news2023 alone, never in the repo
    python bench/verification_set.py --report --out /tmp/news-set.jsonl

Source sentences come from the dev corpora: the seed article, the SQuAD 2.0 sample's paragraphs and
HotpotQA's knowledge passages; with --news, news2023's pages instead (a held-out check, written
outside the repository only: news2023 has no licence). Every draft is made by rules, from one source sentence:
- faithful: meaning-keeping rewrites (a fronted phrase moved or dropped, a concessive clause moved
  or dropped, an apposition, parenthesis or trailing relative clause dropped, "X said Y" turned
  into "Y, X said" and back, reporting-verb and plain synonyms, contractions, passive to active);
- negation: "not"/"never" inserted into the main clause, or the source's negation removed;
- swap: two names of the sentence exchanged (never the two sides of a plain "A and B");
- number: a number replaced by another number of the same document, or by a nearby value;
- entity: a name replaced by another name of the same document: one the sentence does not hold,
  or another name of the sentence (a role given to the wrong name).
A perturbation is applied to the source sentence or to a faithful rewrite of it. Each draft is
checked against one passage: its source sentence with up to two sentences either side (the size of
a chunk), as a model's draft cites the chunk its fact came from.

The report prints the share of perturbations rejected (per kind and overall) and of faithful drafts
kept, with the bundled embedder and the `verify_min_similarity` of rag/config.py.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import random
import re
import subprocess
import sys
import tempfile
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from rag.chunking import split_sentences  # noqa: E402

SHARED = ROOT.parent / "shared"
DEFAULT_OUT = ROOT / "tests" / "data" / "verification_set.jsonl"
PROVENANCE = ("Derived by bench/verification_set.py from the seed article (seeds/), the SQuAD 2.0 sample "
              "(Rajpurkar et al., CC BY-SA 4.0, github.com/zc277584121/search-datasets squad2/) and HotpotQA "
              "knowledge passages from HaluEval (github.com/RUCAIBox/HaluEval, MIT; HotpotQA CC BY-SA 4.0).")
KINDS = ("negation", "swap", "number", "entity")
# Sentences either side of the source in the passage a draft cites: five sentences, about the
# 800 characters of a chunk (rag/config.py chunk_size).
CONTEXT = 2

# --- sources ---------------------------------------------------------------------------------------


def _sentences(text: str) -> list[str]:
    text = re.sub(r"(?<=[\w)\]\"”][.!?])(?=[A-Z][a-z])", " ", text)  # HotpotQA glues passages: "century.First"
    out = []
    for line in text.split("\n"):
        out += [" ".join(line[s.start:s.end].split()) for s in split_sentences(line)]
    return [s for s in out if s]


def load_documents(news: bool = False) -> list[tuple[str, list[str]]]:
    """(origin, sentences) per document: the seed article, SQuAD and HotpotQA; or news2023 alone."""
    docs = []
    if news:
        with open(SHARED / "eval" / "news2023" / "corpus.jsonl", encoding="utf-8") as f:
            for line in f:
                page = json.loads(line)
                docs.append((f"news2023:{page['id']}", _sentences(page["text"])))
        return docs
    for path in sorted((SHARED / "seeds").glob("*.txt")):
        docs.append((f"seed:{path.name}", _sentences(path.read_text(encoding="utf-8"))))
    queries = json.loads((SHARED / "eval" / "squad2" / "queries.json").read_text(encoding="utf-8"))["queries"]
    for i, context in enumerate(dict.fromkeys(q["context"] for q in queries)):
        docs.append((f"squad2:paragraph{i}", _sentences(context)))
    with open(SHARED / "eval" / "hotpotqa" / "qa_one-turn_data.json", encoding="utf-8") as f:
        for i, line in enumerate(f):
            docs.append((f"hotpotqa:line{i}", _sentences(json.loads(line)["knowledge"])))
    return docs


# --- names and numbers -----------------------------------------------------------------------------

_LOWER_START = set(("the a an this that these those it he she they we i in on at by for from with as after "
                    "before during since although though while when if but and or however there its his her "
                    "their some many most several both one two three four five also according despite because "
                    "unlike like other another each every such all no not").split())
_NAME = re.compile(r"(?<![\w'’-])(?:[A-Z][\w'’.-]*[\w]|[A-Z])(?:\s+(?:(?:of|de|von|van|del|la|the|and)\s+)?"
                   r"[A-Z][\w'’.-]*[\w])*")
_NUM = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*(?![\w])")
_MONTHS = set(("january february march april may june july august september october november december "
               "monday tuesday wednesday thursday friday saturday sunday").split())


def names(sentence: str) -> list[re.Match]:
    """Capitalised spans that are names: not the sentence's first word when that is a common word."""
    out = []
    for m in _NAME.finditer(sentence):
        text = m.group(0)
        first = text.split()[0]
        if m.start() == 0 or sentence[:m.start()].strip() in ('"', "“", "'"):
            if first.lower() in _LOWER_START or " " not in text:
                continue  # a capital only because the sentence starts: "Long after ...", "Annual fees ..."
        if "." in text or len(text) < 2 or re.match(r"(It|That|There|What|He|She|Let|I|Here|Who)['’]", text):
            continue  # "U.S", "C" of "°C": abbreviations and symbols, not names to move
        if text.lower() in _MONTHS or text.lower() in _LOWER_START or text in ("I",):
            continue
        if re.search(r"\b(and|the)$", text):
            continue
        out.append(m)
    return out


def _cap(s: str) -> str:
    return s[:1].upper() + s[1:] if s else s


def _decap(s: str) -> str:
    first = s.split(" ", 1)[0]
    if first.lower() in _LOWER_START and first != "I":
        return s[:1].lower() + s[1:]
    return s


# --- faithful rewrites ------------------------------------------------------------------------------
# Each takes a sentence ending in "." and returns a rewrite or None.

_FRONT = re.compile(r"^(On|In|At|During|After|Before|Since|By|From|Between) ([^,\"]{2,45}), (?!\d)(.{20,})\.$")
_CONCESSIVE = re.compile(r"^(Although|Though|Even though|Despite) ([^,\"]{8,120}), (.{20,})\.$")
_SUBORDINATE = re.compile(r"^(Although|Though|When|After|Before|Because|Since|While|As) ([^,\"]{8,120}), (.{20,})\.$")


_SUBJECT_START = set("the a an it he she they we this these those there its his her their many most some "
                     "several all each one two".split())


def _starts_clause(text: str) -> bool:
    """Whether the rest after a fronted phrase starts like a main clause (its subject), not like
    more of the phrase ("..., such as design, ...")."""
    first = text.split(" ", 1)[0].strip('"“')
    return first.lower() in _SUBJECT_START or (first[:1].isupper() and first.lower() not in _LOWER_START)


def front_to_end(s):
    m = _FRONT.match(s)
    if not m or not _starts_clause(m.group(3)) or not re.search(r"\d|[A-Z]", m.group(2)):
        return None
    return f"{_cap(m.group(3))} {m.group(1).lower()} {m.group(2)}."


def drop_front(s):
    """Only a date: "In some cases, X" -> "X" would claim more than the source."""
    m = _FRONT.match(s)
    is_date = m and re.search(r"\d{4}|" + "|".join(_MONTHS), m.group(2), re.IGNORECASE)
    if not is_date or not _starts_clause(m.group(3)):
        return None
    return f"{_cap(m.group(3))}."


def clause_to_end(s):
    m = _SUBORDINATE.match(s)
    if not m or not _starts_clause(m.group(3)):
        return None
    return f"{_cap(m.group(3))}, {m.group(1).lower()} {_decap(m.group(2))}."


def drop_concessive(s):
    m = _CONCESSIVE.match(s)
    return f"{_cap(m.group(3))}." if m and _starts_clause(m.group(3)) else None


# Only after the name the sentence starts with, and only before a lower-case word (the verb):
# "Ismail Shukri, the head of intelligence, told ..."; never inside a list of names.
_APPOSITION = re.compile(r"^((?:[A-Z][\w'’.-]+ )*[A-Z][\w'’.-]+), "
                         r"((?:the|a|an|who|which) [^,\"()]{3,70}), (?=[a-z])")


def drop_apposition(s):
    m = _APPOSITION.search(s)
    if not m or " and " in m.group(2) or len(m.group(1).split()) < 2 or m.group(1).split()[0].lower() in _LOWER_START:
        return None
    return m.group(1) + " " + s[m.end():]


def drop_parenthesis(s):
    out = re.sub(r" \([^()]{1,80}\)", "", s, count=1)
    return out if out != s else None


def drop_trailing_clause(s):
    m = re.search(r", (which|who|where|including|such as) [^\",;:]{5,}\.$", s)
    if not m or m.start() < 30:
        return None
    return s[:m.start()] + "."


_SAID_THAT = re.compile(r"^(.{2,60}?) (said|says|added|stated|announced|reported|told [A-Z][\w ]{1,30}?)"
                        r"(?: that|:|,) (.{20,})\.$")
_QUOTE_SAID = re.compile(r'^"(.{20,}?)[,.]?" (said|says|added) ([A-Z][\w .]{1,40}|he|she|they)\.$')
_QUOTE_SAID2 = re.compile(r'^"(.{20,}?)[,.]?" ([A-Z][\w .]{1,40}|he|she|they) (said|says|added)\.$')


def said_to_end(s):
    m = _SAID_THAT.match(s)
    if not m or not names(m.group(1)) or '"' in m.group(1):
        return None
    verb = "said" if m.group(2).startswith("told") else m.group(2)
    claim = m.group(3).strip()
    if claim.startswith('"') and claim.endswith('"'):
        return f'{claim[:-1]}," {_decap(m.group(1))} {verb}.'
    if '"' in claim:
        return None
    return f"{_cap(claim)}, {_decap(m.group(1))} {verb}."


def according_to(s):
    m = _SAID_THAT.match(s)
    if not m or not names(m.group(1)) or '"' in m.group(1) + m.group(3) or m.group(2).startswith("told"):
        return None
    return f"According to {m.group(1)}, {_decap(m.group(3))}."


def said_to_front(s):
    m = _QUOTE_SAID.match(s)
    if m:
        speaker, verb, claim = m.group(3), m.group(2), m.group(1)
    else:
        m = _QUOTE_SAID2.match(s)
        if not m:
            return None
        speaker, verb, claim = m.group(2), m.group(3), m.group(1)
    return f'{_cap(speaker)} {verb}: "{claim}."'


_VERB_SYNONYMS = [(" said ", " stated "), (" says ", " states "), (" stated ", " said "),
                  (" added ", " said "), (" added.", " said."), (" said.", " stated."), (" noted ", " said ")]
_WORD_SYNONYMS = [("approximately", "about"), ("roughly", "about"), ("purchased", "bought"), ("commenced", "began"),
                  ("began", "started"), ("In addition, ", ""), ("However, ", ""), ("Additionally, ", ""),
                  ("in order to", "to"), ("a number of", "several"), ("prior to", "before"), ("numerous", "many"),
                  ("utilized", "used"), ("utilize", "use"), ("largest", "biggest"), ("is located in", "is in"),
                  ("was located in", "was in"), ("more than", "over"), ("also ", ""), ("is known as", "is called"),
                  ("was known as", "was called"), ("assist", "help"), ("attempted", "tried"), ("obtained", "got"),
                  ("frequently", "often"), ("initially", "at first"), ("nearly", "almost"), ("entire", "whole")]


def reporting_synonym(s):
    for a, b in _VERB_SYNONYMS:
        if a in s:
            return s.replace(a, b, 1)
    return None


def word_synonym(s):
    for a, b in _WORD_SYNONYMS:
        m = re.search(rf"(?<!\w){re.escape(a)}" + (r"(?!\w)" if a[-1].isalpha() else ""), s)
        if m:
            out = s[:m.start()] + b + s[m.end():]
            return _cap(out) if m.start() == 0 else out
    return None


_CONTRACT = [("is not", "isn't"), ("was not", "wasn't"), ("are not", "aren't"), ("were not", "weren't"),
             ("did not", "didn't"), ("does not", "doesn't"), ("do not", "don't"), ("has not", "hasn't"),
             ("have not", "haven't"), ("had not", "hadn't"), ("cannot", "can't"), ("could not", "couldn't"),
             ("will not", "won't"), ("would not", "wouldn't"), ("should not", "shouldn't"), ("it is", "it's"),
             ("It is", "It's"), ("that is", "that's"), ("there is", "there's"), ("There is", "There's")]


def contraction(s):
    for a, b in _CONTRACT:
        for x, y in ((a, b), (b, a)):
            m = re.search(rf"(?<![\w']){re.escape(x)}(?![\w'])", s)
            if m:
                return s[:m.start()] + y + s[m.end():]
    return None


_PASSIVE = re.compile(r"^((?:The )?[A-Z][\w'’-]*(?: [A-Z][\w'’-]*)*) (was|were) ([a-z]+ed) by "
                      r"((?:the )?[A-Z][\w'’.-]*(?: (?:of )?[A-Z][\w'’.-]*)*)(\.| in \d{4}\.)$")


def passive_to_active(s):
    m = _PASSIVE.match(s)
    if not m:
        return None
    return f"{_cap(m.group(4))} {m.group(3)} {_decap(m.group(1))}{m.group(5)}"


_CLAUSES = re.compile(r"(?:, while |, whereas |, but |; )(?=(?:the|its|his|her|their|[A-Z])\w* )")
_VERB = re.compile(r"\b(?:is|are|was|were|has|have|had|will|would|can|could|did|does|[a-z]{3,}ed)\b")


def one_clause(s):
    """The core claim of one clause of a compound sentence: "A did X, while B did Y." -> "B did Y."
    Only where the second side starts with its own subject (a name, "the ...", "its ...") and the
    side kept has a verb of its own."""
    parts = _CLAUSES.split(s[:-1]) if s.endswith(".") else []
    if len(parts) != 2:
        return None
    pick = parts[len(s) % 2]
    if (len(pick.split()) < 6 or not _VERB.search(pick) or re.search(r"\b(where|which|who)\b", pick)
            or pick.count('"') % 2 or pick.count("(") != pick.count(")")):
        return None
    return _cap(pick) + "."


REWRITES = {f.__name__: f for f in (front_to_end, drop_front, clause_to_end, drop_concessive, drop_apposition,
                                    drop_parenthesis, drop_trailing_clause, said_to_end, said_to_front, according_to, one_clause,
                                    reporting_synonym, word_synonym, contraction, passive_to_active)}


def merge(s: str, following: str) -> tuple[str, list[str]] | None:
    """Two sentences in one, as a model sums up a passage: "A did X, and B did Y." Only when the
    second does not start with a word that needs the first ("It", "This", "However" ...)."""
    if len((s + " " + following).split()) > 45 or not s.endswith(".") or not following.endswith("."):
        return None
    first = following.split(" ", 1)[0]
    if first.lower() in _LOWER_START or not first[:1].isupper():
        return None
    return f"{s[:-1]}, and {following}", ["merge_with_next"]


def paraphrase(s: str, rng: random.Random, steps: int = 2) -> tuple[str, list[str]] | None:
    """Up to `steps` rewrites, in random order; None when no rule applies."""
    order = list(REWRITES)
    rng.shuffle(order)
    done, out = [], s
    for name in order:
        new = REWRITES[name](out)
        if new and new != out and len(new.split()) >= 5:
            out, done = new, done + [name]
            if len(done) == steps:
                break
    return (out, done) if done else None


# --- perturbations ---------------------------------------------------------------------------------

_AUX = re.compile(r"(?<![\w'])(is|are|was|were|has|have|had|can|could|will|would|should|may|might|must|does|do|did)"
                  r"(?= (?!not\b|n't|never\b)[a-z])")
_PAST = re.compile(r"(?<= )([a-z]{3,}ed)(?= )")
_NEG = re.compile(r"\b(not|never) |n't\b|\bcannot\b")


def negate(s: str, rng: random.Random) -> tuple[str, str] | None:
    if _NEG.search(s):
        m = _NEG.search(s)
        text = m.group(0)
        if text == "cannot":
            return s[:m.start()] + "can" + s[m.end():], "negation_removed"
        if text == "n't":
            stem = s[:m.start()]
            stem = stem[:-2] + "will" if stem.endswith("wo") else stem[:-2] + "can" if stem.endswith("ca") else stem
            return stem + s[m.end():], "negation_removed"
        return s[:m.start()] + s[m.end():], "negation_removed"
    first = names(s)
    after = first[0].end() if first else 0
    m = _AUX.search(s, after)
    if m and m.start() - after < 60:
        return s[:m.end()] + " not" + s[m.end():], "not_inserted"
    m = _PAST.search(s, after)
    if m and m.start() - after < 40 and m.group(1) not in ("based", "used", "located", "called", "named"):
        return s[:m.start()] + "never " + s[m.start():], "never_inserted"
    return None


def swap(s: str, rng: random.Random) -> tuple[str, str] | None:
    found = [m for m in names(s) if s.count(m.group(0)) == 1]
    pairs = []
    for i, a in enumerate(found):
        for b in found[i + 1:]:
            between = s[a.end():b.start()]
            if a.group(0) in b.group(0) or b.group(0) in a.group(0):
                continue
            rest = _NAME.sub("", between)
            if not re.search(r"\b(?!and\b|or\b)[a-z]+", rest):
                continue  # "A and B", "A, B, C", "A (B)", "A: B": the same in any order
            pairs.append((a, b))
    if not pairs:
        return None
    a, b = rng.choice(pairs)
    out = s[:a.start()] + b.group(0) + s[a.end():b.start()] + a.group(0) + s[b.end():]
    return out, "names_swapped"


def change_number(s: str, doc_numbers: list[str], rng: random.Random) -> tuple[str, str] | None:
    found = [m for m in _NUM.finditer(s)]
    if not found:
        return None
    m = rng.choice(found)
    old = m.group(0)
    others = [n for n in doc_numbers if n != old and (len(n) == 4) == (len(old) == 4)]
    if others and rng.random() < 0.6:
        new, how = rng.choice(others), "number_from_document"
    else:
        value = float(old.replace(",", ""))
        if "." in old:
            new = f"{value * rng.choice((0.5, 2, 1.5)):.{len(old.split('.')[-1])}f}"
        else:
            v = int(value)
            new = str(v + rng.choice((1, 2, 3, 5, 10)) if len(old) == 4 else max(v * rng.choice((2, 3)), v + 2))
            if "," in old:
                new = f"{int(new):,}"
        how = "number_altered"
    if new == old:
        return None
    return s[:m.start()] + new + s[m.end():], how


def replace_entity(s: str, doc_names: list[str], rng: random.Random, source: str) -> tuple[str, str] | None:
    """A name replaced by another of the document: one the source sentence does not hold, or (a
    third of the time) another name of the sentence itself, which then stands in two places
    ("IS is untouched in Syria" from "... in Iraq and Syria, it is untouched in Libya")."""
    found = names(s)
    if not found:
        return None
    m = rng.choice(found)
    low = source.lower()
    old_words = set(re.findall(r"\w+", m.group(0).lower()))

    def unrelated(n: str) -> bool:
        return not old_words & set(re.findall(r"\w+", n.lower()))

    in_sentence = [n.group(0) for n in found if unrelated(n.group(0))]
    if in_sentence and rng.random() < 1 / 3:
        return s[:m.start()] + rng.choice(in_sentence) + s[m.end():], "name_from_sentence"
    pool = [n for n in doc_names if n.lower() not in low and unrelated(n)]
    if not pool:
        return None
    return s[:m.start()] + rng.choice(pool) + s[m.end():], "name_from_document"


# --- building the set -------------------------------------------------------------------------------


def _usable(s: str) -> bool:
    words = s.split()
    return 8 <= len(words) <= 60 and s[-1:] in '."”' and not re.search(r"[\[\]{}|]", s)


def build(docs: list[tuple[str, list[str]]], per_kind: int, faithful: int, seed: int = 11) -> list[dict]:
    rng = random.Random(seed)
    candidates = []  # (origin, sentences, index)
    for origin, sents in docs:
        candidates += [(origin, sents, i) for i, s in enumerate(sents) if _usable(s)]
    rng.shuffle(candidates)
    candidates.sort(key=lambda c: not c[0].startswith("seed:"))  # the seed article first, all of it
    want = {"faithful": faithful, **{k: per_kind for k in KINDS}}
    got: Counter = Counter()
    per_origin: Counter = Counter()
    used: Counter = Counter()
    removed = 0
    rows = []
    for origin, sents, i in candidates:
        if all(got[k] >= want[k] for k in want):
            break
        if per_origin[origin] >= (30 if origin.startswith("seed:") else 3):
            continue
        s = sents[i]
        text = " ".join(sents)
        doc_numbers = list(dict.fromkeys(m.group(0) for m in _NUM.finditer(text)))
        doc_names = list(dict.fromkeys(m.group(0) for t in sents for m in names(t)))
        rewritten = paraphrase(s, rng)
        if i + 1 < len(sents) and _usable(sents[i + 1]) and rng.random() < 0.25:
            rewritten = merge(s, sents[i + 1]) or rewritten
        make = {"negation": lambda t: negate(t, rng), "swap": lambda t: swap(t, rng),
                "number": lambda t: change_number(t, doc_numbers, rng),
                "entity": lambda t: replace_entity(t, doc_names, rng, s)}
        kinds = sorted((k for k in want if got[k] < want[k]), key=lambda k: (got[k] / want[k], rng.random()))
        if _NEG.search(s) and removed < per_kind // 3 and "negation" in kinds:
            kinds.remove("negation")
            kinds.insert(0, "negation")  # few sentences hold a negation: each of them gives one to remove
        made = None
        for kind in kinds:  # the kind most wanted that this sentence can give
            if kind == "faithful":
                if not rewritten or any(used[r] >= faithful // 6 for r in rewritten[1]):
                    continue  # no one rule makes more than a sixth of the faithful drafts
                used.update(rewritten[1])
                made = rewritten[0], "+".join(rewritten[1])
            else:
                if rewritten and rng.random() < 0.5:  # on a faithful rewrite, or on the source itself
                    out = make[kind](rewritten[0])
                    made = (out[0], "+".join(rewritten[1]) + "+" + out[1]) if out else None
                if not made:
                    made = make[kind](s)
            if made and made[0] != s:
                break
            made = None
        if not made:
            continue
        draft, how = made
        rows.append({"source_sentence": s, "draft": draft, "label": kind, "origin": origin, "rule": how,
                     "before": sents[max(0, i - CONTEXT):i], "after": sents[i + 1:i + 1 + CONTEXT]})
        got[kind] += 1
        per_origin[origin] += 1
        removed += how.endswith("negation_removed")
    return rows


# --- scoring ---------------------------------------------------------------------------------------


class _CachedEmbedder:
    """The bundled embedder, each text encoded once however often the set repeats it."""

    def __init__(self, embedder):
        self.embedder, self.cache = embedder, {}

    def encode(self, texts):
        import numpy as np

        new = [t for t in dict.fromkeys(texts) if t not in self.cache]
        if new:
            for t, v in zip(new, self.embedder.encode(new)):
                self.cache[t] = v
        return np.stack([self.cache[t] for t in texts])


def load_verification_module(revision: str | None):
    """rag.verification, or the one committed at a git revision (to score the verifier before a change)."""
    if revision is None:
        import rag.verification

        return rag.verification
    source = subprocess.run(["git", "-C", str(ROOT), "show", f"{revision}:rag/verification.py"],
                            check=True, capture_output=True, text=True).stdout
    path = Path(tempfile.mkdtemp()) / "verification_baseline.py"
    path.write_text(source, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("rag._verification_baseline", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def score(rows: list[dict], module, embedder, min_similarity: float) -> dict:
    """Per label: how many drafts the verifier keeps (supported) out of how many."""
    verifier = module.Verifier(embedder, min_similarity)
    kept: Counter = Counter()
    total: Counter = Counter()
    wrong = defaultdict(list)
    for row in rows:
        sentences = row["before"] + [row["source_sentence"]] + row["after"]
        passage = module.NumberedPassage(
            1, tuple(module.SourceSentence(t, row["origin"], 0, len(t)) for t in sentences))
        check = verifier.check([module.DraftSentence(row["draft"], (1,))], [passage])[0]
        total[row["label"]] += 1
        kept[row["label"]] += check.supported
        if check.supported != (row["label"] == "faithful"):
            wrong[row["label"]].append((row, check))
    rejected = {k: 1 - kept[k] / total[k] for k in KINDS if total[k]}
    perturbed = sum(total[k] for k in KINDS)
    return {"sizes": dict(total), "faithful_kept": kept["faithful"] / total["faithful"] if total["faithful"] else None,
            "perturbations_rejected": {**rejected, "overall": 1 - sum(kept[k] for k in KINDS) / perturbed},
            "wrong": wrong}


def read_set(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as f:
        return [row for row in map(json.loads, f) if "draft" in row]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--per-kind", type=int, default=100, help="perturbations of each kind")
    ap.add_argument("--faithful", type=int, default=360)
    ap.add_argument("--news", action="store_true", help="news2023 instead (never write it into the repository)")
    ap.add_argument("--report", action="store_true", help="score the verifier on --out instead of building it")
    ap.add_argument("--baseline", metavar="REV", help="with --report: the verifier of this git revision")
    ap.add_argument("--show-errors", type=int, default=0, help="with --report: print this many misjudged drafts")
    args = ap.parse_args()

    if not args.report:
        if args.news and args.out.resolve().is_relative_to(ROOT):
            ap.error("news2023 has no licence: write a --news set outside the repository (e.g. --out /tmp/news.jsonl)")
        rows = build(load_documents(args.news), args.per_kind, args.faithful)
        with open(args.out, "w", encoding="utf-8") as f:
            if not args.news:
                f.write(json.dumps({"provenance": PROVENANCE}) + "\n")
            for row in rows:
                f.write(json.dumps(row, ensure_ascii=False) + "\n")
        print(f"{len(rows)} drafts -> {args.out}: {dict(Counter(r['label'] for r in rows))}")
        return

    from rag.config import load_settings
    from rag.embeddings import SentenceEmbeddings

    rows = read_set(args.out)
    min_similarity = load_settings().verify_min_similarity
    result = score(rows, load_verification_module(args.baseline), _CachedEmbedder(SentenceEmbeddings("bundled", 32)),
                   min_similarity)
    print(f"set: {args.out} ({len(rows)} drafts: {result['sizes']})")
    print(f"verifier: {args.baseline or 'working tree'}, verify_min_similarity={min_similarity}")
    for kind, rate in result["perturbations_rejected"].items():
        print(f"  {kind:<9} rejected {rate:.3f}")
    print(f"  faithful  kept     {result['faithful_kept']:.3f}")
    for label, items in result["wrong"].items():
        for row, check in items[: args.show_errors]:
            print(f"\n[{label} {row['rule']}] sim={check.similarity:.2f} missing={check.missing}"
                  f" {getattr(check, 'reason', '')}\n  S: {row['source_sentence']}\n  D: {row['draft']}")


if __name__ == "__main__":
    main()
