"""Ingestion writes several files per embed/store call and reports progress with chunk counts."""

from __future__ import annotations

from pathlib import Path

from rag import Assistant


def _docs(folder: Path, n: int) -> Path:
    folder.mkdir()
    for i in range(n):
        (folder / f"d{i}.txt").write_text(f"Document number {i} talks about topic {i}. It has two sentences.")
    return folder


def test_many_small_files_share_store_writes(tmp_path):
    a = Assistant(index_dir=tmp_path / "index", ingest_batch_chunks=4)
    calls = []
    real = a.store.put_many
    a.store.put_many = lambda items, vectors, replaced=None: (calls.append(len(items)), real(items, vectors, replaced))
    report = a.ingest([_docs(tmp_path / "docs", 10)])
    assert len(report.added) == 10 and calls == [4, 4, 2]


def test_progress_callback_with_chunks_gets_counts(tmp_path):
    a = Assistant(index_dir=tmp_path / "index")
    seen = []
    a.ingest([_docs(tmp_path / "docs", 3)], progress=lambda f, done, total, chunks=0: seen.append((done, total, chunks)))
    assert seen[-1] == (3, 3, 3)


def test_three_argument_progress_callback_still_works(tmp_path):
    a = Assistant(index_dir=tmp_path / "index")
    seen = []
    a.ingest([_docs(tmp_path / "docs", 2)], progress=lambda f, done, total: seen.append((done, total)))
    assert seen[-1] == (2, 2)


def test_identical_files_are_embedded_once(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in ("a.txt", "b.txt"):
        (folder / name).write_text("The same words in two files.")
    a = Assistant(index_dir=tmp_path / "index")
    report = a.ingest([folder])
    assert len(report.added) == 2 and a.embedder.texts_embedded == 1 and a.store.counts() == (2, 2)
