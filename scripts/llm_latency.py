"""Warm ask latency (p50) and time to the first verified piece on the seed corpus.

Usage: PYTHONPATH=$PWD python scripts/llm_latency.py BACKEND [INDEX_DIR]
"""
import statistics, sys, time
from rag import Assistant
a = Assistant(index_dir=sys.argv[2] if len(sys.argv) > 2 else "/tmp/llm-eval-seed", llm=sys.argv[1])
a.ensure_seeded()
qs = ["who is Ismail Shukri?", "Why are IS commanders moving to Libya?", "What has Sirte seen an influx of?",
      "What did Kerry say about IS in Libya on 2 February?", "Why are foreign countries unwilling to intervene in Libya?",
      "What is Daesh playing a game of, according to Kerry?"]
a.ask(qs[0], [])  # warm: model loaded, index open
total, first = [], []
for q in qs:
    t0 = time.perf_counter(); ft = None
    for piece in a.stream(q, []):
        if ft is None:
            ft = time.perf_counter() - t0
    total.append(time.perf_counter() - t0); first.append(ft)
print(f"{sys.argv[1]}: ask p50 {statistics.median(total)*1000:.0f} ms (max {max(total)*1000:.0f}), "
      f"first piece p50 {statistics.median(first)*1000:.0f} ms (max {max(first)*1000:.0f}), n={len(qs)}")
