"""Several processes on one local index: a second `rag ingest` waits for the one writing (with a
message) and never corrupts the index; questions from another process keep being answered while
ingests run."""

from __future__ import annotations

import fcntl
import subprocess
import sys
import time
from pathlib import Path

from reliability_support import check_index_is_whole, cli_env
from rag import Assistant
from rag.store import _STAMP_CHECK_S

KEEPER = "The lighthouse keeper of Skerryvore wrote letters every winter and kept them in a tin box."


def _corpus(folder: Path, tag: str, files: int, paragraphs: int) -> Path:
    folder.mkdir(parents=True)
    for i in range(files):
        (folder / f"{tag}{i}.txt").write_text("\n\n".join(
            f"The {tag} ledger {i} notes shipment {j} of copper and tin through the port." for j in range(paragraphs)))
    return folder


def test_concurrent_ingests_wait_for_each_other_while_questions_are_answered(tmp_path):
    index, no_seeds = tmp_path / "index", tmp_path / "no-seeds"
    (tmp_path / "keeper.txt").write_text(KEEPER)
    reader = Assistant(index_dir=index, seed_dir=no_seeds)
    reader.ingest([tmp_path / "keeper.txt"])
    expected = reader.ask("Where did the keeper keep his letters?")
    assert not expected.abstained

    corpora = [_corpus(tmp_path / "a", "alpha", 30, 20), _corpus(tmp_path / "b", "beta", 30, 20)]
    lock = open(index / ".ingest.lock", "a+")  # play the part of an ingest already writing
    fcntl.flock(lock, fcntl.LOCK_EX)
    logs = [tmp_path / "a.log", tmp_path / "b.log"]
    procs = [subprocess.Popen([sys.executable, "-m", "rag.cli", "ingest", "--index", str(index), str(c)],
                              env=cli_env(RAG_SEED_DIR=str(no_seeds)), stdout=open(log, "w"), stderr=subprocess.STDOUT)
             for c, log in zip(corpora, logs)]
    deadline = time.monotonic() + 120
    while not all("another ingest is writing" in log.read_text() for log in logs):
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs), [log.read_text() for log in logs]
        time.sleep(0.5)
    fcntl.flock(lock, fcntl.LOCK_UN)  # now they run, one after the other
    lock.close()
    t0 = time.monotonic()

    answers = 0
    while any(p.poll() is None for p in procs):  # questions from this process meanwhile
        got = reader.ask("Where did the keeper keep his letters?")
        assert got.text == expected.text  # the same cited sentence (scores move with the corpus's IDF)
        assert [(c.source, c.start, c.end) for c in got.citations] == [(c.source, c.start, c.end)
                                                                       for c in expected.citations]
        answers += 1
        time.sleep(0.5)  # a person asking, not a busy loop competing for the CPU with the ingests
    assert [p.returncode for p in procs] == [0, 0], [log.read_text() for log in logs]
    assert answers >= 3
    print(f"{answers} answers in {time.monotonic() - t0:.1f}s of ingesting")

    a = check_index_is_whole(index, "copper shipment ledger")
    assert len(a.sources()) == 61
    # The reader (opened before the ingests) sees the new documents once it next looks for other
    # processes' writes: it looks at most every _STAMP_CHECK_S, and may have just looked.
    time.sleep(_STAMP_CHECK_S)
    assert any("ledger" in p.text for p in reader.retrieve("Which ledger notes shipment 7 of copper?"))
