"""The README's Python blocks run as written (issue 18: its example named an undefined `stop_event`,
and `a.watch(...)` copied as is blocked the script). Each block runs in a fresh interpreter, in a
folder laid out as the README says: docs/ holding the seed article, report.pdf, a.txt and b.txt."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys

from support import REPO, SEED_FILE, clean_env, make_pdf

BLOCKS = re.findall(r"```python\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S)


def test_the_readme_has_python_blocks():
    assert BLOCKS and any("Assistant" in b for b in BLOCKS)


def test_every_python_block_of_the_readme_runs_as_written(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(SEED_FILE, docs / SEED_FILE.name)
    make_pdf(docs / "report.pdf", ["The harbour report: the new pier opens in May 2026.",
                                   "Repairs to the north wall cost 48,500 euros."], title="Harbour report")
    (docs / "a.txt").write_text("The draft minutes award the roof contract to Castlebar for 45,800 euros.\n")
    (docs / "b.txt").write_text("The final minutes award the roof contract to Dunmore for 48,500 euros.\n")
    for n, block in enumerate(BLOCKS, start=1):
        done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=clean_env(), capture_output=True,
                              text=True, timeout=600)
        assert done.returncode == 0, f"README python block {n} failed:\n{block}\n{done.stderr[-3000:]}"
        if "a.ask(" in block:
            assert "Ismail Shukri" in done.stdout and "report" in done.stdout.lower(), done.stdout[-2000:]
