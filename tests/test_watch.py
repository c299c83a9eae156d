"""What `rag watch` relies on, in-process: a sync with gone documents re-keys renamed files
without embedding, removes what is gone or unreadable, and leaves the index as a fresh ingest
would; `Assistant.watch` follows a folder from a thread and stops when asked. The subprocess,
timing and kill tests are in tests/e2e/test_watch_command.py."""

from __future__ import annotations

import threading
import time
from pathlib import Path

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


# ---- issue 19: a watcher that survives the file system ---------------------------------------------

class _Watching:
    """`Assistant.watch` on a thread of its own, its reports kept, any exception it ends with kept."""

    def __init__(self, assistant: Assistant, folder, **kwargs):
        self.assistant, self.reports, self.error = assistant, [], None
        self.stop = threading.Event()

        def run():
            try:
                assistant.watch([folder], self.stop, on_sync=self.reports.append, **kwargs)
            except BaseException as e:  # noqa: BLE001 - the test reads it
                self.error = e

        self.thread = threading.Thread(target=run, daemon=True)

    def __enter__(self):
        self.thread.start()
        self.wait_for(lambda: self.reports, "the first sync")
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=30)
        assert not self.thread.is_alive()

    def wait_for(self, condition, what: str, timeout: float = 60):
        deadline = time.monotonic() + timeout
        while not condition():
            assert self.error is None, f"the watcher stopped: {self.error!r}"
            assert self.thread.is_alive(), "the watcher stopped"
            assert time.monotonic() < deadline, f"no {what} within {timeout} s; reports: {self.reports}"
            time.sleep(0.05)
        return time.monotonic()

    def failed(self) -> dict[str, str]:
        return {Path(f.path).name: f.reason for r in self.reports for f in r.failed}

    def names(self) -> set[str]:
        return {Path(s.source).name for s in self.assistant.sources()}


def _special_files(folder: Path, tag: str) -> list[str]:
    """A self-link, a two-link cycle, a FIFO, a socket and (as root) a device node in `folder`."""
    import os
    import socket
    import stat

    os.symlink(f"self-{tag}", folder / f"self-{tag}")
    os.symlink(f"cycle-b-{tag}", folder / f"cycle-a-{tag}")
    os.symlink(f"cycle-a-{tag}", folder / f"cycle-b-{tag}")
    os.mkfifo(folder / f"fifo-{tag}.txt")  # an open() of it blocks until a writer comes
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(folder / f"socket-{tag}.md"))
    sock.close()
    names = [f"self-{tag}", f"cycle-a-{tag}", f"cycle-b-{tag}", f"fifo-{tag}.txt", f"socket-{tag}.md"]
    try:
        os.mknod(folder / f"device-{tag}.txt", 0o600 | stat.S_IFCHR, os.makedev(1, 5))  # /dev/zero's numbers
        names.append(f"device-{tag}.txt")
    except PermissionError:  # not root: the other kinds are still checked
        pass
    return names


def test_loops_pipes_sockets_and_devices_are_reported_and_watching_goes_on(fresh_assistant, docs_dir):
    """Issue 19, item 1: a self-link or a link cycle raised RuntimeError from Path.resolve() and
    stopped the watcher. Now each of them, and FIFOs, sockets and device nodes, present at the start
    or made while watching, is skipped and reported with its reason, and later edits still arrive."""
    (docs_dir / "good.txt").write_text("The ferry to Inchkeith leaves at nine.")
    before = _special_files(docs_dir, "old")
    with _Watching(fresh_assistant, docs_dir) as w:
        failed = w.failed()
        assert w.names() == {"good.txt"}
        for name in before:
            assert name in failed, (name, failed)
        assert "loop" in failed["self-old"] and "loop" in failed["cycle-a-old"], failed
        assert all("not a regular file" in failed[n] for n in before if n.startswith(("fifo", "socket", "device")))
        sub = docs_dir / "sub"
        sub.mkdir()
        during = _special_files(sub, "new")  # made while watching, in a folder that appeared
        (sub / "later.txt").write_text("Swallows nest under the bridge in April.")
        w.wait_for(lambda: "later.txt" in w.names(), "later.txt")
        w.wait_for(lambda: all(n in w.failed() for n in during), "reports of the new special files")
        (docs_dir / "last.md").write_text("Herons fish the millpond at dawn.")
        w.wait_for(lambda: "last.md" in w.names(), "last.md")
    assert w.error is None and w.names() == {"good.txt", "later.txt", "last.md"}
    assert_index_consistent(fresh_assistant)


def _inotify_watches() -> int:
    """The inotify watches this process holds (all its inotify descriptors together)."""
    import os

    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == "anon_inode:inotify":
                with open(f"/proc/self/fdinfo/{fd}") as info:
                    count += sum(line.startswith("inotify wd:") for line in info)
        except OSError:
            continue
    return count


def test_a_link_to_root_inside_the_folder_is_never_walked_nor_watched(fresh_assistant, docs_dir):
    """Issue 19, item 2: a link to / inside a watched folder was walked in full (71 s of CPU, 7,635
    outside paths reported) before a canary file was indexed. Now it is resolved before anything
    under it is listed: one report line, no watch outside the folder, the canary indexed at once."""
    import os

    (docs_dir / "a.txt").write_text("Swifts arrive at the old mill in May.")
    (docs_dir / "sub").mkdir()
    os.symlink("/", docs_dir / "root")
    with _Watching(fresh_assistant, docs_dir) as w:
        os.symlink("/etc", docs_dir / "sub" / "etc")  # made while watching
        (docs_dir / "sub" / "canary.txt").write_text("The canary sings at the top of the stairs.")
        written = time.monotonic()
        indexed = w.wait_for(lambda: "canary.txt" in w.names(), "canary.txt", timeout=30)
        assert indexed - written < 5
        w.wait_for(lambda: "etc" in w.failed(), "the report of sub/etc")
        failed = [f for r in w.reports for f in r.failed]
        assert sorted(Path(f.path).name for f in failed) == ["etc", "root"], failed
        assert all("symlink leads outside" in f.reason for f in failed)
        assert _inotify_watches() <= 3  # docs/ and docs/sub/ (the lock files' folder is not watched)
    assert w.error is None


def test_a_folder_put_in_a_files_place_removes_its_document_at_once_and_back(fresh_assistant, docs_dir):
    """Issue 19, items 1 and 6: a folder that replaced a file left the old document for ~59 s (until
    the rescan). Now it goes with the batch that saw the swap, and the swap back works too."""
    import shutil

    note = docs_dir / "note.txt"
    note.write_text("The kiln was fired on Tuesday.")
    with _Watching(fresh_assistant, docs_dir) as w:
        assert w.names() == {"note.txt"}
        note.unlink()
        note.mkdir()  # an empty folder where the file was
        swapped = time.monotonic()
        gone = w.wait_for(lambda: "note.txt" not in w.names(), "the old document's removal", timeout=30)
        assert gone - swapped < 3
        (note / "inner.txt").write_text("The glaze came out blue.")
        w.wait_for(lambda: w.names() == {"inner.txt"}, "inner.txt")
        shutil.rmtree(note)
        note.write_text("The kiln was fired again on Friday.")  # and back to a file
        w.wait_for(lambda: w.names() == {"note.txt"}, "note.txt, the file again", timeout=30)
    assert w.error is None
    assert_index_consistent(fresh_assistant)


def test_a_renamed_folder_of_a_hundred_files_is_rekeyed_without_embedding(fresh_assistant, docs_dir):
    """Issue 19, item 6: renaming a folder of 100 files re-embedded 64 of them (the first part of
    the sync, parsed 64 at a time, did not know the old names were gone). Now none."""
    folder = docs_dir / "letters"
    folder.mkdir()
    for i in range(100):
        (folder / f"letter{i:03}.txt").write_text(f"Letter {i}: the keeper of lock {i} logged {3 * i} barges.")
    with _Watching(fresh_assistant, docs_dir) as w:
        assert len(w.names()) == 100
        embedded = fresh_assistant.embedder.texts_embedded
        folder.rename(docs_dir / "archive")
        w.wait_for(lambda: all(s.source.startswith(str((docs_dir / "archive").resolve()))
                               for s in fresh_assistant.sources()), "the re-keyed folder")
        time.sleep(1.5)  # a late batch of the rename has nothing left to do either
        assert len(fresh_assistant.sources()) == 100
        assert fresh_assistant.embedder.texts_embedded == embedded
        assert sum(len(r.moved) for r in w.reports) == 100
    assert_index_consistent(fresh_assistant)


def test_a_file_that_keeps_growing_is_reindexed_at_most_once_per_busy_period(fresh_assistant, docs_dir, caplog):
    """Issue 19, item 6: a file appended to every second was re-indexed on every batch (~80 s of
    CPU a minute). Now after a re-indexing that took T seconds, the file waits _BUSY_FACTOR * T
    before it is indexed again: at most 1/(1 + _BUSY_FACTOR) of the time goes to it, and its last
    state arrives. (A single edit is applied at once: see the edit in test_watch_command.)"""
    import logging
    import re

    from rag.watch import _BUSY_FACTOR, _BUSY_MAX_S

    log = docs_dir / "growing.log"
    line = "The pump at station {n} ran for {m} minutes and lifted water to the upper basin. "
    log.write_text("".join(line.format(n=i, m=i % 60) for i in range(250)))  # ~25 KB: a sync takes a while
    caplog.set_level(logging.DEBUG, logger="rag.watch")
    with _Watching(fresh_assistant, docs_dir) as w:
        started = time.monotonic()
        n = 250
        while time.monotonic() - started < 24:
            with open(log, "a") as fh:
                fh.write(line.format(n=n, m=n % 60))
            n += 1
            time.sleep(0.2)
        final = log.read_text()
        w.wait_for(lambda: fresh_assistant.document(str(log.resolve())).text == final.strip()
                   or fresh_assistant.document(str(log.resolve())).text == final, "the last state", timeout=60)
    syncs = [(r.created, float(m.group(1))) for r in caplog.records
             if (m := re.search(r"changed paths synced in ([\d.]+) s", r.getMessage()))]
    busy = [(end, took) for end, took in syncs if took > 0.05]  # those that read the file (the others hold it)
    assert len(busy) >= 2, syncs
    for (end, took), (next_end, next_took) in zip(busy, busy[1:]):
        idle = (next_end - next_took) - end
        assert idle >= min(_BUSY_FACTOR * took, _BUSY_MAX_S) * 0.9, (end, took, next_end, next_took)


def test_a_folder_made_anew_under_the_same_name_is_watched_again(fresh_assistant, docs_dir):
    """A watched folder removed, a file put in its place, then a folder again under that name: the
    new folder has a watch of its own (the old one went with the removed folder's inode), so a file
    written into it arrives in seconds, not at the next rescan."""
    import shutil

    sub = docs_dir / "sub"
    sub.mkdir()
    (sub / "a.txt").write_text("Swifts arrive at the old mill in May.")
    with _Watching(fresh_assistant, docs_dir) as w:
        assert w.names() == {"a.txt"}
        shutil.rmtree(sub)
        sub.write_text("The sub file says the herons fish at dawn.")
        w.wait_for(lambda: w.names() == {"sub"}, "sub as a file", timeout=30)
        sub.unlink()
        sub.mkdir()
        time.sleep(2)  # the new folder is seen (and watched) before anything is written in it
        (sub / "late.txt").write_text("Otters sleep wrapped in kelp.")
        written = time.monotonic()
        arrived = w.wait_for(lambda: w.names() == {"late.txt"}, "late.txt in the new folder", timeout=30)
        assert arrived - written < 5
    assert w.error is None
