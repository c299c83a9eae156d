"""The one-time export of a sentence-transformers model to ONNX for the `onnx` and `onnx-int8`
embedding backends: torch export, onnxruntime's transformer fusion (kept only when it gives the
same vectors), int8 dynamic quantization; cached per model, machine and recipe under
`model_cache_dir`. It does not run the model: `rag.embeddings` does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import warnings
from pathlib import Path

from .embeddings import _model_dir
from .errors import ConfigError

log = logging.getLogger(__name__)
_EXPORT_VERSION = "2"  # bump when the export recipe changes, so caches are rebuilt


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
                log.warning("exporting the embedding model to ONNX%s, once, into %s ...",
                         " (int8)" if quantized else "", folder)
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
        log.warning("keeping the embedding model unfused (%s: %s)", e.__class__.__name__, e)
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
