"""Calibrate the reader's abstention threshold on several QA sets at once.

    python bench/calibrate_abstention.py ../shared/eval/news2023 ../shared/eval/squad2 \
        ../shared/eval/seed_dev.jsonl --index /tmp/rag-calib

For each question of each set it records, once, the reader's best evidence score and whether the
answer it would give holds a gold answer; then it sweeps the threshold and prints, per set and
for the sets together, accuracy (answered and right), abstention on unanswerable questions and
false abstention on answerable ones. The pick maximises the mean over the sets that have
unanswerable questions of (accuracy + abstention) / 2, among the thresholds that keep false
abstention at or under --max-false-abstention (0.05) on each of those sets and at 0 on seed_dev;
set it as `abstain_threshold` in rag/config.py. Each set gets its own index folder under --index.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import Assistant
from rag.evaluation import contains, load_qa_set
from rag.followups import standalone_question


def scores(path: Path, index: Path, seeds: Path) -> tuple[str, list[tuple[float, bool, bool]]]:
    """(set name, [(best score, unanswerable, right answer)]) for one QA set."""
    qa = load_qa_set(path, seed_dir=seeds)
    folder = index / qa.name
    assistant = Assistant(index_dir=folder, llm="none")
    assistant.ingest(qa.corpus_paths(folder))
    rows = []
    for item in qa.items:
        history: list[tuple[str, str]] = []
        for q in item.turns[:-1]:
            history.append((q, assistant.ask(q, history).text))
        query = standalone_question(item.question, history)
        reader = assistant.reader(history, threshold=-10.0)
        passages = assistant.retrieve(query)
        ranked = reader.rank(query, passages)
        answer = reader.select(ranked, passages)
        best = ranked[0].score if ranked else -10.0
        if history and ranked and ranked[0].text in history[-1][1]:
            best = max(best, 1.0)  # a follow-up on the established topic is not held to the threshold
        right = bool(item.answers) and all(any(contains(answer.text, a) for a in g) for g in item.answers)
        rows.append((best, item.abstain, right))
    return qa.name, rows


def rates(rows: list[tuple[float, bool, bool]], t: float) -> dict:
    answerable = [r for r in rows if not r[1]]
    unanswerable = [r for r in rows if r[1]]
    acc = sum(r[2] and r[0] >= t for r in answerable) / max(len(answerable), 1)
    abst = sum(r[0] < t for r in unanswerable) / len(unanswerable) if unanswerable else None
    false = sum(r[0] < t for r in answerable) / max(len(answerable), 1)
    return {"accuracy": acc, "abstention": abst, "false_abstention": false}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("qa_sets", type=Path, nargs="+")
    ap.add_argument("--index", type=Path, default=Path("/tmp/rag-calibrate"))
    ap.add_argument("--seeds", type=Path, default=Path("seeds"))
    ap.add_argument("--max-false-abstention", type=float, default=0.05)
    args = ap.parse_args()

    sets = dict(scores(p, args.index, args.seeds) for p in args.qa_sets)
    for name, rows in sets.items():
        answerable = [r for r in rows if not r[1]]
        print(f"{name}: {len(answerable)} answerable, {len(rows) - len(answerable)} unanswerable; accuracy ceiling "
              f"(never abstain): {sum(r[2] for r in answerable) / max(len(answerable), 1):.3f}")
    header = "threshold " + " ".join(f"{n[:10]:>10}.acc {n[:10]:>10}.abs {n[:10]:>10}.fab" for n in sets)
    print(header)
    best_t, best_mean = None, -1.0
    for i in range(-20, 91):
        t = i / 100
        per = {n: rates(rows, t) for n, rows in sets.items()}
        seed_ok = all(per[n]["false_abstention"] == 0 for n in per if "seed" in n) and all(
            r["false_abstention"] <= args.max_false_abstention for r in per.values() if r["abstention"] is not None)
        goals = [(r["accuracy"] + r["abstention"]) / 2 for r in per.values() if r["abstention"] is not None]
        mean = sum(goals) / max(len(goals), 1)
        if seed_ok and mean > best_mean:
            best_t, best_mean = t, mean
        if i % 2 == 0:
            cells = " ".join(f"{r['accuracy']:14.3f} {r['abstention'] if r['abstention'] is not None else float('nan'):14.3f} "
                             f"{r['false_abstention']:14.3f}" for r in per.values())
            print(f"{t:9.2f} {cells}")
    print(json.dumps({"best_threshold": best_t, "mean_of_accuracy_and_abstention": round(best_mean, 3),
                      "at_best": {n: {k: (round(v, 3) if v is not None else None) for k, v in rates(rows, best_t).items()}
                                  for n, rows in sets.items()} if best_t is not None else None}))


if __name__ == "__main__":
    main()
