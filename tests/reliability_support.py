"""Helpers shared by the reliability tests: `rag` commands run fast in forked processes, the
environment for a `rag` subprocess, and the check that an index is whole (dense index, lexical
index and manifest agree)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from rag import Assistant
from support import clean_env as cli_env  # noqa: E402

REPO = Path(__file__).resolve().parents[1]




# A "zygote": a python process that has imported rag.cli and loaded the embedding model once, then
# forks a child per command read on stdin; the child runs `rag ARGS` exactly as `python -m rag.cli`
# would (same code, fresh Settings from its environment) and the zygote replies with how it ended.
# Saves ~15 s of imports and model loading per command on a 2-core machine. Nothing opens Chroma
# before the fork.
_ZYGOTE = textwrap.dedent("""
    import json, os, sys
    import chromadb  # imported, not opened
    import rag.cli
    from rag.embeddings import SentenceEmbeddings
    SentenceEmbeddings().encode(["warm up"])  # the model is loaded once, before the fork
    print("ready", flush=True)
    for line in sys.stdin:
        cmd = json.loads(line)
        pid = os.fork()
        if pid == 0:
            fd = os.open(cmd["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            os.environ.update(cmd["env"])
            sys.argv = ["rag"] + cmd["args"]
            code = 0
            try:
                rag.cli.main()
            except SystemExit as e:
                code = e.code if isinstance(e.code, int) else 1
            finally:
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        print(json.dumps(-os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)), flush=True)
""")


@dataclass
class Ran:
    returncode: int
    output: str  # stdout and stderr together


class RagCli:
    """`rag_cli(["ingest", ...], RAG_X="...")` runs a rag command in a forked, warmed-up process."""

    def __init__(self):
        self.proc = subprocess.Popen([sys.executable, "-c", _ZYGOTE], env=cli_env(), stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout.readline().strip() == "ready"

    def __call__(self, args: list, **env: str) -> Ran:
        with tempfile.NamedTemporaryFile("r", suffix=".log") as log:
            self.proc.stdin.write(json.dumps({"args": [str(a) for a in args], "env": env, "log": log.name}) + "\n")
            self.proc.stdin.flush()
            code = json.loads(self.proc.stdout.readline())
            with open(log.name, errors="replace") as fh:
                return Ran(code, fh.read())

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def check_index_is_whole(index_dir: Path, query: str = "archive records event") -> Assistant:
    """Open the index as any process would (repairing what a crash left) and check that the dense
    index, the lexical index and the manifest agree."""
    index_dir = Path(index_dir)
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
    assert [p.source for p in a.retrieve(query, k=3)], "the index does not answer"
    return a


