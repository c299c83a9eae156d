"""Warm query latency on an existing index: 100 HotpotQA questions, retrieval only and then
extractive `ask`, each after two warm-up calls.

    python bench/retrieve_latency.py INDEX_DIR
"""

import json
import statistics
import sys
import time
from pathlib import Path

from rag import Assistant

HOTPOT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "hotpotqa" / "qa_one-turn_data.json"


def measure(fn, questions: list[str]) -> str:
    fn("warm up")
    fn("warm up again")
    lat = []
    for q in questions:
        t = time.perf_counter()
        fn(q)
        lat.append((time.perf_counter() - t) * 1000)
    lat.sort()
    return f"p50 {statistics.median(lat):.1f} ms  p95 {lat[int(0.95 * len(lat)) - 1]:.1f} ms  max {lat[-1]:.1f} ms"


def main() -> None:
    assistant = Assistant(index_dir=sys.argv[1], llm="none")
    questions = [json.loads(line)["question"] for line in HOTPOT.open()][:100]
    print("retrieve", measure(assistant.retrieve, questions))
    print("ask     ", measure(assistant.ask, questions))


if __name__ == "__main__":
    main()
