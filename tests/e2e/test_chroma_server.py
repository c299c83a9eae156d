"""rag against a real Chroma server (`chroma run`, from the chromadb package): the core end-to-end
path, lexical results equal to local mode, and two ingest processes writing at once."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from rag import Assistant
from support import free_port, running_server

ROOT = Path(__file__).resolve().parents[2]
SEEDS = ROOT / "seeds"
SQUAD = ROOT / "tests" / "data" / "squad_paragraphs.json"  # a copy kept in the repo: CI has no ../shared
SEED_QUESTION = "who is Ismail Shukri?"


def _heartbeat(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as r:
            return r.status == 200
    except OSError:
        return False


@pytest.fixture(scope="module")
def chroma_url(tmp_path_factory):
    """A Chroma server on a free local port for this module; stopped at the end."""
    chroma = shutil.which("chroma")
    if chroma is None:
        pytest.fail("the `chroma` command (installed with the chromadb package) is not on PATH")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    cmd = [chroma, "run", "--path", str(tmp_path_factory.mktemp("chroma-data")), "--host", "127.0.0.1",
           "--port", str(port)]
    with running_server(cmd, tmp_path_factory.mktemp("chroma-log") / "server.log", lambda: _heartbeat(url), 60):
        yield url


def _squad_paragraphs(n: int) -> list[str]:
    return json.loads(SQUAD.read_text(encoding="utf-8"))["paragraphs"][:n]


def _write(folder: Path, texts: list[str], prefix: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i, t in enumerate(texts):
        (folder / f"{prefix}{i:03d}.txt").write_text(t, encoding="utf-8")
    return folder


def _server_assistant(url: str, index: Path, collection: str) -> Assistant:
    return Assistant(index_dir=index, chroma_url=url, collection=collection)


def test_server_mode_keeps_chunks_on_the_server_not_in_the_index_folder(chroma_url, tmp_path):
    import chromadb
    from urllib.parse import urlparse

    _server_assistant(chroma_url, tmp_path / "index", "kind").ingest([SEEDS])
    server = chromadb.HttpClient(host="127.0.0.1", port=urlparse(chroma_url).port)
    assert server.get_collection("kind_chunks").count() > 0
    assert not (tmp_path / "index" / "chroma").exists()


def test_seed_question_answered_with_resolving_citations_on_a_server(chroma_url, tmp_path):
    a = _server_assistant(chroma_url, tmp_path / "index", "e2e")
    report = a.ingest([SEEDS])
    assert report.added and not report.failed
    answer = a.ask(SEED_QUESTION)
    assert not answer.abstained and "intelligence" in answer.text.lower()
    for c in answer.citations:
        assert a.document(c.source).text[c.start:c.end] == c.quote


def test_reingest_on_a_server_embeds_nothing(chroma_url, tmp_path):
    a = _server_assistant(chroma_url, tmp_path / "index", "reingest")
    a.ingest([SEEDS])
    again = _server_assistant(chroma_url, tmp_path / "index", "reingest")
    report = again.ingest([SEEDS])
    assert report.unchanged and again.embedder.texts_embedded == 0


def test_lexical_results_equal_local_mode(chroma_url, tmp_path):
    docs = _write(tmp_path / "docs", _squad_paragraphs(30), "p")
    local = Assistant(index_dir=tmp_path / "local")
    remote = _server_assistant(chroma_url, tmp_path / "remote", "lexical")
    for a in (local, remote):
        a.ingest([SEEDS, docs])
    queries = [SEED_QUESTION, "Misrata intelligence", "immune system proteins", "when was the university founded",
               "the largest city"]
    for q in queries:
        assert remote.store.lexical().search(q, 10) == local.store.lexical().search(q, 10), q


def test_lexical_cache_follows_another_process_writes(chroma_url, tmp_path):
    reader = _server_assistant(chroma_url, tmp_path / "reader", "follow")
    reader.ingest([SEEDS])
    assert reader.store.lexical(force_check=True).search("defensins", 5) == []
    writer = _server_assistant(chroma_url, tmp_path / "writer", "follow")
    writer.ingest([_write(tmp_path / "docs", _squad_paragraphs(1), "p")])  # the immune-system paragraph
    assert reader.store.lexical(force_check=True).search("defensins", 5)


def test_two_ingest_processes_into_one_server_lose_nothing(chroma_url, tmp_path):
    paragraphs = _squad_paragraphs(60)
    folders = [_write(tmp_path / "a", paragraphs[:30], "a"), _write(tmp_path / "b", paragraphs[30:], "b")]
    env = {**os.environ, "PYTHONPATH": str(ROOT), "RAG_CHROMA_URL": chroma_url, "RAG_COLLECTION": "concurrent",
           "RAG_INGEST_BATCH_CHUNKS": "8"}  # small batches: the two writers interleave many times
    procs = [subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", str(folder), "--json",
                               "--index", str(tmp_path / f"worker{i}")], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
             for i, folder in enumerate(folders)]
    reports = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
        reports.append(json.loads(out))
    assert sum(len(r["added"]) for r in reports) == 60

    a = _server_assistant(chroma_url, tmp_path / "check", "concurrent")
    sources = a.sources()
    assert sorted(s.source for s in sources) == sorted(str(p) for f in folders for p in f.glob("*.txt"))
    got = a.store.chunks.get(include=["metadatas"])
    per_source: dict[str, int] = {}
    for m in got["metadatas"]:
        per_source[m["source"]] = per_source.get(m["source"], 0) + 1
    assert per_source == {s.source: s.chunks for s in sources}
    assert sorted(a.store.lexical(force_check=True).ids) == sorted(got["ids"])
