"""Where warm retrieval time goes on an existing index: query embedding, the Chroma dense query,
BM25, and fetching the text of the top lexical hits (as `retrieve` does for those dense search
missed), each timed alone, then the whole `retrieve`.
300 SQuAD and HotpotQA questions after five warm-up asks.

    python bench/retrieve_stages.py INDEX_DIR
"""

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_ingest_query import CHUNK_OVERLAP, CHUNK_SIZE, _percentiles, hotpot_texts, squad_texts  # noqa: E402

from rag import Assistant  # noqa: E402


def main(index: str) -> None:
    a = Assistant(index_dir=index, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    questions = (squad_texts()[1] + hotpot_texts()[1])[:300]
    for q in questions[:5]:
        a.ask(q)
    store, n = a.store, a.search.candidates
    ms: dict[str, list[float]] = {k: [] for k in ("embed", "dense", "bm25", "fetch", "retrieve")}
    for q in questions:
        t0 = time.perf_counter()
        vector = a.embedder.embed_query(q)
        t1 = time.perf_counter()
        store.dense_search(vector, n)
        t2 = time.perf_counter()
        lexical = store.lexical().search(q, n, None)
        t3 = time.perf_counter()
        store.get_chunks([cid for cid, _ in lexical[:4]])
        t4 = time.perf_counter()
        a.retrieve(q, k=4)
        t5 = time.perf_counter()
        for key, dt in zip(ms, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4)):
            ms[key].append(dt * 1000)
    for key, values in ms.items():
        got = _percentiles(values)
        print(f"{key:9s} p50 {got['p50_ms']:6.2f} ms   p95 {got['p95_ms']:6.2f} ms")


if __name__ == "__main__":
    main(sys.argv[1])
