"""`rag watch`: time from a file's save to its new content in the index, and the watcher's CPU
while idle on a tree of files.

    python bench/watch_latency.py [--files 1000] [--saves 20] [--idle-s 65]

Builds a tree of small files in a temporary folder, starts `rag watch --json` on it, waits for
the first sync, measures the watcher's CPU time (from /proc) over `--idle-s` seconds of nothing
changing, then saves `--saves` files one at a time (half new, half edits) and times each from
the write to the document record carrying the new content hash.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1000)
    ap.add_argument("--saves", type=int, default=20)
    ap.add_argument("--idle-s", type=float, default=65.0)  # includes one full rescan (60 s)
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rag-watch-bench-"))
    tree, index = work / "tree", work / "index"
    for i in range(args.files):
        path = tree / f"d{i % 50:02d}" / f"note{i:05d}.txt"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"Note {i}: the keeper of lock {i} logged {i * 3} barges on the canal.")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(RAG_LLM="none", HF_HUB_OFFLINE="1", PYTHONPATH=str(REPO))
    log = open(work / "watch.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "watch", str(tree), "--index", str(index), "--json"],
                            stdout=log, stderr=subprocess.STDOUT, env=env)
    # The index is read as a reader does (`rag serve` beside `rag watch`): rag's own Store, which
    # takes the folder lock for each read and reopens only after a write. (Opening the folder
    # afresh and reading all 10,000 records every 50 ms held the lock long enough to triple the
    # watcher's latency.)
    from rag.config import load_settings
    from rag.store import Store

    reader = Store(load_settings(index_dir=index, llm="none"))

    def indexed_hash(path: Path) -> str:
        doc = reader.document(str(path))
        return doc.content_hash if doc else ""

    try:
        t0 = time.monotonic()
        while len(reader.hashes()) < args.files:
            time.sleep(0.5)
        print(f"first sync of {args.files} files: {time.monotonic() - t0:.1f} s (including model load)")
        time.sleep(2)
        before = cpu_seconds(proc.pid)
        time.sleep(args.idle_s)
        idle = (cpu_seconds(proc.pid) - before) / args.idle_s
        print(f"idle CPU over {args.idle_s:.0f} s: {idle * 100:.2f}% of one core")
        delays = []
        for n in range(args.saves):
            path = tree / "d00" / (f"new{n:03d}.txt" if n % 2 == 0 else f"note{n * 50:05d}.txt")
            text = f"Save {n}: the lock keeper changed entry {n} at {time.time()}."
            written = time.monotonic()
            path.write_text(text)
            digest = hashlib.sha256(text.encode()).hexdigest()
            while indexed_hash(path) != digest:
                time.sleep(0.05)
            delays.append(time.monotonic() - written)
            time.sleep(0.5)
        delays.sort()
        print(f"save to indexed, {args.saves} saves: p50 {statistics.median(delays):.2f} s, "
              f"p95 {delays[max(int(0.95 * len(delays)) - 1, 0)]:.2f} s, max {delays[-1]:.2f} s")
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
