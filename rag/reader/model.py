"""rag's reader model at answer time: the shipped ONNX file (`rag/reader/model/`, trained by
`training/`), checked against its SHA-256, run with onnxruntime (no torch), and read as scores and
spans per sentence.

The model reads a question with each retrieved passage (`features.windows`) and gives every token
a start and an end logit; [CLS] stands for "no answer here". A sentence's *margin* is its best
span's start + end logit less the [CLS] pair of the same window: above 0 the model reads an answer
in it, and the span is that answer. It does not rank or choose (`rag.reader.ranking`).
"""

from __future__ import annotations

import json
import logging
import threading
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ..embeddings import cpu_count
from ..errors import ConfigError
from ..onnx_runtime import check_sha256, open_session
from ..types import ReaderSpan
from . import features

log = logging.getLogger(__name__)
MAX_ANSWER_TOKENS = 24  # longest span the model may give; SQuAD answers are 3 tokens at the median


class ReaderModel:
    """The shipped reader, loaded once per process.

        model = ReaderModel.load()               # None, with a logged notice, if missing or corrupt
        readings = model.read("who is X?", [("title", "passage text"), ...])
        readings[0].best(0, 120)                 # ReaderSpan in the passage's first 120 characters
    """

    def __init__(self, folder: Path):
        manifest = json.loads((folder / "reader.json").read_text())
        self.manifest = manifest
        self.session = open_session(folder / manifest["file"], sha256=manifest["sha256"], threads=1)
        check_sha256(folder / "tokenizer.json", manifest["tokenizer_sha256"])
        self.tokenizer = features.load_tokenizer(str(folder / "tokenizer.json"))
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.workers = min(cpu_count(), 4)
        self._lock = threading.Lock()
        self._executor = None

    @staticmethod
    def folder() -> Path:
        return Path(str(resources.files("rag.reader") / "model"))

    @classmethod
    def load(cls, folder: str | Path | None = None) -> "ReaderModel | None":
        """The model in `folder` (the shipped one by default), loaded once per process; None, with
        a one-line warning, when it is missing or damaged: rag then answers with its rules."""
        return _load(str(folder or cls.folder()))

    def read(self, question: str, passages: list[tuple[str, str]]) -> list["PassageReading"]:
        """One reading per (title, text) passage. The windows run in batches of similar length,
        one batch per core at once (onnxruntime releases the GIL), each single-threaded as the
        embedding model's are."""
        import numpy as np

        per_passage = [features.windows(self.tokenizer, question, title, [text])[0] for title, text in passages]
        flat = [w for wins in per_passage for w in wins]
        if not flat:
            return []
        order = sorted(range(len(flat)), key=lambda i: len(flat[i].ids))
        parts = [order[i::self.workers] for i in range(min(self.workers, len(order)))]
        logits: list = [None] * len(flat)

        def run(idx: list[int]) -> None:
            feed = features.batch([flat[i] for i in idx])
            start, end = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})
            for row, i in enumerate(idx):
                logits[i] = (np.asarray(start[row]), np.asarray(end[row]))

        if len(parts) == 1:
            run(parts[0])
        else:
            for _ in self._pool().map(run, parts):  # re-raises a worker's error
                pass
        out, i = [], 0
        for wins in per_passage:
            out.append(PassageReading([(w, *logits[i + j]) for j, w in enumerate(wins)]))
            i += len(wins)
        return out

    def _pool(self):
        with self._lock:
            if self._executor is None:
                from concurrent.futures import ThreadPoolExecutor

                self._executor = ThreadPoolExecutor(self.workers, thread_name_prefix="rag-reader")
            return self._executor


class PassageReading:
    """The model's logits over one passage's windows."""

    def __init__(self, windows: list):
        self.windows = windows

    def best(self, a: int, b: int, offset: int = 0) -> ReaderSpan | None:
        """The best span inside characters [a, b) of the passage, or None when no token is; its
        offsets are the passage's plus `offset` (the passage's start in its document)."""
        best = None
        for w, s, e in self.windows:
            idx = [i for i, (x, y) in enumerate(w.offsets) if x >= a and y <= b and y > x]
            if not idx:
                continue
            null = float(s[0] + e[0])
            lo, hi = idx[0], idx[-1]
            ss, ee = s[lo:hi + 1], e[lo:hi + 1]
            # best start for each end within MAX_ANSWER_TOKENS: a small O(n * L) scan
            top, pair = -1e9, (0, 0)
            for j in range(len(ee)):
                k0 = max(0, j - MAX_ANSWER_TOKENS + 1)
                k = k0 + int(ss[k0:j + 1].argmax())
                v = float(ss[k] + ee[j])
                if v > top:
                    top, pair = v, (k, j)
            span = ReaderSpan(margin=top - null, start=offset + w.offsets[lo + pair[0]][0],
                              end=offset + w.offsets[lo + pair[1]][1])
            if best is None or span.margin > best.margin:
                best = span
        return best


@lru_cache(maxsize=4)
def _load(folder: str) -> ReaderModel | None:
    try:
        return ReaderModel(Path(folder))
    except Exception as e:  # a missing file, a checksum, or onnxruntime's own error for a damaged graph
        reason = e if isinstance(e, ConfigError) else f"{e.__class__.__name__}: {e}"
        log.warning("rag's reader model in %s is not usable (%s); answering with the rule-based reader",
                    folder, reason)
        return None
