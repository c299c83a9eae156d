"""Load test: N concurrent clients ask questions of a real `rag serve` on 127.0.0.1 for D seconds
while another process ingests new documents into the same index; then a burst of more clients
than the server queues. Reports errors, p50/p95 latency, throughput, 503 refusals, and whether the
index is whole afterwards (nothing lost).

    python bench/load_test.py --duration 60 --clients 32          # the BENCHMARKS.md run
    python bench/load_test.py --duration 8 --clients 8 --docs 10  # the smoke run in tests/e2e
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
QUESTIONS = ["who is Ismail Shukri?", "Where are Isis commanders taking refuge?", "What is Misrata?",
             "Which ledger records shipment 12?", "What does the harbour ledger say about copper?",
             "What did the intelligence official tell BBC Newsnight?", "Who views Libya as a safe haven?"]


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _corpus(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"ledger{i}.txt").write_text("\n\n".join(
            f"The harbour ledger {i} records shipment {j} of copper and tin, weighed at the east quay."
            for j in range(30)))
    return folder


async def _client(http: httpx.AsyncClient, until: float, stats: dict, rng: random.Random) -> None:
    while time.monotonic() < until:
        t0 = time.monotonic()
        try:
            r = await http.post("/api/ask", json={"question": rng.choice(QUESTIONS)})
        except httpx.HTTPError as e:
            stats["errors"].append(f"{e.__class__.__name__}: {e}")
            continue
        dt = time.monotonic() - t0
        if r.status_code == 200:
            stats["latency"].append(dt)
        elif r.status_code == 503 and r.headers.get("retry-after"):
            stats["refused"] += 1
            await asyncio.sleep(float(r.headers["retry-after"]))
        else:
            stats["errors"].append(f"{r.status_code}: {r.text[:200]}")


async def _phase(url: str, clients: int, seconds: float, timeout: float) -> dict:
    stats = {"latency": [], "errors": [], "refused": 0}
    until = time.monotonic() + seconds
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=timeout, limits=limits) as http:
        t0 = time.monotonic()
        await asyncio.gather(*(_client(http, until, stats, random.Random(i)) for i in range(clients)))
        elapsed = time.monotonic() - t0
    lat = sorted(stats["latency"])
    q = statistics.quantiles(lat, n=20) if len(lat) >= 2 else [float("nan")] * 19
    return {"clients": clients, "seconds": round(elapsed, 1), "answered": len(lat), "refused_503": stats["refused"],
            "errors": len(stats["errors"]), "error_samples": stats["errors"][:5],
            "throughput_qps": round(len(lat) / elapsed, 2), "p50_s": round(statistics.median(lat), 3) if lat else None,
            "p95_s": round(q[18], 3) if lat else None, "max_s": round(lat[-1], 3) if lat else None}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=float, default=60)
    ap.add_argument("--clients", type=int, default=32)
    ap.add_argument("--docs", type=int, default=60, help="documents the concurrent ingest adds")
    ap.add_argument("--burst", type=int, default=96, help="clients in the over-capacity burst (0: none)")
    ap.add_argument("--burst-seconds", type=float, default=5)
    ap.add_argument("--llm", default="none")
    ap.add_argument("--timeout", type=float, default=120, help="client timeout: a request longer than this hangs")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="rag-load-"))
    shutil.copytree(REPO / "seeds", work / "seeds")
    index, port = work / "index", _free_port()
    url = f"http://127.0.0.1:{port}"
    log = open(work / "server.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(index), "--port", str(port),
                               "--llm", args.llm], env=_env(RAG_SEED_DIR=str(work / "seeds")), stdout=log,
                              stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=2).json().get("ready"):
                    break
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                print((work / "server.log").read_text(), file=sys.stderr)
                return 2
            time.sleep(0.3)

        corpus = _corpus(work / "ledgers", args.docs)
        ingest = subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", "--index", str(index), str(corpus)],
                                  env=_env(RAG_SEED_DIR=str(work / "seeds")), stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT)
        load = asyncio.run(_phase(url, args.clients, args.duration, args.timeout))
        ingest_out = ingest.communicate(timeout=600)[0].decode(errors="replace")
        load["ingest_exit"] = ingest.returncode
        burst = asyncio.run(_phase(url, args.burst, args.burst_seconds, args.timeout)) if args.burst else None

        # Nothing lost: every document is listed, and the index is whole (dense == lexical == manifest).
        docs = httpx.get(f"{url}/api/documents", timeout=60).json()
        sys.path.insert(0, str(REPO / "tests"))
        from reliability_support import check_index_is_whole

        check_index_is_whole(index, "harbour ledger copper")
        whole = True
        expected = args.docs + len(list((work / "seeds").iterdir()))
        result = {"load": load, "burst": burst, "documents": len(docs), "documents_expected": expected,
                  "index_whole": whole, "llm": args.llm, "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
                  f"{platform.system()} {platform.release()}, Python {platform.python_version()}"}
        print(json.dumps(result, indent=2))
        ok = (load["errors"] == 0 and (burst is None or burst["errors"] == 0) and load["ingest_exit"] == 0
              and len(docs) == expected)
        if not ok:
            print(ingest_out[-2000:], file=sys.stderr)
        return 0 if ok else 1
    finally:
        os.killpg(server.pid, signal.SIGINT)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
