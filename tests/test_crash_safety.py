"""Crash safety: `python -m rag.cli ingest` is killed with SIGKILL at 10 points of the write path
(parsing, embedding, the Chroma chunk write, the manifest record, the old-chunk delete, a prune,
the lexical-index save; see rag/faults.py). After each kill the index opens and its parts agree;
running the ingest again completes the job."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import pytest

from rag import Assistant

REPO = Path(__file__).resolve().parents[1]

# A "zygote": a python process that has imported rag.cli and loaded the embedding model once, then
# forks a child per command line read on stdin; the child runs `rag ingest ...` exactly as
# `python -m rag.cli` would (same code, fresh Settings from its environment) and the zygote replies
# with how it ended. Saves ~15 s of imports and model loading per kill on a 2-core machine.
# No Chroma is opened before the fork. One fault also runs as a real `python -m rag.cli` process.
_ZYGOTE = textwrap.dedent("""
    import json, os, sys
    import chromadb  # imported, not opened
    import rag.cli
    from rag.embeddings import _load
    _load("bundled")
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            os.dup2(2, 1)  # the child's output must not mix with the replies
            os.environ.update(cmd["env"])
            sys.argv = ["rag"] + cmd["args"]
            code = 0
            try:
                rag.cli.main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), flush=True)
""")

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


def check_index_is_whole(index_dir: Path) -> Assistant:
    """Open the index as any process would (repairing what a crash left) and check that the dense
    index, the lexical index and the manifest agree."""
    a = Assistant(index_dir=index_dir, seed_dir=index_dir / "no-seeds")
    store = a.store
    records = store.docs.get(include=["metadatas"])
    manifest = {i: m for i, m in zip(records["ids"], records["metadatas"])}
    chunks = store.chunks.get(include=["metadatas"])
    ids, metas = chunks["ids"], chunks["metadatas"]
    assert len(ids) == len(set(ids)), "duplicate chunk ids"
    spans = Counter((m["source"], m["hash"], m["start"], m["end"]) for m in metas)
    assert max(spans.values(), default=1) == 1, "the same chunk stored twice"
    for m in metas:
        assert m["source"] in manifest, f"orphan chunk of {m['source']}"
        assert manifest[m["source"]]["hash"] == m["hash"], f"chunk of another version of {m['source']}"
    per_source = Counter(m["source"] for m in metas)
    for source, m in manifest.items():
        assert per_source[source] == int(m["chunks"]) > 0, f"{source}: record says {m['chunks']}, has {per_source[source]}"
    lexical = store.lexical(force_check=True)
    assert sorted(lexical.ids) == sorted(ids), "lexical and dense indexes disagree"
    assert [p.source for p in a.retrieve("archive records event", k=3)], "the index does not answer"
    return a


def _hashes(folder: Path) -> dict[str, str]:
    return {str(p.absolute()): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def _env(**extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env.update(PYTHONPATH=str(REPO), HF_HUB_OFFLINE="1", **extra)
    return env


@pytest.fixture(scope="module")
def zygote():
    proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], env=_env(), stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"

    def run(args: list[str], env: dict[str, str]) -> int:
        proc.stdin.write(json.dumps({"args": args, "env": env}) + "\n")
        proc.stdin.flush()
        return json.loads(proc.stdout.readline())

    yield run
    proc.stdin.close()
    proc.wait(timeout=30)


@pytest.fixture(scope="module")
def base(zygote, tmp_path_factory):
    """Corpus v1 and its index, built once by a process that has exited (so the folder is closed
    and can be copied); every test copies the index and turns the corpus (same paths) into v2."""
    root = tmp_path_factory.mktemp("crash")
    corpus, index, no_seeds = root / "docs", root / "base-index", root / "no-seeds"
    write_corpus(corpus, 1)
    assert zygote(["ingest", "--index", str(index), str(corpus)], {"RAG_SEED_DIR": str(no_seeds)}) == 0
    return corpus, index, no_seeds


@pytest.mark.parametrize("point,when", FAULTS, ids=[p for p, _ in FAULTS])
def test_sigkill_leaves_a_whole_index_and_rerun_completes(zygote, base, tmp_path, point, when):
    corpus, base_index, no_seeds = base
    index = tmp_path / "index"
    shutil.copytree(base_index, index)
    write_corpus(corpus, 1)
    write_corpus(corpus, 2)

    args = ["ingest", "--prune", "--index", str(index), str(corpus)]
    fault = {"RAG_FAULT_POINT": point, "RAG_SEED_DIR": str(no_seeds)}
    if point == REAL_PROCESS_POINT:
        proc = subprocess.run([sys.executable, "-m", "rag.cli", *args], env=_env(**fault), capture_output=True,
                              text=True, timeout=300)
        returncode = proc.returncode
    else:
        returncode = zygote(args, fault)
    assert returncode == -signal.SIGKILL, f"never reached {point} ({when})"

    check_index_is_whole(index)

    Assistant(index_dir=index, seed_dir=no_seeds).ingest([corpus], prune=True)
    a = check_index_is_whole(index)
    assert {s.source: s.content_hash for s in a.sources()} == _hashes(corpus)
    assert not [p for p in index.iterdir() if ".tmp" in p.name or ".old" in p.name], "leftover lexical folders"
    hit = a.retrieve("zeta fact number 4", k=1)[0]
    assert hit.source.endswith("zeta.md")
