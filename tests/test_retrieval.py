"""Hybrid retrieval: passages are exact spans of their documents, ranked, limited to k, and
filterable by source; the LangChain retriever returns the same passages as Documents."""

from __future__ import annotations

from support import SEED_FILE

from rag.retrieval import RagRetriever


def test_passages_are_exact_spans_of_their_documents(seed_assistant):
    passages = seed_assistant.retrieve("Misrata", k=5)
    assert passages
    for p in passages:
        assert seed_assistant.document(p.source).text[p.start:p.end] == p.text


def test_retrieve_returns_at_most_k_passages_best_first(seed_assistant):
    passages = seed_assistant.retrieve("Libya", k=2)
    assert len(passages) == 2
    assert passages[0].score >= passages[1].score


def test_lexical_match_ranks_the_passage_with_the_name_first(seed_assistant):
    assert "Shukri" in seed_assistant.retrieve("Ismail Shukri", k=1)[0].text


def test_asking_for_more_passages_than_the_index_holds_returns_them_all(seed_assistant):
    chunks = seed_assistant.store.counts()[1]
    passages = seed_assistant.retrieve("Libya", k=chunks + 10)
    assert len({p.chunk_id for p in passages}) == len(passages) == chunks


def test_an_empty_index_retrieves_nothing(fresh_assistant):
    assert fresh_assistant.store.is_empty()
    assert fresh_assistant.retrieve("Libya", k=5) == []


def test_source_filter_returns_nothing_for_an_unknown_source(seed_assistant):
    assert seed_assistant.retrieve("Misrata", k=5, source="/no/such/file.txt") == []


def test_source_filter_keeps_passages_of_that_source(seed_assistant):
    passages = seed_assistant.retrieve("Misrata", k=3, source=str(SEED_FILE))
    assert passages and {p.source for p in passages} == {str(SEED_FILE)}


def test_as_retriever_returns_langchain_documents_with_offsets(seed_assistant):
    retriever = seed_assistant.as_retriever(k=2)
    assert isinstance(retriever, RagRetriever)
    docs = retriever.invoke("Misrata")
    assert len(docs) == 2
    for d in docs:
        meta = d.metadata
        assert seed_assistant.document(meta["source"]).text[meta["start"]:meta["end"]] == d.page_content
