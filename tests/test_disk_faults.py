"""A read-only index folder and a full disk: `rag ingest` stops with a clear message (exit 4, no
traceback), nothing is half-written (the index stays whole), and once space is back the ingest
completes. Both use a small tmpfs mounted by the test (needs root with CAP_SYS_ADMIN, as in our
CI container; skipped otherwise). A read-only mount blocks root too, unlike chmod."""

from __future__ import annotations

import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from reliability_support import REPO, check_index_is_whole


@pytest.fixture
def tmpfs(tmp_path):
    mnt = tmp_path / f"fs-{uuid.uuid4().hex[:6]}"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=24m", "tmpfs", str(mnt)], capture_output=True).returncode:
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], check=False)


def _docs(folder: Path, n: int, tag: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"{tag}{i}.txt").write_text("\n\n".join(
            f"{tag} harbour {i}, table {j}: high water at hour {j} on each day of the spring season." for j in range(40)))
    return folder


def _seed_index(rag_cli, tmpfs: Path, tmp_path: Path) -> Path:
    index = tmpfs / "index"
    shutil.copytree(REPO / "seeds", tmp_path / "seeds")
    assert rag_cli(["ingest", "--index", index, tmp_path / "seeds"]).returncode == 0
    return index


def test_ingest_into_a_read_only_index_fails_clearly_and_changes_nothing(rag_cli, tmpfs, tmp_path):
    index = _seed_index(rag_cli, tmpfs, tmp_path)
    before = {p: p.read_bytes() for p in index.rglob("*") if p.is_file()}
    subprocess.run(["mount", "-o", "remount,ro", str(tmpfs)], check=True)
    ran = rag_cli(["ingest", "--index", index, _docs(tmp_path / "new", 2, "ro")])
    assert ran.returncode == 4, ran.output
    assert "Traceback" not in ran.output and "writable" in ran.output
    assert {p: p.read_bytes() for p in index.rglob("*") if p.is_file()} == before
    ask = rag_cli(["ask", "--index", index, "who is Ismail Shukri?"])
    assert ask.returncode == 4 and "Traceback" not in ask.output and "writable" in ask.output


def test_disk_full_during_ingest_fails_clearly_and_the_index_stays_whole(rag_cli, tmpfs, tmp_path):
    index = _seed_index(rag_cli, tmpfs, tmp_path)
    filler = tmpfs / "filler"
    free_kb = shutil.disk_usage(tmpfs).free // 1024
    subprocess.run(["dd", "if=/dev/zero", f"of={filler}", "bs=1k", f"count={free_kb - 200}"], check=True,
                   capture_output=True)
    docs = _docs(tmp_path / "big", 12, "full")
    ran = rag_cli(["ingest", "--index", index, docs])
    assert ran.returncode == 4, ran.output
    assert "Traceback" not in ran.output and "disk is not full" in ran.output

    filler.unlink()  # space is back: the index is whole, and the ingest completes
    check_index_is_whole(index, "Ismail Shukri Misrata")
    a = check_index_is_whole(index, "harbour high water")
    report = a.ingest([docs])
    assert not report.failed and len(report.added) + len(report.unchanged) == 12
    check_index_is_whole(index, "harbour high water")
