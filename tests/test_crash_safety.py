"""Crash safety: `python -m rag.cli ingest` is killed with SIGKILL at 10 points of the write path
(parsing, embedding, the Chroma chunk write, the manifest record, the old-chunk delete, a prune,
the lexical-index save; see rag/faults.py). After each kill the index opens and its parts agree;
running the ingest again completes the job."""

from __future__ import annotations

import hashlib
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from reliability_support import check_index_is_whole, cli_env as _env
from rag import Assistant

# (fault point, what the process was doing when it died)
FAULTS = [
    ("loaders.read:2", "parsing the second changed file"),
    ("ingest.embedded:1", "embedding done, nothing written for that file"),
    ("ingest.embedded:3", "two files written, third embedded"),
    ("store.put.chunks:1", "new chunks of a changed file written, its record still old"),
    ("store.put.chunks:3", "new chunks of a new file written, no record yet"),
    ("store.put.record:1", "manifest record updated, the file's old chunks not yet deleted"),
    ("store.put.cleanup:2", "second file committed, later ones not started"),
    ("store.remove:1", "--prune: a record deleted, its chunks not yet"),
    ("lexical.save.written:1", "lexical index written to its temporary folder, not renamed"),
    ("lexical.save.swapping:1", "old lexical index moved away, new one not yet in place"),
]

REAL_PROCESS_POINT = "store.put.record:1"  # this one runs as its own `python -m rag.cli` process


def _paragraphs(topic: str, n: int) -> str:
    return "\n\n".join(f"{topic} fact number {i}: the {topic} archive records event {i} in detail. "
                       f"Witnesses of {topic} event {i} described it at length to the keeper." for i in range(n))


def write_corpus(folder: Path, version: int) -> None:
    """v1: alpha..epsilon. v2: beta and gamma changed, zeta and eta new, epsilon deleted."""
    folder.mkdir(parents=True, exist_ok=True)
    files = {"alpha.md": _paragraphs("alpha", 8), "beta.txt": _paragraphs("beta", 10),
             "gamma.html": f"<html><body><p>{_paragraphs('gamma', 6)}</p></body></html>",
             "delta.txt": _paragraphs("delta", 5), "epsilon.txt": _paragraphs("epsilon", 4)}
    if version == 2:
        files["beta.txt"] = _paragraphs("beta revised", 12)
        files["gamma.html"] = f"<html><body><p>{_paragraphs('gamma revised', 7)}</p></body></html>"
        files["zeta.md"] = _paragraphs("zeta", 9)
        files["eta.txt"] = _paragraphs("eta", 6)
        del files["epsilon.txt"]
    for path in folder.iterdir():
        if path.name not in files:
            path.unlink()
    for name, text in files.items():
        (folder / name).write_text(text)


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.absolute()): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


@pytest.fixture(scope="module")
def base(rag_cli, tmp_path_factory):
    """Corpus v1 and its index, built once by a process that has exited (so the folder is closed
    and can be copied); every test copies the index and turns the corpus (same paths) into v2."""
    root = tmp_path_factory.mktemp("crash")
    corpus, index, no_seeds = root / "docs", root / "base-index", root / "no-seeds"
    write_corpus(corpus, 1)
    assert rag_cli(["ingest", "--index", str(index), str(corpus)], RAG_SEED_DIR=str(no_seeds)).returncode == 0
    return corpus, index, no_seeds


@pytest.mark.parametrize("point,when", FAULTS, ids=[p for p, _ in FAULTS])
def test_sigkill_leaves_a_whole_index_and_rerun_completes(rag_cli, base, tmp_path, point, when):
    corpus, base_index, no_seeds = base
    index = tmp_path / "index"
    shutil.copytree(base_index, index)
    write_corpus(corpus, 1)
    write_corpus(corpus, 2)

    args = ["ingest", "--prune", "--index", str(index), str(corpus)]
    # One file per embed-and-write batch, so that ":N" counts files as the FAULTS table says.
    fault = {"RAG_FAULT_POINT": point, "RAG_SEED_DIR": str(no_seeds), "RAG_INGEST_BATCH_CHUNKS": "1"}
    if point == REAL_PROCESS_POINT:
        proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], env=_env(**fault), capture_output=True,
                              text=True, timeout=300)
        returncode = proc.returncode
    else:
        returncode = rag_cli(args, **fault).returncode
    assert returncode == -signal.SIGKILL, f"never reached {point} ({when})"

    check_index_is_whole(index)

    Assistant(index_dir=index, seed_dir=no_seeds).ingest([corpus], prune=True)
    a = check_index_is_whole(index)
    assert {s.source: s.content_hash for s in a.sources()} == _hashes(corpus)
    assert not [p for p in index.iterdir() if ".tmp" in p.name or ".old" in p.name], "leftover lexical folders"
    hit = a.retrieve("zeta fact number 4", k=1)[0]
    assert hit.source.endswith("zeta.md")
