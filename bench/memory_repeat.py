"""Resident memory while one process answers the same questions over and over.

    python bench/memory_repeat.py INDEX_DIR [N]

Asks N (default 10,000) extractive questions, cycling through 50 HotpotQA questions, and prints
the RSS (from /proc/self/status) every 1,000 questions.
"""

import json
import sys
import time
from pathlib import Path

from rag import Assistant

HOTPOT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "hotpotqa" / "qa_one-turn_data.json"


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    assistant = Assistant(index_dir=sys.argv[1], llm="none")
    n = int(sys.argv[2]) if len(sys.argv) > 2 else 10_000
    questions = [json.loads(line)["question"] for line in HOTPOT.open()][:50]
    t0 = time.perf_counter()
    for i in range(n):
        assistant.ask(questions[i % len(questions)])
        if (i + 1) % 1000 == 0 or i == 0:
            print(f"{i + 1:>6} questions  RSS {rss_mb():7.1f} MB  {time.perf_counter() - t0:6.0f} s", flush=True)


if __name__ == "__main__":
    main()
