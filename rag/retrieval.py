"""query -> ranked Passages: dense (Chroma) and lexical (BM25) candidates fused by reciprocal
rank fusion. Also the LangChain `BaseRetriever` over the same search.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from .types import Passage

if TYPE_CHECKING:
    from .embeddings import SentenceEmbeddings
    from .store import Store


class HybridSearch:
    def __init__(self, store: "Store", embedder: "SentenceEmbeddings", candidates: int = 30, rrf_k: int = 60):
        self.store = store
        self.embedder = embedder
        self.candidates = candidates
        self.rrf_k = rrf_k

    def search(self, query: str, k: int = 5, source: str | None = None) -> list[Passage]:
        """Top-k passages; `score` is the fused RRF score, `dense_score` the cosine similarity."""
        n = max(self.candidates, k)
        dense = self.store.dense_search(self.embedder.embed_query(query), n, source)
        lexical = self.store.lexical().search(query, n, source)
        fused: dict[str, float] = {}
        for rank, p in enumerate(dense):
            fused[p.chunk_id] = fused.get(p.chunk_id, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        for rank, (cid, _) in enumerate(lexical):
            fused[cid] = fused.get(cid, 0.0) + 1.0 / (self.rrf_k + rank + 1)
        top = sorted(fused, key=lambda cid: -fused[cid])[:k]
        by_id = {p.chunk_id: p for p in dense}
        missing = [cid for cid in top if cid not in by_id]
        by_id.update(self.store.get_chunks(missing))  # found lexically only: fetch their text
        return [replace(by_id[cid], score=fused[cid]) for cid in top if cid in by_id]


def __getattr__(name: str):
    # langchain_core.retrievers pulls in langsmith (about a second): only the code that asks for
    # the LangChain retriever pays for it, not every `rag ask`.
    if name == "RagRetriever":
        cls = _define_rag_retriever()
        globals()["RagRetriever"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _define_rag_retriever():
    from langchain_core.callbacks import CallbackManagerForRetrieverRun
    from langchain_core.documents import Document as LCDocument
    from langchain_core.retrievers import BaseRetriever

    class RagRetriever(BaseRetriever):
        """Hybrid retrieval as a LangChain retriever: `Assistant.as_retriever(k=4)`."""

        assistant: Any
        k: int = 4
        source: str | None = None

        def _get_relevant_documents(self, query: str, *, run_manager: CallbackManagerForRetrieverRun,
                                    k: int | None = None, **kwargs: Any) -> list[LCDocument]:
            passages = self.assistant.retrieve(query, k=k or self.k, source=kwargs.get("source", self.source))
            return [LCDocument(page_content=p.text, id=p.chunk_id,
                               metadata={"source": p.source, "start": p.start, "end": p.end, "score": p.score,
                                         "title": p.title, **({"page": p.page} if p.page is not None else {})})
                    for p in passages]

    RagRetriever.__module__, RagRetriever.__qualname__ = __name__, "RagRetriever"
    return RagRetriever
