"""What `rag watch` relies on, in-process: a sync with gone documents re-keys renamed files
without embedding, removes what is gone or unreadable, and leaves the index as a fresh ingest
would; `Assistant.watch` follows a folder from a thread and stops when asked. The subprocess,
timing and kill tests are in tests/e2e/test_watch_command.py."""

from __future__ import annotations

import threading
import time

from support import assert_index_consistent, chunk_records
from rag import Assistant


def _ids_by_source(assistant: Assistant) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for cid, record in chunk_records(assistant).items():
        out.setdefault(record["meta"]["source"], set()).add(cid)
    return out


def test_a_renamed_file_is_rekeyed_with_its_vectors_and_nothing_embedded(fresh_assistant, docs_dir, tmp_path):
    (docs_dir / "old.txt").write_text("The ferry to Inchkeith leaves at nine. It returns at four.")
    fresh_assistant.ingest([docs_dir])
    embedded = fresh_assistant.embedder.texts_embedded
    (docs_dir / "old.txt").rename(docs_dir / "new.txt")
    report = fresh_assistant.ingester.ingest_files([(docs_dir / "new.txt").resolve()],
                                                   gone=[str((docs_dir / "old.txt").resolve())])
    assert report.moved == [str((docs_dir / "new.txt").resolve())] and report.chunks_embedded == 0
    # one move, not "1 moved, 1 removed" (issue 18)
    assert report.moved_from == [str((docs_dir / "old.txt").resolve())] and report.removed == []
    assert fresh_assistant.embedder.texts_embedded == embedded
    assert_index_consistent(fresh_assistant)
    fresh = Assistant(index_dir=tmp_path / "fresh")
    fresh.ingest([docs_dir])
    assert _ids_by_source(fresh_assistant) == _ids_by_source(fresh)
    answer = fresh_assistant.ask("When does the ferry to Inchkeith leave?")
    assert answer.citations and answer.citations[0].source.endswith("new.txt")


def test_a_file_that_can_no_longer_be_read_leaves_the_index_when_syncing(fresh_assistant, docs_dir):
    note = docs_dir / "note.txt"
    note.write_text("The kiln was fired on Tuesday.")
    fresh_assistant.ingest([docs_dir])
    note.write_bytes(b"\x00\x01binary now")
    report = fresh_assistant.ingester.ingest_files([note.resolve()], drop_failed=True)
    assert report.removed == [str(note.resolve())] and fresh_assistant.sources() == []


def test_assistant_watch_follows_a_folder_from_a_thread_and_stops(fresh_assistant, docs_dir):
    (docs_dir / "a.txt").write_text("Swifts arrive in May.")
    stop, reports = threading.Event(), []
    thread = threading.Thread(target=fresh_assistant.watch, args=([docs_dir], stop), kwargs={"on_sync": reports.append})
    thread.start()
    try:
        deadline = time.monotonic() + 60
        while not reports and time.monotonic() < deadline:
            time.sleep(0.05)
        (docs_dir / "b.txt").write_text("Swallows arrive in April.")
        while len(fresh_assistant.sources()) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert [s.source for s in fresh_assistant.sources()] == [str((docs_dir / n).resolve()) for n in ("a.txt", "b.txt")]
    finally:
        stop.set()
        thread.join(timeout=10)
    assert not thread.is_alive()


def test_a_sync_parses_a_slow_file_without_holding_the_ingest_lock(tmp_path, docs_dir):
    """Issue 14, item 1: `rag serve --watch` uploads wait for the ingest lock under the server's
    answering lock, so the watcher must not hold it while it parses: a PDF that takes until its
    parse time limit (3 s) is parsed with the lock free, then reported."""
    from pathlib import Path

    from test_hostile_input import inflating_pdf

    from rag.ingest import ingest_lock
    from rag.watch import _Sync

    inflating_pdf(docs_dir / "slow.pdf")
    (docs_dir / "good.txt").write_text("The ferry to Inchkeith leaves at nine. It returns at four.")
    a = Assistant(index_dir=tmp_path / "index", parse_timeout_s=3, max_page_chars=100_000_000, max_text_mb=10_000)
    a.store  # opened before the sync starts
    sync = _Sync(a.ingester, [docs_dir.resolve()], [], follow_symlinks=False)
    result: dict = {}
    worker = threading.Thread(target=lambda: result.setdefault("report", sync.full()))
    worker.start()
    free = []
    while worker.is_alive():
        with ingest_lock(Path(a.settings.index_dir), shared=False, wait=False) as got:
            free.append(got)
        time.sleep(0.2)
    worker.join()
    failed = {Path(f.path).name: f.reason for f in result["report"].failed}
    assert "longer than 3 s" in failed["slow.pdf"]
    assert [Path(s.source).name for s in a.sources()] == ["good.txt"]
    assert len(free) >= 10 and sum(free) >= 10, free  # the lock was free during the 3 s parse


def test_a_move_seen_new_name_first_embeds_nothing(fresh_assistant, docs_dir):
    """A move into a new folder can reach the watcher as two batches: the folder that appeared
    (holding the file) first, the old name's deletion after. The new name must still be re-keyed
    from the old document, not embedded again (seen under load in test_watch_command)."""
    from rag.watch import _Sync

    (docs_dir / "beta.md").write_text("The ferry to Inchkeith leaves at nine. It returns at four.")
    sync = _Sync(fresh_assistant.ingester, [docs_dir.resolve()], [], follow_symlinks=False)
    sync.full()
    embedded = fresh_assistant.embedder.texts_embedded
    (docs_dir / "sub").mkdir()
    (docs_dir / "beta.md").rename(docs_dir / "sub" / "beta.md")
    first = sync.changed({(docs_dir / "sub").resolve()})  # only the new folder's event so far
    second = sync.changed({(docs_dir / "beta.md").resolve()})  # then the old name's deletion
    assert first.moved == [str((docs_dir / "sub" / "beta.md").resolve())] and first.chunks_embedded == 0
    assert not second.removed and not second.added
    assert fresh_assistant.embedder.texts_embedded == embedded
    assert [s.source for s in fresh_assistant.sources()] == [str((docs_dir / "sub" / "beta.md").resolve())]
    assert_index_consistent(fresh_assistant)
