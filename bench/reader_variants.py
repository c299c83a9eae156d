"""The reader's variants side by side on the dev sets: rules alone, the reader model alone, and the
model's margin added to the rules' score. The table behind `Settings.reader_*` (BENCHMARKS.md,
"rag's reader model").

    python bench/reader_variants.py dump --model rag/reader/model --index /tmp/ev \\
        ../shared/eval/news2023 ../shared/eval/squad2 ../shared/eval/hotpotqa --out /tmp/variants.json
    python bench/reader_variants.py report /tmp/variants.json
    python bench/reader_variants.py sweep /tmp/variants.json --variant "fused 0.5"
    python bench/reader_variants.py sweep /tmp/variants.json --by veto --lo -600 --hi 0 --step 100

`dump` reads each set's index (one per set under --index, as bench/eval_backends.py builds them),
retrieves the passages `rag ask` would, and records every candidate sentence with the rules' score,
the model's margin and span, and whether each holds a gold answer. `report` prints, per variant and
set: the share of answerable questions whose first-ranked sentence holds the answer, the share
whose lead span does (for the fused variants, the span rag leads with), and the answerability AUC
(answerable vs unanswerable questions, by the best score). `sweep` reads abstention thresholds off
the same dump, on the sets' abstention questions, as the issue allows; the accuracy of a chosen
setting is then measured with `rag eval`.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

VARIANTS = {"rules": None, "model": "model", "fused 0.25": 0.25, "fused 0.5": 0.5, "fused 1.0": 1.0}


def dump(args) -> None:
    from rag import Assistant
    from rag.evaluation import contains, load_qa_set
    from rag.reader.model import ReaderModel

    model = ReaderModel(Path(args.model))
    rows = []
    for path in args.qa_sets:
        qa = load_qa_set(path, seed_dir=Path("seeds"))
        a = Assistant(index_dir=args.index / qa.name, llm="none")
        items = [i for i in qa.items if len(i.turns) == 1][:args.limit]
        for item in items:
            passages = a.retrieve(item.question, k=a.settings.top_k)
            reader = a.reader()
            reader.model = None
            rule_spans = {(e.source, e.start): e.answer for e in reader.rank(item.question, passages)}
            reader.model, reader.model_weight = model, 0.0  # the rules' scores, the model's readings beside them
            ranked = reader.rank(item.question, passages)

            def gold(text: str) -> bool:
                return bool(text) and all(any(contains(text, x) for x in g) for g in item.answers)

            cands = []
            for e in ranked[:60]:
                mspan = e.text[e.reader.start - e.start:e.reader.end - e.start] if e.reader else ""
                cands.append({"score": round(e.score, 4), "margin": round(e.reader.margin, 3) if e.reader else None,
                              "gold": gold(e.text), "rule_span": rule_spans.get((e.source, e.start), ""),
                              "rule_gold": gold(rule_spans.get((e.source, e.start), "")),
                              "model_span": mspan, "model_gold": gold(mspan),
                              "lead_span": e.answer, "lead_gold": gold(e.answer), "text": e.text[:300]})
            rows.append({"set": qa.name, "q": item.question, "abstain": item.abstain, "kind": reader.question.kind,
                         "cands": cands})
        print(f"{qa.name}: {len(items)} questions", flush=True)
    Path(args.out).write_text(json.dumps(rows))


def key(variant, c: dict) -> float:
    w = VARIANTS[variant]
    if w is None:
        return c["score"]
    term = max(-1.0, min(1.0, (c["margin"] or -10) / 10))
    if w == "model":  # the rules only as hard filters (a broken constraint, a fragment: score < -0.5)
        return term - (2.0 if c["score"] < -0.5 else 0.0)
    return c["score"] + w * term


def auc(pos: list[float], neg: list[float]) -> float | None:
    if not pos or not neg:
        return None
    wins = sum((p > n) + 0.5 * (p == n) for p in pos for n in neg)
    return wins / (len(pos) * len(neg))


def report(args) -> None:
    rows = json.loads(Path(args.dump).read_text())
    sets = list(dict.fromkeys(r["set"] for r in rows))
    print("| variant | set | first sentence holds the answer | lead span holds it | lead (span or sentence) "
          "| answerability AUC |")
    print("|---|---|---|---|---|---|")
    for variant in VARIANTS:
        for name in sets:
            part = [r for r in rows if r["set"] == name and r["cands"]]
            ans = [r for r in part if not r["abstain"]]
            first = lead = lead_any = 0
            best_pos, best_neg = [], []
            for r in part:
                top = max(r["cands"], key=lambda c: key(variant, c))
                (best_neg if r["abstain"] else best_pos).append(key(variant, top))
                if r["abstain"]:
                    continue
                first += top["gold"]
                field = {"rules": "rule", "model": "model"}.get(variant, "lead")  # fused: the span rag leads with
                span, span_gold = top[f"{field}_span"], top[f"{field}_gold"]
                lead += span_gold
                lead_any += span_gold if span else top["gold"]
            n = max(len(ans), 1)
            a = auc(best_pos, best_neg)
            print(f"| {variant} | {name} | {first / n:.3f} | {lead / n:.3f} | {lead_any / n:.3f} | "
                  f"{'–' if a is None else f'{a:.3f}'} |")


def signal(args, cands: list[dict]) -> float:
    """What abstention reads: the best score of `--variant`, or (`--by margin`) the model's margin
    on the sentence that variant ranks first, or (`--by veto`) the best margin among the sentences
    where the rules' best score reaches `--rule-threshold` (the rules abstain, and the margin may
    veto an answer they would give)."""
    if not cands:
        return -9.0
    if args.by == "veto":
        margins = [c["margin"] for c in cands if c["margin"] is not None]
        rules_answer = max(c["score"] for c in cands) >= args.rule_threshold
        return max(margins, default=-20.0) if rules_answer else float("-inf")
    top = max(cands, key=lambda c: key(args.variant, c))
    return key(args.variant, top) if args.by == "score" else (top["margin"] if top["margin"] is not None else -9.0)


def sweep(args) -> None:
    """Abstention by the best fused score (variant `--variant`) or its sentence's margin: per
    threshold and set, the share of unanswerable questions abstained on and of answerable ones
    wrongly abstained on."""
    rows = json.loads(Path(args.dump).read_text())
    sets = list(dict.fromkeys(r["set"] for r in rows))
    print("| threshold | " + " | ".join(f"{n} abstention / false abstention" for n in sets) + " |")
    print("|---" * (len(sets) + 1) + "|")
    for t in [x / 100 for x in range(args.lo, args.hi + 1, args.step)]:
        cells = []
        for name in sets:
            part = [r for r in rows if r["set"] == name]
            best = [(r["abstain"], signal(args, r["cands"])) for r in part]
            un = [b for a, b in best if a]
            an = [b for a, b in best if not a]
            ab = sum(b < t for b in un) / len(un) if un else float("nan")
            fa = sum(b < t for b in an) / len(an) if an else float("nan")
            cells.append(f"{ab:.3f} / {fa:.3f}")
        print(f"| {t:.2f} | " + " | ".join(cells) + " |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    d = sub.add_parser("dump")
    d.add_argument("qa_sets", type=Path, nargs="+")
    d.add_argument("--model", default="rag/reader/model")
    d.add_argument("--index", type=Path, default=Path("/tmp/rag-evals"))
    d.add_argument("--limit", type=int)
    d.add_argument("--out", default="/tmp/reader-variants.json")
    r = sub.add_parser("report")
    r.add_argument("dump")
    w = sub.add_parser("sweep")
    w.add_argument("dump")
    w.add_argument("--variant", default="fused 0.5", choices=list(VARIANTS))
    w.add_argument("--by", choices=["score", "margin", "veto"], default="score")
    w.add_argument("--rule-threshold", type=float, default=0.48, help="with --by veto: RAG_ABSTAIN_THRESHOLD")
    w.add_argument("--lo", type=int, default=20, help="lowest threshold, in hundredths")
    w.add_argument("--hi", type=int, default=70)
    w.add_argument("--step", type=int, default=2)
    args = ap.parse_args()
    {"dump": dump, "report": report, "sweep": sweep}[args.cmd](args)


if __name__ == "__main__":
    main()
