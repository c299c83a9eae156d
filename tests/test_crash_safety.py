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


BEACON_V1 = ("The harbour beacon of Kirkwall is kept by Arvid Holm. He lights it every evening at dusk.\n\n"
             + _paragraphs("beacon", 3))
BEACON_V2 = ("Notice: the beacon rota changed in the spring of that year. The harbour beacon of Kirkwall is "
             "kept by Maren Lund. She lights it every evening at dusk.\n\n" + _paragraphs("beacon", 3))
BEACON_Q = "Who keeps the harbour beacon of Kirkwall?"


@pytest.mark.parametrize("point", ["store.put.record:1", "store.put.cleanup:1"])
def test_an_open_reader_never_serves_what_a_killed_writer_superseded(rag_cli, tmp_path, point):
    """Issue 14, item 4: a long-lived reader (the server's Assistant, opened before) keeps
    answering while a writer is killed after committing a document's new record but before
    deleting its old chunks. The old chunks stay in Chroma (only a writer repairs), yet no answer
    cites them, and every citation is the stored document's text at its offsets."""
    import time

    docs, no_seeds = tmp_path / "docs", tmp_path / "no-seeds"
    docs.mkdir()
    (docs / "alpha.md").write_text(_paragraphs("alpha", 4))
    beacon = docs / "beacon.txt"
    beacon.write_text(BEACON_V1)
    reader = Assistant(index_dir=tmp_path / "index", seed_dir=no_seeds)
    reader.ingest([docs])
    old_hash = {s.source: s.content_hash for s in reader.sources()}[str(beacon)]
    assert "Arvid Holm" in reader.ask(BEACON_Q).text

    beacon.write_text(BEACON_V2)
    ran = rag_cli(["ingest", "--index", tmp_path / "index", docs], RAG_FAULT_POINT=point,
                  RAG_SEED_DIR=str(no_seeds), RAG_INGEST_BATCH_CHUNKS="1")
    assert ran.returncode == -signal.SIGKILL, ran.output
    left = reader.store.chunks.get(where={"source": str(beacon)}, include=["metadatas"])["metadatas"]
    assert any(m["hash"] == old_hash for m in left) == (point == "store.put.record:1")

    answers = []
    deadline = time.monotonic() + 2 * 2.0 + 1  # past the store's manifest re-check (every 2 s)
    while time.monotonic() < deadline:
        answer = reader.ask(BEACON_Q)
        answers.append(answer)
        assert "Arvid" not in answer.text and not any("Arvid" in c.quote for c in answer.citations), answer.text
        for c in answer.citations:
            assert reader.document(c.source).text[c.start:c.end] == c.quote
    assert "Maren Lund" in answers[-1].text
    assert not any("Arvid" in p.text for p in reader.retrieve(BEACON_Q, k=10))


def test_passages_and_citations_that_are_not_the_stored_text_are_dropped_and_logged(tmp_path, caplog):
    """The last line of defence of item 4: whatever the store hands out, an answer cites only
    what `document.text[start:end]` holds. Here the stored text changes under chunks whose hash
    still matches (so the manifest filter keeps them): nothing of them is shown, and it is logged."""
    import logging

    from dataclasses import replace

    from rag.assistant import _checked_citations, _StoredTexts
    from rag.types import Answer, AnswerSentence, Citation

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "beacon.txt").write_text(BEACON_V1)
    a = Assistant(index_dir=tmp_path / "index", seed_dir=tmp_path / "no-seeds")
    a.ingest([docs])
    source = str(docs / "beacon.txt")
    good = a.ask(BEACON_Q)
    assert "Arvid Holm" in good.text and good.citations

    stored = a.store.docs.get(ids=[source], include=["documents"])["documents"][0]
    a.store.docs.update(ids=[source], embeddings=[[1.0]],
                        documents=["Moved along by forty characters of new text. " + stored])
    with caplog.at_level(logging.WARNING, logger="rag.assistant"):
        answer = a.ask(BEACON_Q)
    assert "Arvid" not in answer.text and not answer.citations and answer.abstained
    assert "no longer matches the stored text" in caplog.text

    # The citation check itself: the sentence citing a wrong quote goes, the rest is renumbered.
    text = a.document(source).text
    right = Citation(n=2, source=source, start=0, end=10, quote=text[0:10], score=1.0)
    wrong = replace(right, n=1, start=5, end=15, quote="not there!")
    answer = Answer(text="A [1] B [2]", citations=[wrong, right], abstained=False,
                    sentences=[AnswerSentence("A", (1,)), AnswerSentence("B", (2,))])
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="rag.assistant"):
        checked = _checked_citations(answer, _StoredTexts(a.store), [], keep_text=False)
    assert [(c.n, c.quote) for c in checked.citations] == [(1, text[0:10])]
    assert [s.text for s in checked.sentences] == ["B"] and checked.text == "B [1]"
    assert "dropped citation [1]" in caplog.text
