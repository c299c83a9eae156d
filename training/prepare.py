"""Step 1 of the reader's training: QA questions -> reader examples (JSONL), reproducibly.

Reads `../shared/train/qa_train.jsonl.gz` (format and licences in its README) and writes one
example per line: `{"qid", "source", "question", "title", "context", "start", "end"}` where
`context[start:end]` is the answer, or `start == end == -1` when the context does not answer the
question. Contexts are cut to passages of about the size rag's chunks have (800 characters,
`Settings.chunk_size`), on sentence boundaries, so the model reads at training time what the
reader hands it at answer time.

"No answer" examples are made here, since only 1.5% of the data is marked unanswerable:
  * the question against another passage of the same title, the one sharing most of the question's
    words (a retrieved near-miss: same topic, same names, no answer);
  * for long contexts (COVID-QA papers, long stories), the question against a passage of its own
    context away from the answer.

The split is by title (a fixed hash), so no passage of a held-out title is trained on: the
held-out file (`heldout.jsonl`) is what thresholds and fusion weights may be fitted on, never the
dev sets in `../shared/eval`.

    python training/prepare.py --data ../shared/train/qa_train.jsonl.gz --out training/data
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
from collections import defaultdict
from pathlib import Path

PASSAGE_CHARS = 500  # under rag's chunk_size (800): a 2-core budget reads more questions in shorter passages
HELDOUT_SHARE = 0.03  # of titles
# Web reviews and forum posts (SQuAD-shifts reddit / amazon) are half the data but the furthest
# from what rag reads (articles, manuals, notes): they come after the rest in the training order.
LATE_SOURCES = ("squadshifts_reddit", "squadshifts_amazon_reviews")
_SENT_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
_WORD = re.compile(r"[a-z0-9]+")
_STOP = frozenset("""a an the of in on at to for from by with and or is are was were be been what which who whom
whose when where why how did do does that this these those it its as into about after before than then""".split())


def heldout(title: str) -> bool:
    h = int(hashlib.sha1(title.encode()).hexdigest()[:8], 16)
    return h / 0xFFFFFFFF < HELDOUT_SHARE


def words(text: str) -> set[str]:
    return {w for w in _WORD.findall(text.lower()) if w not in _STOP}


def boundaries(text: str) -> list[int]:
    """Offsets where a sentence starts (0 included)."""
    return [0] + [m.end() for m in _SENT_END.finditer(text)]


def window(text: str, a: int, b: int, rng: random.Random) -> tuple[int, int]:
    """A passage of about PASSAGE_CHARS on sentence boundaries that holds text[a:b], the answer
    at a random place in it (not always the start, as a retrieved chunk would have it)."""
    if len(text) <= PASSAGE_CHARS * 1.25:
        return 0, len(text)
    starts = [s for s in boundaries(text) if s <= a and b - s <= PASSAGE_CHARS]
    lo = rng.choice(starts[-6:]) if starts else max(0, a - PASSAGE_CHARS // 2)
    hi = lo + PASSAGE_CHARS
    ends = [s for s in boundaries(text) if b <= s <= hi]
    hi = ends[-1] if ends else min(len(text), max(hi, b))
    return lo, max(hi, b)


def far_window(text: str, a: int, b: int, rng: random.Random) -> tuple[int, int] | None:
    """A passage of the same text that does not overlap the answer, or None."""
    cands = [s for s in boundaries(text) if s + PASSAGE_CHARS <= a or s >= b]
    cands = [s for s in cands if s + PASSAGE_CHARS <= len(text) or s >= b]
    if not cands:
        return None
    lo = rng.choice(cands)
    hi = min(len(text), lo + PASSAGE_CHARS)
    ends = [s for s in boundaries(text) if lo < s <= hi]
    hi = ends[-1] if ends else hi
    if lo < b and hi > a:
        return None
    return lo, hi


def build(rows: list[dict], rng: random.Random, negatives: float) -> list[dict]:
    by_title: dict[str, dict[str, set[str]]] = defaultdict(dict)  # title -> context -> its words
    for r in rows:
        by_title[r["title"]].setdefault(r["context"], words(r["context"]))
    out = []
    for r in rows:
        src = r["id"].split("/")[0]
        base = {"qid": r["id"], "source": src, "question": r["question"].strip(), "title": r["title"]}
        text = r["context"]
        answers = [(x["answer_start"], x["answer_start"] + len(x["text"])) for x in r["answers"]]
        if answers:
            a, b = answers[0]
            lo, hi = window(text, a, b, rng)
            out.append({**base, "context": text[lo:hi], "start": a - lo, "end": b - lo})
            gold = {text[x:y].lower() for x, y in answers}
            if rng.random() < negatives:  # near-miss: another passage of the title, most words shared
                q = words(r["question"])
                pool = list(by_title[r["title"]].items())
                if len(pool) > 200:  # one title holds 2,033 Reddit threads: near-misses among a sample
                    pool = rng.sample(pool, 200)
                others = [(c, w) for c, w in pool if c != text and not any(g in c.lower() for g in gold)]
                if others:
                    best = max(others, key=lambda cw: (len(q & cw[1]), rng.random()))[0]
                    lo2, hi2 = window(best, 0, 0, rng) if len(best) > PASSAGE_CHARS * 1.25 else (0, len(best))
                    out.append({**base, "context": best[lo2:hi2], "start": -1, "end": -1})
            if len(text) > PASSAGE_CHARS * 1.25 and rng.random() < negatives:
                far = far_window(text, min(x for x, _ in answers), max(y for _, y in answers), rng)
                if far and not any(g in text[far[0]:far[1]].lower() for g in gold):
                    out.append({**base, "context": text[far[0]:far[1]], "start": -1, "end": -1})
        else:
            lo, hi = window(text, 0, 0, rng) if len(text) > PASSAGE_CHARS * 1.25 else (0, len(text))
            out.append({**base, "context": text[lo:hi], "start": -1, "end": -1})
    return out


def order(examples: list[dict], rng: random.Random) -> list[dict]:
    """Shuffled, with LATE_SOURCES after the rest: a time-limited run sees the closest data first."""
    early = [e for e in examples if e["source"] not in LATE_SOURCES]
    late = [e for e in examples if e["source"] in LATE_SOURCES]
    rng.shuffle(early)
    rng.shuffle(late)
    return early + late


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default="../shared/train/qa_train.jsonl.gz")
    ap.add_argument("--out", default="training/data")
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--negatives", type=float, default=0.5,
                    help="chance of a near-miss 'no answer' example beside each answerable one")
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with gzip.open(args.data, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    per_title: dict[str, set[str]] = defaultdict(set)
    for r in rows:
        per_title[r["title"]].add(r["context"])
    # A "title" of thousands of unrelated threads (Reddit, Amazon reviews) is split by passage.
    key = {r["id"]: r["title"] if len(per_title[r["title"]]) < 500 else r["context"] for r in rows}
    train_rows = [r for r in rows if not heldout(key[r["id"]])]
    held_rows = [r for r in rows if heldout(key[r["id"]])]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for name, part in (("train", order(build(train_rows, rng, args.negatives), rng)),
                       ("heldout", build(held_rows, rng, args.negatives))):
        with open(out / f"{name}.jsonl", "w", encoding="utf-8") as f:
            for e in part:
                f.write(json.dumps(e, ensure_ascii=False) + "\n")
        neg = sum(e["start"] < 0 for e in part)
        print(f"{name}: {len(part)} examples ({neg} without an answer) from "
              f"{len({e['qid'] for e in part})} questions -> {out / f'{name}.jsonl'}")


if __name__ == "__main__":
    main()
