"""How long `Assistant.summarize` takes on a long PDF, extractively (RAG_LLM=none): issue 13 asks
for a 50-page PDF within 30 s on 2 cores.

    python bench/summarize_pdf.py --pages 50

Builds a PDF of `--pages` pages (a running header, a page-number footer, 30 lines of varied
prose a page) with reportlab, indexes it into a temporary index, loads the model, then times
`summarize` `--repeats` times and prints the figures as JSON. Ingestion and model loading are
not in the figure: a summary is asked of a document already indexed.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

SUBJECTS = ["The harbour authority", "The city council", "The northern water board", "The transport office",
            "The school district", "The regional hospital", "The housing agency", "The parks department"]
VERBS = ["reported", "approved", "delayed", "reviewed", "cancelled", "funded", "inspected", "planned"]
OBJECTS = ["a new pumping station", "repairs to the old bridge", "longer opening hours", "a cycle path by the river",
           "the replacement of lead pipes", "a study of flood risk", "more buses at night", "a second ferry pier"]


def build(path: Path, pages: int) -> Path:
    from support import make_report_pdf

    bodies = []
    for page in range(pages):
        lines = []
        for line in range(30):
            k = page * 30 + line
            lines.append(f"{SUBJECTS[k % 8]} {VERBS[(k // 8) % 8]} {OBJECTS[(k // 64) % 8]} "
                         f"at a cost of {(k * 37) % 900 + 100} thousand euros in week {k % 52 + 1} of the year.")
        bodies.append(lines)
    return make_report_pdf(path, bodies, "Regional Services - Quarterly Digest")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()

    from rag import Assistant

    with tempfile.TemporaryDirectory() as tmp:
        pdf = build(Path(tmp) / "digest.pdf", args.pages)
        assistant = Assistant(index_dir=Path(tmp) / "index", llm="none")
        assistant.ingest([pdf])
        assistant.embedder.encode(["warm up"])
        times, answer = [], None
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            answer = assistant.summarize(str(pdf))
            times.append(time.perf_counter() - t0)
    print(json.dumps({"pages": args.pages, "sentences_cited": len(answer.sentences),
                      "summarize_s": [round(t, 2) for t in times], "median_s": round(statistics.median(times), 2)},
                     indent=2))


if __name__ == "__main__":
    main()
