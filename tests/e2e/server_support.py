"""Starting and stopping the real `rag serve` in a subprocess on 127.0.0.1 and a free port, for the
end-to-end tests (fixtures in conftest.py); an app served in a thread (`live_server`), and a slowed
answer stream (`slow_stream`) for what needs time to happen mid-answer."""

from __future__ import annotations

import signal
import subprocess
import sys
import shutil
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from support import clean_env as server_env  # noqa: E402
from support import free_port

from rag import Assistant
from rag.types import Reply

REPO = Path(__file__).resolve().parents[2]
API_KEY = "test-key-5f2c"
MAX_UPLOAD_MB = 1.0


@dataclass
class Server:
    url: str
    index_dir: Path
    proc: subprocess.Popen
    log: Path
    headers: dict = field(default_factory=dict)

    def client(self, headers: dict | None = None) -> httpx.Client:
        return httpx.Client(base_url=self.url, headers={**self.headers, **(headers or {})}, timeout=120)


def start_server(workdir: Path, **env: str) -> Server:
    workdir.mkdir(parents=True, exist_ok=True)
    index_dir, port, log = workdir / "index", free_port(), workdir / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "rag.cli", "serve", "--index", str(index_dir),
                                 "--port", str(port)], env=server_env(**env), cwd=workdir, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    server = Server(f"http://127.0.0.1:{port}", index_dir, proc, log)
    deadline = time.monotonic() + 300  # first start indexes the seeds and loads the models
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"rag serve exited with {proc.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=2).json().get("ready"):
                return server
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    stop_server(server)
    pytest.fail(f"rag serve was not ready in time:\n{log.read_text()}")


def stop_server(server: Server) -> None:
    if server.proc.poll() is None:
        server.proc.send_signal(signal.SIGINT)
        try:
            server.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.proc.kill()
            server.proc.wait()


@contextmanager
def live_server(app):
    """`app` served by uvicorn on 127.0.0.1 in a thread: for what needs a real HTTP connection."""
    import uvicorn

    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    try:
        yield "127.0.0.1", port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def slow_stream(assistant: Assistant, produced: list[str], pause_s: float = 0.3):
    """`assistant.stream` handing out its answer a word at a time, `pause_s` apart, recording each
    word produced; the final Answer is the real one."""
    real = assistant.stream

    def stream(question, history):
        reply = real(question, history)

        def items():
            for piece in reply:
                for word in piece.split(" "):
                    time.sleep(pause_s)
                    produced.append(word)
                    yield word + " "
            yield reply.answer()

        return Reply(items())

    return stream


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]
