"""Opening an ONNX model with onnxruntime, for both models rag runs: the embedding model
(rag.embeddings) and the reader model (rag.reader.model). A shipped file is checked against its
SHA-256 first, so a damaged or swapped file is refused with a clear error instead of giving
wrong numbers. It does not export (rag.onnx_export, training/export.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .errors import ConfigError


def check_sha256(path: Path, sha256: str) -> None:
    """Raises ConfigError unless the file's SHA-256 is `sha256`."""
    try:
        digest = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    except OSError as e:
        raise ConfigError(f"cannot read {path}: {e.strerror or e}") from e
    if digest != sha256:
        raise ConfigError(f"{path} does not match its checksum (sha256 {digest[:12]}..., expected "
                          f"{sha256[:12]}...): reinstall rag")


def open_session(path: Path, sha256: str | None = None, threads: int = 1):
    """An onnxruntime CPU session for the file, checked against `sha256` when given. One thread
    per run: for models this small, splitting a matrix product over cores costs more than it
    gains (BENCHMARKS.md, embeddings); callers run batches side by side instead."""
    import onnxruntime as ort

    if sha256:
        check_sha256(path, sha256)
    options = ort.SessionOptions()
    options.log_severity_level = 3
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

