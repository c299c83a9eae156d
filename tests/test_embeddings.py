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
