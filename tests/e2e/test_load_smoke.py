"""A short run of bench/load_test.py: concurrent clients against the real `rag serve` while another
process ingests, then a burst beyond the queue. Zero errors, refusals are 503 + Retry-After, every
document indexed. The full 60 s / 32-client run is in BENCHMARKS.md."""

from __future__ import annotations

import json
import subprocess
import sys

from server_support import REPO, server_env


def test_load_smoke_no_errors_nothing_lost():
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "load_test.py"), "--duration", "8", "--clients", "8",
                           "--docs", "10", "--burst", "48", "--burst-seconds", "4"],
                          env=server_env(), capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads(proc.stdout[proc.stdout.index("{"):])
    assert result["load"]["errors"] == 0 and result["load"]["answered"] > 0
    assert result["burst"]["errors"] == 0 and result["burst"]["refused_503"] > 0
    assert result["documents"] == result["documents_expected"] and result["index_whole"]
