"""One process of the shared-index stress test (tests/test_concurrent_access.py): a writer that
keeps adding, replacing and removing documents through rag's Store, as `rag ingest` and `rag
watch` do, or a reader that keeps opening the same local index and searching it, as each `rag
ask` (a new process) or a running `rag serve` does.

    python tests/index_stress.py writer INDEX SECONDS
    python tests/index_stress.py reader INDEX SECONDS [--fresh]

Vectors are random (384 dimensions, the embedding model's): the model plays no part in how
processes share the folder and would only slow the writer down. Prints one line of JSON: what
this process did.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import time
from pathlib import Path

import numpy as np

from rag.config import Settings
from rag.ingest import dirty_marker, ingest_lock
from rag.store import Store
from rag.types import Chunk, Document

DOCUMENTS = 2000  # distinct sources the writer picks from
CHUNKS = 8  # per document
DIM = 384


def document(number: int, version: int) -> tuple[Document, list[Chunk]]:
    text = " ".join(f"Ledger {number} entry {j} version {version} notes cargo {(number * 7 + j + version) % 97}."
                    for j in range(40))
    digest = hashlib.sha256(text.encode()).hexdigest()
    doc = Document(source=f"/stress/ledger{number}.txt", text=text, title=f"ledger {number}", content_hash=digest)
    step = len(text) // CHUNKS
    return doc, [Chunk(id=f"{digest[:16]}-{k}", source=doc.source, title=doc.title, text=text[k * step:(k + 1) * step],
                       start=k * step, end=(k + 1) * step, content_hash=digest) for k in range(CHUNKS)]


def write(index: Path, seconds: float, rng: np.random.Generator) -> dict:
    """Batches of up to 100 documents (~800 chunks: Chroma saves its vector index every 1,000
    changes, so about once a batch), then a few removals, under the ingest lock like an ingest."""
    store = Store(Settings(index_dir=index))
    rounds = chunks = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        with ingest_lock(index, False, wait=True):
            dirty_marker(index).write_text("stress")
            items = list({d.source: (d, c) for d, c in (document(random.randrange(DOCUMENTS), rounds)
                                                        for _ in range(random.randint(20, 100)))}.values())
            vectors = rng.standard_normal((sum(len(c) for _, c in items), DIM)).astype(np.float32)
            store.put_many(items, vectors)
            for _ in range(random.randint(0, 5)):
                store.remove(f"/stress/ledger{random.randrange(DOCUMENTS)}.txt")
            dirty_marker(index).unlink()
        rounds += 1
        chunks += len(vectors)
    store.lexical(force_check=True)
    return {"rounds": rounds, "chunks": chunks}


def read(index: Path, seconds: float, rng: np.random.Generator, fresh: bool) -> dict:
    """Dense searches and manifest reads; `fresh`: the index opened anew for each, as a new
    process does, else one Store kept open that looks for other processes' writes each time."""
    settings = Settings(index_dir=index)
    store = Store(settings)
    searches = found = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if fresh:
            store = Store(settings)
        else:
            store.refresh()
        found += len(store.dense_search(rng.standard_normal(DIM).astype(np.float32), 10))
        store.sources()
        searches += 1
    return {"searches": searches, "found": found}


def main() -> None:
    role, index, seconds = sys.argv[1], Path(sys.argv[2]), float(sys.argv[3])
    rng = np.random.default_rng()
    if role == "writer":
        done = write(index, seconds, rng)
    else:
        done = read(index, seconds, rng, fresh="--fresh" in sys.argv)
    print(json.dumps(done), flush=True)


if __name__ == "__main__":
    main()
