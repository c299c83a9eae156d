"""`rag watch` end to end, in a subprocess as a user runs it: after each change to the folder
(create, edit, rename, delete, save-by-rename, a burst of files, a folder moved in and out) the
index holds exactly what a fresh ingest of the folder would (the same documents with the same
hashes, the same chunk ids), within the stated delay; a rename embeds nothing; a watcher killed
mid-burst catches up when started again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from support import clean_env, fill, small_tmpfs, without_file_permission_override
from rag import Assistant
from rag.chunking import chunk_document
from rag.config import Settings
from rag.loaders import discover, load

SETTLED_TO_INDEXED_S = 2.0  # README: a change reaches the index within 2 s of the file settling
POLL_S = 0.1


def index_state(index: Path) -> tuple[dict[str, str], set[str]]:
    """(source -> content hash, chunk ids) as the watcher's index holds them now."""
    import chromadb
    from chromadb.api.shared_system_client import SharedSystemClient

    from rag.store import FolderLock

    with FolderLock(index).hold():  # as every rag process does: a reader beside a writer crashed without it
        SharedSystemClient._identifier_to_system.pop(str(index / "chroma"), None)  # see what was written since
        client = chromadb.PersistentClient(path=str(index / "chroma"))
        try:
            docs = client.get_collection("rag_docs").get(include=["metadatas"])
            chunks = client.get_collection("rag_chunks").get(include=[])
        except Exception:  # not created yet
            return {}, set()
        finally:
            SharedSystemClient._identifier_to_system.pop(str(index / "chroma"), None)
            del client  # dropped inside the lock
    return {i: m["hash"] for i, m in zip(docs["ids"], docs["metadatas"])}, set(chunks["ids"])


def fresh_state(folder: Path) -> tuple[dict[str, str], set[str]]:
    """What a fresh ingest of the folder would hold, with the default settings (no embedding)."""
    settings = Settings()
    files, _ = discover([folder])
    hashes, ids = {}, set()
    for f in files:
        doc = load(f, int(settings.max_file_mb * 1_000_000))
        hashes[doc.source] = doc.content_hash
        ids |= {c.id for c in chunk_document(doc, settings.chunk_size, settings.chunk_overlap)}
    return hashes, ids


def wait_in_step(index: Path, folder: Path, timeout: float) -> float:
    """Seconds until the index equals a fresh ingest of the folder; fails after `timeout`."""
    started = time.monotonic()
    expected = fresh_state(folder)
    while True:
        got = index_state(index)
        if got == expected:
            return time.monotonic() - started
        if time.monotonic() - started > timeout:
            missing = sorted(set(expected[0]) - set(got[0]))[:5]
            extra = sorted(set(got[0]) - set(expected[0]))[:5]
            pytest.fail(f"index not in step after {timeout} s: missing {missing}, extra {extra}, "
                        f"chunks {len(got[1])} vs {len(expected[1])}")
        time.sleep(POLL_S)


class Watcher:
    def __init__(self, folder: Path, index: Path, log: Path, prefix: list[str] = (), **settings: str):
        self.log = log
        self.out = open(log, "ab")
        self.proc = subprocess.Popen([*prefix, sys.executable, "-m", "rag.cli", "watch", str(folder), "--index",
                                      str(index), "--json"], stdout=self.out, stderr=subprocess.STDOUT,
                                     env=clean_env(RAG_LLM="none", **settings))

    def reports(self) -> list[dict]:
        return [json.loads(line) for line in self.log.read_text().splitlines() if line.startswith("{")]

    def stop(self, sig=signal.SIGTERM) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)
        self.out.close()


def write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def fact(n: int) -> str:
    return f"Record {n}: the keeper of lock {n} logged {n * 3} barges and a heron named Ada{n}."


@pytest.fixture
def folder(tmp_path) -> Path:
    docs = tmp_path / "docs"
    for name in ("alpha.txt", "beta.md", "gamma.txt"):
        write(docs / name, f"{name} opens the series. " + " ".join(fact(i) for i in range(len(name))))
    return docs


def test_watch_keeps_the_index_equal_to_a_fresh_ingest(folder, tmp_path):
    index = tmp_path / "index"
    watcher = Watcher(folder, index, tmp_path / "watch.log")
    delays = {}
    try:
        wait_in_step(index, folder, timeout=120)  # the first sync loads the model

        write(folder / "delta.txt", "Delta is new. " + fact(40))
        delays["create"] = wait_in_step(index, folder, timeout=30)

        write(folder / "alpha.txt", (folder / "alpha.txt").read_text() + " " + fact(41))
        delays["edit"] = wait_in_step(index, folder, timeout=30)

        before = len(watcher.reports())
        (folder / "beta.md").rename(folder / "sub" / "beta-moved.md") if (folder / "sub").mkdir() is None else None
        delays["rename"] = wait_in_step(index, folder, timeout=30)
        time.sleep(0.5)
        # The edit's report can follow the index reaching its state (it is printed after the
        # write): it is told apart by the file it updated. Nothing else since embedded anything.
        since = [r for r in watcher.reports()[before:]
                 if not any(p.endswith("alpha.txt") for p in r.get("updated", []))]
        assert any(r["moved"] == [str(folder / "sub" / "beta-moved.md")] and r["moved_from"] == [str(folder / "beta.md")]
                   for r in since)
        assert not any(r["removed"] for r in since), since  # a move is one event, not a move and a removal
        assert sum(r["chunks_embedded"] for r in since) == 0, since  # a rename embeds nothing

        (folder / "gamma.txt").unlink()
        delays["delete"] = wait_in_step(index, folder, timeout=30)

        tmp = folder / "delta.txt.tmp4242"  # an editor's save: write a temporary file, rename it over
        write(tmp, "Delta was rewritten. " + fact(42))
        os.replace(tmp, folder / "delta.txt")
        delays["save-by-rename"] = wait_in_step(index, folder, timeout=30)

        (folder / "sub").rename(tmp_path / "outside")  # a folder moved out, then back in under another name
        delays["folder moved out"] = wait_in_step(index, folder, timeout=30)
        (tmp_path / "outside").rename(folder / "back")
        delays["folder moved in"] = wait_in_step(index, folder, timeout=30)

        for i in range(2000):
            write(folder / "burst" / f"note{i:04d}.txt", fact(1000 + i))
        delays["2000-file burst"] = wait_in_step(index, folder, timeout=300)
    finally:
        watcher.stop()
    print("delays from the last write to an index equal to a fresh ingest (s):",
          {k: round(v, 2) for k, v in delays.items()})
    slow = {k: v for k, v in delays.items() if "burst" not in k and v > SETTLED_TO_INDEXED_S}
    assert not slow, f"slower than {SETTLED_TO_INDEXED_S} s: {slow}"

    # and the real thing: a fresh ingest, embedded and stored, holds the same documents and chunk ids
    fresh = tmp_path / "fresh"
    Assistant(index_dir=fresh).ingest([folder])
    assert index_state(index) == index_state(fresh)


def test_a_watcher_killed_mid_burst_catches_up_when_started_again(folder, tmp_path):
    index = tmp_path / "index"
    log = tmp_path / "watch.log"
    # small write batches, so the burst is written in many steps and the kill lands between them
    watcher = Watcher(folder, index, log, RAG_INGEST_BATCH_CHUNKS="50")
    wait_in_step(index, folder, timeout=120)
    for i in range(1000):
        write(folder / "burst" / f"note{i:04d}.txt", fact(2000 + i))
    deadline = time.monotonic() + 60
    while len(index_state(index)[0]) <= 3 and time.monotonic() < deadline:  # killed once it has begun
        time.sleep(0.02)
    watcher.stop(signal.SIGKILL)
    indexed = len(index_state(index)[0])
    assert 3 < indexed < 1003, f"{indexed} documents: the kill did not land mid-burst"
    # while no watcher runs: deletions, a rename and an edit
    for i in range(0, 300, 30):
        (folder / "burst" / f"note{i:04d}.txt").unlink()
    (folder / "burst" / "note0001.txt").rename(folder / "renamed.txt")
    write(folder / "alpha.txt", "Alpha was rewritten while nobody watched. " + fact(7))
    watcher = Watcher(folder, index, log)
    try:
        wait_in_step(index, folder, timeout=180)
    finally:
        watcher.stop()


def test_serve_with_watch_answers_from_a_file_added_while_it_runs(tmp_path):
    import httpx

    from support import free_port

    docs = tmp_path / "docs"
    write(docs / "swifts.txt", "Swifts arrive at the old mill in the first week of May.")
    port = free_port()
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(tmp_path / "index"),
                                 "--port", str(port), "--watch", str(docs)], stdout=out, stderr=subprocess.STDOUT,
                                env=clean_env(RAG_LLM="none", RAG_SEED_DIR=str(tmp_path / "no-seeds")))
    url = f"http://127.0.0.1:{port}"

    def cited(question: str) -> list[str]:
        answer = httpx.post(f"{url}/api/ask", json={"question": question}, timeout=60).json()
        return [Path(c["source"]).name for c in answer.get("citations", [])]

    try:
        deadline = time.monotonic() + 180
        while True:
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            try:
                if httpx.get(f"{url}/healthz", timeout=2).json().get("ready") and "swifts.txt" in cited(
                        "When do swifts arrive at the old mill?"):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        write(docs / "ferry.txt", "The ferry to Inchkeith leaves the harbour at nine every morning.")
        written = time.monotonic()
        while "ferry.txt" not in cited("When does the ferry to Inchkeith leave?"):
            assert time.monotonic() - written < 30, log.read_text()
            time.sleep(0.3)
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_until(condition, what: str, watcher: Watcher, timeout: float = 120):
    deadline = time.monotonic() + timeout
    while not condition():
        assert watcher.proc.poll() is None, f"rag watch exited with {watcher.proc.returncode}:\n{watcher.log.read_text()}"
        assert time.monotonic() < deadline, f"no {what} within {timeout} s:\n{watcher.log.read_text()}"
        time.sleep(POLL_S)


def test_a_folder_it_may_not_read_is_reported_and_watching_goes_on(folder, tmp_path):
    """Issue 19, item 1: a sub-folder the process cannot read raised PermissionError from
    Path.exists() and `rag watch` exited 1. Run as a user bound by file permissions (as root,
    without its override capabilities): the folder is reported with the reason, what it held
    leaves the index (as a fresh ingest would have it), other edits still arrive, and once it is
    readable again its files come back."""
    locked = folder / "locked"
    write(locked / "inside.txt", "The lockkeeper's log is kept in the locked cupboard.")
    index = tmp_path / "index"
    watcher = Watcher(folder, index, tmp_path / "watch.log", prefix=without_file_permission_override())
    try:
        inside = str((locked / "inside.txt").resolve())
        wait_until(lambda: inside in index_state(index)[0], "first sync", watcher)
        locked.chmod(0)
        write(folder / "delta.txt", "Delta opens after the lock was closed. " + fact(7))
        delta = str((folder / "delta.txt").resolve())
        wait_until(lambda: (s := index_state(index)[0]) and delta in s and inside not in s, "delta.txt in, inside.txt out",
                   watcher)
        wait_until(lambda: any("Permission denied" in f["reason"] and f["path"] == str(locked.resolve())
                               for r in watcher.reports() for f in r["failed"]), "the report of locked/", watcher)
        locked.chmod(0o755)
        wait_until(lambda: inside in index_state(index)[0], "inside.txt back once readable", watcher)
    finally:
        locked.chmod(0o755)
        watcher.stop()
    assert watcher.proc.returncode == 0, watcher.log.read_text()


def test_watch_that_cannot_write_the_index_exits_non_zero_with_the_reason(folder, tmp_path):
    """Issue 19, item 1: a watcher that does stop says why. The index's disk fills up under
    `rag watch` (a small tmpfs): the next sync cannot be written, and `rag watch` exits 4 with
    "watching stopped:" and the reason, no traceback."""
    disk = tmp_path / "disk"
    with small_tmpfs(disk):
        index = disk / "index"
        watcher = Watcher(folder, index, tmp_path / "watch.log")
        try:
            wait_until(lambda: len(index_state(index)[0]) == 3, "first sync", watcher)
            fill(disk)
            write(folder / "delta.txt", "Delta arrives on a full disk. " + fact(9))
            watcher.proc.wait(timeout=60)
        finally:
            if watcher.proc.poll() is None:
                watcher.stop()
    log = watcher.log.read_text()
    assert watcher.proc.returncode == 4, log
    assert "rag: watching stopped:" in log and "Traceback" not in log, log
