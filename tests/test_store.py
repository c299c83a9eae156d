"""The store: Chroma and the BM25 index kept in step, surviving a reopen and an interrupted write."""

from __future__ import annotations

from support import assert_index_consistent, chunk_records

from rag import Assistant
from rag.store import tokenize

TEXT = "The zebra called Quagga grazes near the Etosha pan every dry season."


def test_tokenize_drops_stopwords_and_lowercases():
    assert tokenize("The Zebra and the Pan, in 2024!") == ["zebra", "pan", "2024"]


def test_lexical_index_is_rebuilt_from_chroma_after_a_reopen(tmp_path, docs_dir):
    (docs_dir / "zebra.txt").write_text(TEXT)
    first = Assistant(index_dir=tmp_path / "index")
    first.ingest([docs_dir])
    ids = sorted(first.store.lexical().ids)
    reopened = Assistant(index_dir=tmp_path / "index")
    assert sorted(reopened.store.lexical().ids) == ids
    assert reopened.store.lexical().search("Quagga", 5)


def test_repair_deletes_chunks_left_by_an_interrupted_write(fresh_assistant, docs_dir):
    path = docs_dir / "zebra.txt"
    path.write_text(TEXT)
    fresh_assistant.ingest([docs_dir])
    store = fresh_assistant.store
    vector = fresh_assistant.embedder.embed_query("orphan")
    store.chunks.upsert(ids=["orphan-1", "orphan-2"], embeddings=[vector, vector], documents=["left", "over"],
                        metadatas=[{"source": str(path), "start": 0, "end": 4, "hash": "an-older-hash"},
                                   {"source": "/never/committed.txt", "start": 0, "end": 4, "hash": "h"}])
    assert store.repair() == 2
    assert "orphan-1" not in chunk_records(fresh_assistant) and "orphan-2" not in chunk_records(fresh_assistant)
    assert_index_consistent(fresh_assistant)


def test_opening_an_index_marked_mid_ingest_repairs_it(tmp_path, docs_dir):
    path = docs_dir / "zebra.txt"
    path.write_text(TEXT)
    crashed = Assistant(index_dir=tmp_path / "index")
    crashed.ingest([docs_dir])
    vector = crashed.embedder.embed_query("orphan")
    crashed.store.chunks.upsert(ids=["orphan"], embeddings=[vector], documents=["left over"],
                                metadatas=[{"source": str(path), "start": 0, "end": 9, "hash": "half-written"}])
    (tmp_path / "index" / ".ingest-in-progress").write_text("12345")
    reopened = Assistant(index_dir=tmp_path / "index")
    assert "orphan" not in chunk_records(reopened)
    assert not (tmp_path / "index" / ".ingest-in-progress").exists()
    assert_index_consistent(reopened)


def test_stored_document_keeps_text_title_and_hash(fresh_assistant, docs_dir):
    path = docs_dir / "zebra.md"
    path.write_text("# Zebras\n\n" + TEXT)
    fresh_assistant.ingest([docs_dir])
    stored = fresh_assistant.document(str(path))
    assert stored.text == path.read_text() and stored.title == "Zebras"
    assert stored.content_hash == fresh_assistant.sources()[0].content_hash


def test_a_closed_assistant_lets_go_of_the_index_and_reopens_on_use(tmp_path):
    import os

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("The ferry to Inchkeith leaves at nine.")
    counts = []
    for _ in range(6):
        with Assistant(index_dir=tmp_path / "index", llm="none") as a:
            a.ingest([docs])
            assert a.ask("When does the ferry leave?").citations
        counts.append(len(os.listdir("/proc/self/fd")))
    a.close()  # twice is harmless, and it opens again on use
    assert a.ask("When does the ferry leave?").citations
    a.close()
    assert max(counts) - counts[0] <= 3, counts
