"""Stored documents -> whole-document answers: a cited summary of one document, the points on
which two documents differ, and the router that sends "summarize X" / "compare X and Y" here.

Top-k retrieval cannot summarize: it sees a few passages. This stage reads every sentence of the
stored text (the body only: a PDF's running headers, footers and page numbers are left out, as
chunking leaves them out), so a summary covers the whole document.

- Without an LLM the summary is extractive: the document's most central sentences (cosine
  similarity to the centroid of all its sentence embeddings, i.e. their mean similarity to every
  other sentence), chosen MMR-style so that no two say the same, in document order, each quoted
  and cited.
- With an LLM (`writer`), map-reduce: the model summarizes each section from its numbered
  sentences (a last sentence cut off by the token limit is dropped); every sentence it writes is
  checked with `rag.verification.Verifier` against the sentences it cites and dropped when unsupported; the surviving sentences are reduced to the
  summary's length by the same centrality and redundancy rule. When nothing survives, the
  extractive summary stands, with a notice.
- `compare` pairs sentences of two documents that are about the same thing (close in meaning,
  sharing words) but say it differently (another number or name, or a negation).

Every sentence of what it returns is cited with exact offsets: `doc.text[start:end] == quote`.
It does not retrieve (rag/retrieval.py), answer questions (rag/reader/) or judge a model's
sentence itself (rag/verification.py).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Iterable
from pathlib import Path

from .reader import compose
from .suspicious import INSTRUCTION
from .text import flatten, split_sentences, terms
from .types import Answer, AnswerSentence, Citation, Document, Evidence, SourceInfo

log = logging.getLogger(__name__)

# Issue 13 asks for a 50-page PDF (about 1,500 sentences) summarized within 30 s on 2 cores: the
# cost is one batched embedding of the sentences, so it is bounded here. Longer documents are
# sampled evenly, so every part of them can still be chosen. Not measured yet:
# bench/summarize_pdf.py measures it.
MAX_SENTENCES = 3000
_MIN_WORDS = 5  # "Chapter 3 Results", captions and list stubs say nothing on their own
_MIN_FACT_WORDS = 2  # ... unless they state a decision, a date or an amount: "Budget: 5,000 euros."
# Longer "sentences" are tables or lines run together from a layout: the mean of several topics,
# they look central to everything.
_MAX_CHARS = 400
# A photo caption ("... air strikes in Iraq and Syria Joseph Eid/Getty") often repeats the lead
# sentence; this much lower it ranks, so the lead is quoted (the seed article), not swept.
_NO_STOP = 0.05
_STOP = re.compile(r"[.!?][\"'”’)\]]*$")
_MMR_LAMBDA = 0.7  # relevance vs novelty when choosing the next sentence (Carbonell & Goldstein's MMR)
_REDUNDANT = 0.85  # a sentence this close to one already chosen repeats it
# Two sentences are about the same point when this close (cosine, bundled MiniLM) and sharing at
# least two content words; set by reading pairs of the tests' documents, not swept.
_SAME_POINT = 0.6
_MAX_PAIRS = 8
_NEAREST = 3  # sentences of B each sentence of A is compared with
_MAX_SECTIONS = 12  # a longer document gets longer sections, so a summary costs at most 12 model calls
_SECTION_SENTENCES = 30

Writer = Callable[[str, str], str]  # (system prompt, user prompt) -> the model's reply


# ---- the sentences a summary may quote ---------------------------------------------------------
# Code, not prose: braces, a statement's closing ";", operators, calls, a prompt or a keyword at the start.
# (A semicolon inside a sentence, "p < 0.05" or "x = 3" in a report is prose.)
_CODE = re.compile(r"[{}]|;\s*$|==|!=|=>|->|\w\(\S*\)|^\s*(?:\$ |>>> |#include|def |class |import |from \S+ import)")
# A model's sentence about the numbered sentences rather than about the document says nothing.
_TALK = re.compile(r"\b(?:the|these|those)(?: (?:two|three|four|five|\d+|main|most important|key))? "
                   r"(?:numbered |given |original )?(?:sentences?|passages?|section|points?)\b", re.IGNORECASE)
# A preamble the model opens a line with: "The two sentences are: ...", "Here are the main points: ..."
_PREAMBLE = re.compile(r"^[ \t]*(?:here (?:are|is)\b|(?:the|these) (?:\w+ ){0,3}(?:sentences?|points?|summary|passages?)\b)"
                       r"[^:\n]{0,60}:[ \t]*", re.IGNORECASE | re.MULTILINE)
# What a reader of minutes, reports and slides looks for first (issue 18: a summary of board
# minutes left out both decisions, of a slide deck the ship date): a sentence stating a decision,
# a date, an amount or another figure, or naming someone. Centrality alone prefers the generic
# sentences that resemble all the others ("Members discussed the plans for...").
_DECISION = re.compile(r"\b(?:decided|decision|approved?|agreed|awarded|resolved|rejected|adopted|voted|elected|"
                       r"appointed|chose|selected|signed|recommends?|recommended|ships?|shipped|ship date|launch(?:es|ed)?|"
                       r"deadline|postponed|cancell?ed|confirmed|will (?:start|end|open|close|ship|be held))\b",
                       re.IGNORECASE)
_MONTH = r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?|sept?(?:ember)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)"
_DATE = re.compile(rf"\b{_MONTH}\.?\s+\d{{1,4}}\b|\b\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH}\b|\b\d{{4}}-\d{{2}}-\d{{2}}\b|"
                   r"\b\d{1,2}/\d{1,2}/\d{2,4}\b|\b(?:Q[1-4]|(?:mon|tues|wednes|thurs|fri|satur|sun)day)\b", re.IGNORECASE)
_AMOUNT = re.compile(r"[€$£¥]\s?\d|\b\d[\d,.]*\s?(?:%|percent|per cent|euros?|pounds?|dollars?|eur|usd|gbp|"
                     r"million|billion|bn)(?!\w)|\b\d{1,3}(?:,\d{3})+\b", re.IGNORECASE)
_FIGURE = re.compile(r"(?<![\w.,/-])\d+(?:[.,]\d+)?(?![\w/-])")
_NAME = re.compile(r"(?<=[a-z,;] )[A-Z][a-z]{2,}")
# How much a sentence's facts may raise it over a more central one: set with
# bench/summary_key_facts.py (recall of the key facts of tests/data/summaries; BENCHMARKS.md).
_SALIENCE = 0.4


def salience(sentence: str) -> float:
    """0..1: how much of what a reader looks for first the sentence states (see `_DECISION`)."""
    score = (1.0 * bool(_DECISION.search(sentence)) + 0.7 * bool(_DATE.search(sentence))
             + 1.0 * bool(_AMOUNT.search(sentence)) + 0.5 * bool(_FIGURE.search(sentence))
             + 0.3 * min(len(_NAME.findall(sentence)), 2) / 2)
    return min(score, 2.0) / 2.0


def _states_a_fact(sentence: str) -> bool:
    """A line that states a decision, a date or an amount: "Ship date: 14 April 2027"."""
    return bool(_DECISION.search(sentence) or _DATE.search(sentence) or _AMOUNT.search(sentence))


_NEGATION = re.compile(r"\b(?:not|never|no|none|nobody|nothing|neither|nor|without)\b|n['’]t\b", re.IGNORECASE)


def body_ranges(doc) -> list[tuple[int, int]]:
    """The (start, end) ranges of the text chunks are cut from: for a PDF, all but its running
    headers, footers and page numbers (found again from the stored text and pages, as ingestion
    found them); all of the text otherwise."""
    pages = list(getattr(doc, "pages", ()) or ())
    if len(pages) < 2:
        return [(0, len(doc.text))]
    from .loaders import find_furniture

    furniture = tuple(find_furniture(doc.text, pages))
    return Document("", doc.text, "", "", pages=tuple(pages), furniture=furniture).body()


def _quotable(sentence: str, min_words: int = _MIN_WORDS) -> bool:
    """A sentence that can stand in a summary: prose of five words or more, not a heading, a
    code line, a table row or text written as instructions to an assistant; or a shorter line
    that states a decision, a date or an amount (a slide's "Ship date: 14 April 2027")."""
    words = re.findall(r"[^\W\d_]{2,}", sentence)
    one_line = flatten(sentence)
    fact = len(words) >= _MIN_FACT_WORDS and _states_a_fact(one_line)
    if (len(words) < min_words and not fact) or len(sentence) > _MAX_CHARS:
        return False
    if one_line.startswith(("#", "|", "```")) or _CODE.search(one_line) or INSTRUCTION.search(one_line):
        return False
    # A heading or caption ends without a stop and is short: "Results of the 2019 survey".
    return one_line.endswith((".", "!", "?", '"', "”", "’", "'", ")")) or len(words) >= 12 or fact


def document_sentences(doc, limit: int = MAX_SENTENCES) -> list[Evidence]:
    """The document's quotable sentences in order, as Evidence citing themselves
    (`doc.text[e.start:e.end] == e.text`), at most `limit`, taken evenly when there are more."""
    spans = [s for a, b in body_ranges(doc) for s in split_sentences(doc.text, a, b)]
    spans = [s for s in spans if _quotable(doc.text[s.start:s.end])]
    if len(spans) > limit:
        step = len(spans) / limit
        spans = [spans[int(i * step)] for i in range(limit)]
    page_at = _page_finder(doc)
    return [Evidence(text=doc.text[s.start:s.end], source=doc.source, start=s.start, end=s.end, page=page_at(s.start),
                     similarity=0.0, coverage=0.0, score=0.0) for s in spans]


def _page_finder(doc) -> Callable[[int], int | None]:
    """`doc.page_at` for a stored document too, by bisection (thousands of sentences, pages)."""
    import bisect

    pages = sorted(getattr(doc, "pages", ()) or (), key=lambda p: p.start)
    starts = [p.start for p in pages]

    def page_at(offset: int) -> int | None:
        i = bisect.bisect_right(starts, offset) - 1
        return pages[i].number if i >= 0 and pages[i].start <= offset < pages[i].end else None

    return page_at


def summary_length(sentences: int) -> int:
    """5 sentences for an article, up to 8 for a long report: one more each time it doubles."""
    return min(sentences, max(1, min(8, 5 + int(math.log2(max(1.0, sentences / 25))))))


def choose(vectors, relevance, k: int) -> list[int]:
    """Indices of `k` rows with high relevance, each not close to one chosen before (MMR)."""
    import numpy as np

    chosen: list[int] = []
    closest = np.full(len(relevance), -1.0, dtype=np.float32)  # similarity to the nearest chosen row
    score = np.asarray(relevance, dtype=np.float32).copy()
    while len(chosen) < k:
        mmr = _MMR_LAMBDA * score - (1 - _MMR_LAMBDA) * np.maximum(closest, 0.0)
        mmr[chosen] = -np.inf
        mmr[closest >= _REDUNDANT] = -np.inf
        best = int(mmr.argmax())
        if not np.isfinite(mmr[best]):
            break
        chosen.append(best)
        closest = np.maximum(closest, vectors @ vectors[best])
    return chosen


def embed(embedder, sentences: list[Evidence]):
    """The sentences' unit vectors, in one batched call (each sentence on one line)."""
    return embedder.encode([flatten(e.text) for e in sentences])


def central(sentences: list, vectors, k: int, centroid=None) -> list[int]:
    """Indices of the `k` most central, non-redundant sentences, in document order: the closest
    to `centroid` (default: the mean of `vectors`, so the closest to all the others on average).
    Of two near-duplicates, a caption without a stop loses to the sentence that says it whole."""
    import numpy as np

    if not sentences:
        return []
    if centroid is None:
        centroid = vectors.mean(axis=0)
    centroid = centroid / (np.linalg.norm(centroid) or 1.0)
    relevance = vectors @ centroid
    if isinstance(sentences[0], Evidence):
        relevance = relevance - _NO_STOP * np.array([not _STOP.search(e.text) for e in sentences])
        relevance = relevance + _SALIENCE * np.array([salience(flatten(e.text)) for e in sentences])
    return sorted(choose(vectors, relevance, k))


# ---- summarize -----------------------------------------------------------------------------------
def summarize(doc, embedder, *, writer: Writer | None = None, verifier=None, backend: str = "none",
              section_chars: int = 4000) -> Answer:
    """A cited summary of the whole of `doc` (a `Document` or the store's `StoredDocument`).

    Args:
        writer: the chat model, as (system, user) -> reply; None for the extractive summary.
        verifier: a `rag.verification.Verifier`, needed with `writer`.
        backend: the name the answer carries when the model wrote it.
        section_chars: characters of sentences the model is shown per call (`Settings.summary_section_chars`).
    """
    sentences = document_sentences(doc)
    if not sentences:
        return Answer(text=f"{_name(doc.source)} holds no sentence that could be quoted as a summary.",
                      citations=[], abstained=True)
    k = summary_length(len(sentences))
    vectors = embed(embedder, sentences)
    if writer is not None:
        from .errors import BackendUnavailable

        try:
            answer = _map_reduce(sentences, vectors, k, embedder, writer, verifier, backend, section_chars)
        except BackendUnavailable as e:
            return _extractive(sentences, vectors, k, f"LLM unavailable, showing an extractive summary. {e}")
        if answer is not None:
            return answer
        return _extractive(sentences, vectors, k, "No sentence of the model's summary was supported by the "
                                                  "sentences it cites; showing an extractive summary instead.")
    return _extractive(sentences, vectors, k)


def _extractive(sentences: list[Evidence], vectors, k: int, notice: str = "") -> Answer:
    chosen = [sentences[i] for i in central(sentences, vectors, k)]
    return compose([(e.text, (e,)) for e in chosen], "none", notice)


def sections(sentences: list[Evidence], chars: int = 4000) -> list[list[int]]:
    """Indices of consecutive sentences in runs of about `chars` characters (longer runs for a long
    document, so there are at most `_MAX_SECTIONS`)."""
    total = sum(len(e.text) for e in sentences)
    size = max(chars, math.ceil(total / _MAX_SECTIONS))
    out: list[list[int]] = [[]]
    used = 0
    for i, e in enumerate(sentences):
        if out[-1] and used + len(e.text) > size:
            out.append([])
            used = 0
        out[-1].append(i)
        used += len(e.text)
    return out


def _map_reduce(sentences: list[Evidence], vectors, k: int, embedder, writer: Writer, verifier,
                backend: str, section_chars: int = 4000) -> Answer | None:
    """Map: the model summarizes each section from its numbered sentences; only sentences that
    pass verification against the sentences they cite are kept. Reduce: the kept sentences most
    central to the whole document, at most `k`, in document order. None when nothing passed."""
    from . import prompts
    from .verification import NumberedPassage, SourceSentence, split_draft

    kept: list[tuple[str, tuple[Evidence, ...]]] = []
    dropped = 0
    for rows in sections(sentences, section_chars):
        if len(rows) > _SECTION_SENTENCES:  # too many to number: the section's own most central ones
            rows = [rows[i] for i in central(rows, vectors[rows], _SECTION_SENTENCES)]
        numbered = dict(enumerate((sentences[i] for i in rows), start=1))
        shown = "\n".join(f"[{n}] {flatten(e.text)}" for n, e in numbered.items())
        system, user = prompts.load("summarize").render(passages=shown)
        drafts = [d for d in split_draft(_markers_last(_finished(_PREAMBLE.sub("", writer(system, user)))))
                  if len(d.text.split()) >= _MIN_WORDS]
        passages = [NumberedPassage(n, (SourceSentence(e.text, e.source, e.start, e.end, e.page),))
                    for n, e in numbered.items()]
        for check in verifier.check(drafts, passages):
            if not check.supported or _TALK.search(check.draft.text):
                dropped += 1
                reason = check.reason if not check.supported else "about the sentences shown, not the document"
                log.info("summary sentence not shown (%s): %s", reason, check.draft.text)
                continue
            kept.append((check.draft.text, tuple(numbered[n] for n in check.cited)))
    if not kept:
        return None
    if len(kept) > k:  # reduce: the model's sentences closest to the whole document, none repeating another
        written = embedder.encode([flatten(t) for t, _ in kept])
        kept = [kept[i] for i in central(kept, written, k, centroid=vectors.mean(axis=0))]
    kept.sort(key=lambda part: min(e.start for e in part[1]))
    notice = (f"{dropped} sentence(s) of the model's summary were not supported by the sentences they cite "
              "and were removed.") if dropped else ""
    return compose(kept, backend, notice)


# The prompt (prompts/summarize.md) asks for one point a line, opening with the number of the sentence
# it restates, the way the sentences are shown: SmolLM2-135M wrote that layout even when asked for
# numbers at the end, as "[1] Top IS commanders are moving to Libya. [2] The group ...", on its own
# lines or on one. rag.verification reads a marker as closing the sentence before it.
_MARKERS = r"(?:\[\d+(?:\s*,\s*\d+)*\][ \t]*)+"
_OPENS_WITH_MARKER = re.compile(rf"^\s*(?:[-*•]\s*|\d+[.)]\s*)?{_MARKERS}")
_SENTENCE_END = re.compile(r"[.!?][\"'”’)]*(?:[ \t]*\[\d+(?:\s*,\s*\d+)*\])*(?=\s)")
_STOP_ONLY = re.compile(r"[.!?][\"'”’)]*(?=\s)")
_ENDED = re.compile(r"(?:[.!?][\"'”’)]*|\])\s*$")


def _markers_last(reply: str) -> str:
    """A reply that opens with a marker has its markers before their sentences: each is moved
    after the text it opens ("[2] Sentence." -> "Sentence. [2]"), where rag.verification reads it.
    A reply in the asked-for order is returned as written."""
    if not _OPENS_WITH_MARKER.match(reply):
        return reply
    parts = re.split(rf"({_MARKERS})", reply)
    out = []
    for markers, text in zip(parts[1::2], parts[2::2]):
        text = re.sub(r"\s*(?:[-*•]|\d+[.)])?\s*$", "", text.strip())  # the next line's bullet
        if re.search(r"\w", text):  # each item is a sentence, with its stop: "... Eid/Getty." [1]
            out.append(f"{text}{'' if _STOP.search(text) else '.'} {markers.strip()}")
    return "\n".join(out)


def _finished(reply: str) -> str:
    """The reply without a last sentence cut off by the token limit ("... influenced by the")."""
    reply = reply.rstrip()
    if not reply or _ENDED.search(reply):
        return reply
    # Markers after a stop close that sentence, unless the reply puts them before their sentences.
    stops = _STOP_ONLY if _OPENS_WITH_MARKER.match(reply) else _SENTENCE_END
    ends = [m.end() for m in stops.finditer(reply)] + [reply.rfind("\n")]
    cut = max(ends, default=-1)
    cut = max(cut, 0)
    log.info("summary sentence not shown (%s): %s", "cut off by the token limit", reply[cut:].strip())
    return reply[:cut]


# ---- compare ---------------------------------------------------------------------------------------
def _key_terms(sentence: str) -> set[str]:
    """Numbers and names the sentence asserts, lower-cased; its first word only when it is also
    capitalised elsewhere in the sentence (a capital at the start of a sentence names nothing)."""
    from .verification import key_terms

    found = key_terms(sentence)  # numbers first, then words
    first = re.match(r"\W*([\w'’-]+)", sentence)
    first_word = first.group(1).strip("'’-") if first else ""
    return {t.lower().replace(",", "") for t in found
            if not (t == first_word and found.count(t) == 1 and t[1:] == t[1:].lower() and not t[:1].isdigit())}


def difference(a: str, b: str) -> str:
    """How two sentences about the same thing disagree: "" when they do not (one only says
    more than the other is not a disagreement), else what differs."""
    only_a, only_b = _key_terms(a) - _key_terms(b), _key_terms(b) - _key_terms(a)
    # A term of one missing from the other is a difference only when the other has its own in
    # its place: "1,200 people" against "900 people", "Paris" against "Lyon".
    only_a = {t for t in only_a if not re.search(rf"(?<!\w){re.escape(t)}(?!\w)", b.lower().replace(",", ""))}
    only_b = {t for t in only_b if not re.search(rf"(?<!\w){re.escape(t)}(?!\w)", a.lower().replace(",", ""))}
    if only_a and only_b:
        return f"{', '.join(sorted(only_a))} against {', '.join(sorted(only_b))}"
    if bool(_NEGATION.search(a)) != bool(_NEGATION.search(b)):
        return "one says not"
    return ""


def compare(doc_a, doc_b, embedder) -> Answer:
    """What two documents say differently about the same points, as "A: <quote> [n] — B: <quote> [m]"
    lines cited on both sides; when nothing differs, the closest agreeing pairs, with a notice."""
    import numpy as np

    a_sentences, b_sentences = document_sentences(doc_a, MAX_SENTENCES // 2), document_sentences(doc_b, MAX_SENTENCES // 2)
    name_a, name_b = _name(doc_a.source), _name(doc_b.source)
    if name_a == name_b:
        name_a, name_b = doc_a.source, doc_b.source
    if not a_sentences or not b_sentences:
        return Answer(text=f"{name_a if not a_sentences else name_b} holds no sentence to compare.", citations=[],
                      abstained=True)
    vectors = embedder.encode([flatten(e.text) for e in a_sentences + b_sentences])
    sims = vectors[:len(a_sentences)] @ vectors[len(a_sentences):].T
    a_terms = [terms(e.text) for e in a_sentences]
    b_terms = [terms(e.text) for e in b_sentences]
    # Each sentence of A against its few nearest of B: a repetitive pair of documents would
    # otherwise make millions of candidate pairs.
    nearest = np.argsort(-sims, axis=1)[:, :_NEAREST]
    candidates = [(float(sims[i, j]), i, int(j)) for i in range(len(a_sentences)) for j in nearest[i]
                  if sims[i, j] >= _SAME_POINT and len(a_terms[i] & b_terms[j]) >= 2]
    candidates.sort(reverse=True)
    differing, agreeing, used_a, used_b = [], [], set(), set()
    for sim, i, j in candidates:
        if i in used_a or j in used_b:
            continue
        if difference(a_sentences[i].text, b_sentences[j].text):
            differing.append((i, j))
        elif len(agreeing) < 3:
            agreeing.append((i, j))
        else:
            continue
        used_a.add(i)
        used_b.add(j)
    if differing:
        pairs = sorted(differing[:_MAX_PAIRS])
        notice = f"{name_a} and {name_b} differ on {len(pairs)} point{'s' if len(pairs) > 1 else ''}."
    elif agreeing:
        pairs = sorted(agreeing)
        notice = (f"No differences found between {name_a} and {name_b} on the points both discuss; "
                  "the closest agreeing passages are shown.")
    else:
        return Answer(text=f"{name_a} and {name_b} do not discuss the same points.", citations=[], abstained=True)
    return _paired(pairs, a_sentences, b_sentences, name_a, name_b, sims, notice)


def _paired(pairs, a_sentences, b_sentences, name_a: str, name_b: str, sims, notice: str) -> Answer:
    citations: list[Citation] = []
    sentences: list[AnswerSentence] = []
    lines = []
    for i, j in pairs:
        ns = []
        for e in (a_sentences[i], b_sentences[j]):
            ns.append(len(citations) + 1)
            citations.append(Citation(n=ns[-1], source=e.source, start=e.start, end=e.end, quote=e.text,
                                      score=float(sims[i, j]), page=e.page))
        qa, qb = flatten(a_sentences[i].text), flatten(b_sentences[j].text)
        sentences.append(AnswerSentence(text=f"{name_a}: {qa} — {name_b}: {qb}", citations=tuple(ns)))
        lines.append(f"- {name_a}: {qa} [{ns[0]}] — {name_b}: {qb} [{ns[1]}]")
    return Answer(text="\n".join(lines), citations=citations, abstained=False, sentences=sentences, notice=notice)


# ---- routing chat questions -------------------------------------------------------------------------
_SUMMARIZE = re.compile(r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:summari[sz]e|sum up|"
                        r"(?:give|show|write|make)(?: me)? an? (?:short |brief )?summary of|"
                        r"(?:what is |what's )?(?:the |an? )?summary of)\s+(?P<x>.+?)[\s?.!]*$", re.IGNORECASE)
_COMPARE = re.compile(r"^\s*(?:please\s+|can you\s+|could you\s+)?(?:compare|contrast|"
                      r"(?:what are |what's |what is )?(?:the )?differences? between|how do(?:es)?)\s+"
                      r"(?P<a>.+?)\s+(?:and|with|to|vs\.?|versus)\s+(?P<b>.+?)(?:\s+differ)?[\s?.!]*$",
                      re.IGNORECASE)
_ARTICLE = re.compile(r"^(?:the |this |that |my )?(?:(?:document|file|article|report|paper|pdf)s?\s+)?",
                      re.IGNORECASE)

_GENERIC = re.compile(r"(?:it|(?:the|this|that|my) (?:document|file|article|report|paper|pdf))", re.IGNORECASE)


def asks_whole_document(question: str) -> bool:
    """Whether the question could be a summary or comparison request (cheap: no index read)."""
    return bool(_SUMMARIZE.match(question) or _COMPARE.match(question))


def match_source(name: str, sources: Iterable[SourceInfo | str]) -> str | None:
    """The one indexed source `name` stands for: its path, the last parts of its path ("zlib/README"),
    its file name, file stem or title, case-insensitive, quotes and "the document" around it
    ignored. None when none or several do (`source_candidates` lists them)."""
    found = source_candidates(name, sources)
    return found[0] if len(found) == 1 else None


def source_candidates(name: str, sources: Iterable[SourceInfo | str]) -> list[str]:
    """The indexed sources `name` may stand for (see `match_source`), sorted: those it names by
    path or file name, else those it names by stem or title."""
    wanted = _ARTICLE.sub("", name.strip().strip("\"'“”‘’`")).strip().strip("\"'“”‘’`").lower()
    if not wanted:
        return []
    items = [(s, "") if isinstance(s, str) else (s.source, s.title) for s in sources]
    tail = "/" + wanted.replace("\\", "/").lstrip("/")
    by_path = sorted({src for src, _ in items if wanted in (src.lower(), Path(src).name.lower())
                      or ("/" in wanted and src.lower().replace("\\", "/").endswith(tail))})
    return by_path or sorted({src for src, title in items if wanted in (Path(src).stem.lower(), title.lower())})


def route(question: str, sources: Iterable[SourceInfo | str]) -> tuple[str, str] | tuple[str, str, str] | None:
    """("summarize", source) for "summarize X" / "give me a summary of X", ("compare", a, b) for
    "compare X and Y", each X an indexed document (see `match_source`; "this document" or "it"
    when the index holds one); None for anything else, which is then answered as a question."""
    sources = list(sources)
    m = _COMPARE.match(question)
    if m:
        a, b = match_source(m.group("a"), sources), match_source(m.group("b"), sources)
        if a and b and a != b:
            return ("compare", a, b)
    m = _SUMMARIZE.match(question)
    if m:
        x = match_source(m.group("x"), sources)
        if x is None and len(sources) == 1 and _GENERIC.fullmatch(m.group("x").strip()):
            x = sources[0] if isinstance(sources[0], str) else sources[0].source  # "summarize this document"
        if x:
            return ("summarize", x)
    return None


def _name(source: str) -> str:
    return Path(source).name or source
