"""Warm retrieval latency on an existing index: 100 HotpotQA questions, after two warm-up queries.

    python bench/retrieve_latency.py INDEX_DIR
"""
import sys, time, statistics, json
from rag import Assistant
idx = sys.argv[1]
a = Assistant(index_dir=idx)
from pathlib import Path

HOTPOT = Path(__file__).resolve().parents[1].parent / "shared" / "eval" / "hotpotqa" / "qa_one-turn_data.json"
qs = [json.loads(line)["question"] for line in HOTPOT.open()][:100]
a.retrieve("warm up"); a.retrieve("warm up again")
lat = []
for q in qs:
    t = time.perf_counter(); a.retrieve(q); lat.append((time.perf_counter() - t) * 1000)
lat.sort()
print(f"retrieve p50 {statistics.median(lat):.1f} ms  p95 {lat[94]:.1f} ms  max {lat[-1]:.1f} ms")
