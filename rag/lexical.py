"""The BM25 lexical index (bm25s) over every chunk, and its atomic save to a folder: readers see
the old index, the new one or none (and rebuild), never half of one. It is a cache: `Store`
builds it from Chroma's chunks and decides when it is stale; nothing here reads Chroma.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from pathlib import Path

from .faults import reached
from .proc import alive
from .text import tokenize


class LexicalIndex:
    """BM25 (bm25s) over every chunk, with the chunk ids and sources in corpus order."""

    def __init__(self, ids: list[str], sources: list[str], tokens: list[list[str]], stamp: str):
        import bm25s
        import numpy as np

        self.ids = ids
        self.sources = np.array(sources, dtype=object)
        self.stamp = stamp
        self.retriever = bm25s.BM25()
        self.doc_freq: dict[str, int] = {}
        for toks in tokens:
            for t in set(toks):
                self.doc_freq[t] = self.doc_freq.get(t, 0) + 1
        # bm25s cannot index a corpus without a single token (say, chunks of only punctuation)
        self.indexed = any(tokens)
        if self.indexed:
            self.retriever.index(tokens, show_progress=False)

    def idf(self, term: str) -> float:
        import math

        n = max(len(self.ids), 1)
        df = self.doc_freq.get(term, 0)
        return math.log(1 + (n - df + 0.5) / (df + 0.5))

    def search(self, query: str, n: int, source: str | None = None) -> list[tuple[str, float]]:
        import numpy as np

        vocab = getattr(self.retriever, "vocab_dict", None) or {}
        q = [t for t in tokenize(query) if t in vocab]
        if not q or not self.indexed:
            return []
        mask = None
        if source is not None:
            mask = (self.sources == source).astype(np.float32)
            if not mask.any():
                return []
        n = min(n, len(self.ids))
        docs, scores = self.retriever.retrieve([q], k=n, show_progress=False, weight_mask=mask)
        return [(self.ids[int(i)], float(s)) for i, s in zip(docs[0], scores[0]) if s > 0]

    def save(self, folder: Path) -> None:
        _remove_dead_leftovers(folder)
        tmp = folder.with_name(folder.name + f".tmp{os.getpid()}")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        if self.indexed:
            self.retriever.save(str(tmp / "bm25"))
        (tmp / "meta.json").write_text(json.dumps({"stamp": self.stamp, "ids": self.ids, "indexed": self.indexed,
                                                   "sources": list(self.sources), "doc_freq": self.doc_freq}))
        reached("lexical.save.written")
        old = folder.with_name(folder.name + f".old{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        reached("lexical.save.swapping")
        tmp.rename(folder)  # readers see the old index, the new one or none (and rebuild), never half of one
        shutil.rmtree(old, ignore_errors=True)

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex | None:
        import bm25s
        import numpy as np

        try:
            meta = json.loads((folder / "meta.json").read_text())
            self = cls.__new__(cls)
            self.ids, self.stamp, self.doc_freq = meta["ids"], meta["stamp"], meta["doc_freq"]
            self.sources = np.array(meta["sources"], dtype=object)
            self.indexed = meta.get("indexed", bool(self.ids))
            self.retriever = bm25s.BM25.load(str(folder / "bm25")) if self.indexed else bm25s.BM25()
            return self
        except (OSError, ValueError, KeyError):
            return None


def _remove_dead_leftovers(folder: Path) -> None:
    """Delete `<folder>.tmpPID` / `.oldPID` left by a process killed while saving (PID gone)."""
    for path in folder.parent.glob(folder.name + ".*"):
        m = re.fullmatch(re.escape(folder.name) + r"\.(?:tmp|old)(\d+)", path.name)
        if m and not alive(int(m.group(1))):
            shutil.rmtree(path, ignore_errors=True)
