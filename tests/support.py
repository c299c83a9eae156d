"""Helpers shared by the core tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag import Assistant

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
REPO = ROOT
VERIFICATION_SET = ROOT / "tests" / "data" / "verification_set.jsonl"  # built by bench/verification_set.py


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


def make_report_pdf(path: Path, bodies: list[list[str]], header: str, footer: str = "Page {n} of {total}") -> Path:
    """A PDF whose every page has a running header, the lines of its body, and a footer with its
    page number, as a printed report has. An empty body makes a page with no text at all (as a
    scanned page without a text layer)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for n, lines in enumerate(bodies, start=1):
        if lines:
            pdf.drawString(72, 800, header)
            for i, line in enumerate(lines):
                pdf.drawString(72, 740 - 16 * i, line)
            pdf.drawString(72, 40, footer.format(n=n, total=len(bodies)))
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(cmd: list[str], log: Path, ready: Callable[[], bool], timeout_s: float):
    """Run a server process (output to `log`) for the length of the block. The test fails if the
    process exits or `ready()` stays false past the timeout; the process is stopped afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} did not start:\n"
                            f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def llama_cpp_server(log_dir: Path):
    """llama.cpp's own OpenAI-compatible server (`python -m llama_cpp.server`) serving the bundled
    SmolLM2 GGUF on 127.0.0.1 as model "smollm2", for the length of the block; yields its /v1 URL."""
    import sys
    import urllib.request

    from rag.llm import smollm2_path

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_threads", "2", "--n_ctx", "2048", "--model_alias", "smollm2"]

    def ready() -> bool:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            return True
        except OSError:
            return False

    with running_server(cmd, log_dir / "server.log", ready, 90):
        yield url


def bench_module(name: str):
    """A script of bench/ imported as a module (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
