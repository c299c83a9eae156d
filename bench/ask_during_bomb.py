"""/api/ask latency while a hostile upload is being parsed (issue 14, item 1), against a baseline
with nothing else going on.

    python bench/ask_during_bomb.py --seconds 20

A real uvicorn server over an Assistant on the seed article, in this process. The bomb is the
32 KB PDF of tests/test_hostile_input.py whose pages share one stream inflating to ~4.4 M
characters each; the page and text limits are raised so that its parse runs until
`--parse-timeout` (at the defaults it is refused at once). While it is parsed, one client asks the
seed question back to back; the figures are that client's latencies. Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "tests" / "e2e")]


def percentiles(ms: list[float]) -> dict:
    ms = sorted(ms)
    return {"n": len(ms), "p50_ms": round(statistics.median(ms), 1),
            "p95_ms": round(ms[min(len(ms) - 1, int(0.95 * len(ms)))], 1), "max_ms": round(ms[-1], 1)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=20.0, help="baseline duration")
    ap.add_argument("--parse-timeout", type=float, default=20.0)
    args = ap.parse_args()

    import httpx

    from rag import Assistant
    from rag.server.app import create_app
    from server_support import live_server
    from support import SEEDS
    from test_hostile_input import inflating_pdf

    tmp = Path(tempfile.mkdtemp(prefix="rag-bomb-"))
    assistant = Assistant(index_dir=tmp / "index", seed_dir=SEEDS, parse_timeout_s=args.parse_timeout,
                          max_page_chars=100_000_000, max_text_mb=10_000)
    assistant.ensure_seeded()
    bomb = inflating_pdf(tmp / "bomb.pdf").read_bytes()
    question = {"question": "who is Ismail Shukri?"}
    with live_server(create_app(assistant, warm_up=False)) as (host, port):
        base = f"http://{host}:{port}"
        with httpx.Client(base_url=base, timeout=120, headers={"X-Requested-With": "bench"}) as c:
            c.post("/api/ask", json=question)  # warm

            def ask_until(stop) -> tuple[list[float], list[int]]:
                lat, codes = [], []
                while not stop():
                    t0 = time.perf_counter()
                    codes.append(c.post("/api/ask", json=question).status_code)
                    lat.append((time.perf_counter() - t0) * 1000)
                return lat, codes

            end = time.monotonic() + args.seconds
            baseline, _ = ask_until(lambda: time.monotonic() > end)
            upload: dict = {}

            def send() -> None:
                with httpx.Client(base_url=base, timeout=600, headers={"X-Requested-With": "bench"}) as u:
                    t0 = time.perf_counter()
                    r = u.post("/api/documents", files=[("files", ("bomb.pdf", bomb, "application/pdf"))])
                    upload.update(status=r.status_code, result=r.json()["results"][0],
                                  seconds=round(time.perf_counter() - t0, 1))

            sender = threading.Thread(target=send)
            sender.start()
            time.sleep(0.5)  # the upload is being parsed
            during, codes = ask_until(lambda: not sender.is_alive())
            sender.join()
    print(json.dumps({"baseline": percentiles(baseline), "during_bomb_parse": percentiles(during),
                      "statuses_during": sorted(set(codes)), "upload": upload}, indent=2))


if __name__ == "__main__":
    main()
