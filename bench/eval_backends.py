"""Every dev set with every answer backend: the table behind the default backend choice.

    python bench/eval_backends.py --index /tmp/rag-evals --backends none local --limit 60 \
        ../shared/eval/seed_dev.jsonl ../shared/eval/news2023 ../shared/eval/squad2 ../shared/eval/hotpotqa

For each set it ingests the corpus once (one index per set under --index), then runs `rag eval`'s
`run_eval` with each backend and prints one markdown row per (set, backend): accuracy, false
abstention, abstention, the share of answers holding a model-written sentence, latency p50/p95.
`--limit N` takes the first N questions of a set (the LLM costs seconds per question); the
unanswerable questions of a set are kept in proportion because `run_eval` takes them in file order.
Results go to bench/results/eval-backends.json. Measure latency on an idle machine.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import Assistant
from rag.evaluation import load_qa_set, run_eval


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("qa_sets", type=Path, nargs="+")
    ap.add_argument("--index", type=Path, default=Path("/tmp/rag-evals"))
    ap.add_argument("--backends", nargs="+", default=["none", "local"])
    ap.add_argument("--limit", type=int)
    ap.add_argument("--out", type=Path, default=Path("bench/results/eval-backends.json"))
    args = ap.parse_args()

    rows = []
    print("| set | backend | questions | accuracy | false abstention | abstention | model sentences shown "
          "| latency p50 / p95 |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.qa_sets:
        qa = load_qa_set(path, seed_dir=Path("seeds"))
        folder = args.index / qa.name
        Assistant(index_dir=folder, llm="none").ingest(qa.corpus_paths(folder))
        for backend in args.backends:
            result = run_eval(Assistant(index_dir=folder, llm=backend), qa, limit=args.limit).to_dict()
            result["backend"] = backend
            rows.append(result)
            shown = result["llm_sentence_answers"]
            print(f"| {qa.name} | {backend} | {result['questions']} | {result['accuracy']} | "
                  f"{result['false_abstention']} | {result['abstention_accuracy']} | "
                  f"{shown if shown is not None else '–'} | {result['latency_ms_p50']:.0f} / "
                  f"{result['latency_ms_p95']:.0f} ms |", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
