"""Calibrate the extractive answerer's abstention threshold on a QA set with unanswerable questions.

    python bench/calibrate_abstention.py ../shared/eval/squad2 --index /tmp/rag-calib

For each question it records the best evidence score once, then sweeps the threshold and prints,
for each value, answer accuracy on answerable questions (the chosen sentence holds a gold answer
and the answerer did not abstain) and abstention accuracy on unanswerable ones. Pick the value
that balances the two and set it as `abstain_threshold` in rag/config.py.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rag import Assistant
from rag.answering import ExtractiveAnswerer
from rag.evaluation import contains, load_qa_set


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("qa_set", type=Path)
    ap.add_argument("--index", type=Path, default=Path("/tmp/rag-calibrate"))
    ap.add_argument("--limit", type=int)
    ap.add_argument("--similarity-weight", type=float, default=None)
    args = ap.parse_args()

    qa = load_qa_set(args.qa_set)
    assistant = Assistant(index_dir=args.index, llm="none")
    assistant.ingest(qa.corpus_paths(args.index))
    s = assistant.settings
    answerer = ExtractiveAnswerer(assistant.embedder, assistant.store.lexical().idf, 0.0, s.max_answer_sentences,
                                  **({"similarity_weight": args.similarity_weight} if args.similarity_weight else {}))
    rows = []
    for item in qa.items[: args.limit] if args.limit else qa.items:
        answer = answerer.answer(item.question, assistant.retrieve(item.question))
        best = max((c.score for c in answer.citations), default=0.0)
        right = any(contains(answer.text, a) for g in item.answers for a in g) if item.answers else False
        rows.append((best, item.abstain, right))

    answerable = [r for r in rows if not r[1]]
    unanswerable = [r for r in rows if r[1]]
    print(f"{len(answerable)} answerable, {len(unanswerable)} unanswerable; "
          f"accuracy ceiling (never abstain): {sum(r[2] for r in answerable) / max(len(answerable), 1):.3f}")
    print("threshold  accuracy  abstention  mean")
    best_t, best_mean = 0.0, -1.0
    for i in range(20, 81):
        t = i / 100
        acc = sum(r[2] and r[0] >= t for r in answerable) / max(len(answerable), 1)
        abst = sum(r[0] < t for r in unanswerable) / max(len(unanswerable), 1)
        if (acc + abst) / 2 > best_mean:
            best_t, best_mean = t, (acc + abst) / 2
        if i % 2 == 0:
            print(f"{t:9.2f}  {acc:8.3f}  {abst:10.3f}  {(acc + abst) / 2:.3f}")
    print(json.dumps({"best_threshold": best_t, "mean_of_accuracy_and_abstention": round(best_mean, 3)}))


if __name__ == "__main__":
    main()
