"""Embedding backends: the ONNX exports agree with sentence-transformers, duplicates cost nothing."""

from __future__ import annotations

import numpy as np
import pytest

from rag.embeddings import SentenceEmbeddings

TEXTS = ["who is Ismail Shukri?", "Misrata is a city in northern Libya. " * 8,
         "Pattern recognition receptors are proteins used by nearly all organisms to identify pathogens."]


@pytest.fixture(scope="module")
def reference() -> np.ndarray:
    return SentenceEmbeddings(backend="torch").encode(TEXTS)


def test_onnx_fp32_backend_matches_sentence_transformers(reference):
    vectors = SentenceEmbeddings(backend="onnx").encode(TEXTS)
    assert np.allclose((vectors * reference).sum(axis=1), 1.0, atol=1e-4)


def test_onnx_int8_backend_stays_close_to_fp32(reference):
    vectors = SentenceEmbeddings(backend="onnx-int8").encode(TEXTS)
    assert (vectors * reference).sum(axis=1).min() > 0.95


def test_padding_in_a_batch_does_not_change_fp32_vectors():
    e = SentenceEmbeddings(backend="onnx")
    single = np.vstack([e.encode([t]) for t in TEXTS])
    assert np.allclose(e.encode(TEXTS), single, atol=1e-4)


def test_int8_vectors_barely_depend_on_batch_company():
    # Dynamic quantization scales activations per batch, so a text's vector moves slightly with
    # the texts batched beside it; it stays at cosine > 0.98 of itself.
    e = SentenceEmbeddings(backend="onnx-int8")
    single = np.vstack([e.encode([t]) for t in TEXTS])
    assert (e.encode(TEXTS) * single).sum(axis=1).min() > 0.98


def test_duplicate_texts_are_embedded_once():
    e = SentenceEmbeddings()
    vectors = e.encode(["same text", "other text", "same text"])
    assert e.texts_embedded == 2 and np.array_equal(vectors[0], vectors[2])


def test_unknown_backend_is_a_config_error():
    from rag.errors import ConfigError

    with pytest.raises(ConfigError, match="RAG_EMBEDDING_BACKEND"):
        SentenceEmbeddings(backend="gpu-magic")


def test_embeddings_are_a_langchain_embeddings():
    from langchain_core.embeddings import Embeddings

    e = SentenceEmbeddings()
    assert isinstance(e, Embeddings) and len(e.embed_query("hello")) == e.dimension == 384


def test_batches_run_on_several_threads_land_in_their_own_rows():
    # 40 texts of different lengths make several length-sorted batches, which run concurrently
    # (one single-threaded ONNX run per worker) and are written back by index.
    texts = [" ".join(["word"] * (i % 7 + 1)) + f" number {i}" for i in range(40)]
    one = SentenceEmbeddings(backend="onnx", batch_size=4, threads=1).encode(texts)
    three = SentenceEmbeddings(backend="onnx", batch_size=4, threads=3).encode(texts)
    assert np.allclose(one, three, atol=1e-5)


def test_export_fuses_attention_into_single_operators():
    import onnx

    from rag.config import Settings
    from rag.onnx_export import onnx_model_path

    path = onnx_model_path("bundled", False, Settings().model_cache_dir)
    ops = {node.op_type for node in onnx.load(str(path), load_external_data=False).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops


def test_a_graph_the_optimizer_cannot_fuse_is_kept_unfused(tmp_path):
    from rag.onnx_export import _fuse

    (tmp_path / "config.json").write_text("{}")  # no attention heads: the optimizer cannot run
    plain = tmp_path / "plain.onnx"
    plain.write_bytes(b"graph")
    _fuse(tmp_path, plain, tmp_path / "model.onnx")
    assert (tmp_path / "model.onnx").read_bytes() == b"graph" and not plain.exists()
