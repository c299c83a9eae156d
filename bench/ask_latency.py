"""Time Assistant.ask on an existing index, in-process: p50/p95 over N questions (after 5 warm-up asks).

    python bench/ask_latency.py INDEX QA_SET N
    python bench/ask_latency.py /tmp/ev/calidx/squad2 ../shared/eval/squad2 150
"""
import sys, time, statistics, json
from rag import Assistant
from rag.evaluation import load_qa_set
idx, qset, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
a = Assistant(index_dir=idx, llm="none")
qs = [it.question for it in load_qa_set(qset).items][:n]
for q in qs[:5]: a.ask(q)
t = []
for q in qs:
    t0 = time.perf_counter(); a.ask(q); t.append((time.perf_counter() - t0) * 1000)
t.sort()
print(json.dumps({"n": len(t), "p50_ms": round(statistics.median(t), 1), "p95_ms": round(t[int(0.95 * len(t)) - 1], 1)}))
