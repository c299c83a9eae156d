"""Helpers shared by the core tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

from rag import Assistant

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
REPO = ROOT


def clean_env(**extra: str) -> dict:
    """os.environ for a `rag` subprocess: no developer RAG_* settings, this checkout first on the
    path, offline, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


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
