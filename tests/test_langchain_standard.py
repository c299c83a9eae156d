"""LangChain's own standard test suites for our retriever and embeddings."""

from __future__ import annotations

import pytest
from langchain_tests.integration_tests import EmbeddingsIntegrationTests, RetrieversIntegrationTests

from rag.embeddings import SentenceEmbeddings
from rag.retrieval import RagRetriever

# The suites hold async tests (ainvoke, aembed_*): pytest-asyncio, in its default strict mode, runs
# them only when marked. The mark on the suites' sync tests is harmless, so its warning is muted.
pytestmark = [pytest.mark.asyncio,
              pytest.mark.filterwarnings("ignore:.*marked with '@pytest.mark.asyncio' but it is not an async")]


class TestRagRetrieverStandard(RetrieversIntegrationTests):
    @pytest.fixture(autouse=True)
    def _seed_assistant(self, seed_assistant):
        self.assistant = seed_assistant  # the properties below cannot take fixtures themselves

    @property
    def retriever_constructor(self) -> type[RagRetriever]:
        return RagRetriever

    @property
    def retriever_constructor_params(self) -> dict:
        return {"assistant": self.assistant, "k": 2}

    @property
    def retriever_query_example(self) -> str:
        return "Misrata"


class TestSentenceEmbeddingsStandard(EmbeddingsIntegrationTests):
    @property
    def embeddings_class(self) -> type[SentenceEmbeddings]:
        return SentenceEmbeddings

    @property
    def embedding_model_params(self) -> dict:
        return {"model": "bundled"}
