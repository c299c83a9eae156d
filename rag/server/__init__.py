"""`rag serve`: the chat page and the HTTP API (FastAPI + uvicorn), a thin layer over rag.Assistant."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from .app import create_app

__all__ = ["create_app", "run", "bind", "is_loopback"]


# On SIGTERM (or Ctrl-C), requests in progress get this long to finish; then the server stops
# (uvicorn's timeout_graceful_shutdown), and worker threads still busy this long after are not
# waited for: a slow-drip upload or a parse cannot keep the process alive (issue 19, item 4).
_GRACE_S = 3.0


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def run(index: str | Path | None = None, llm: str | None = None, host: str = "127.0.0.1", port: int = 8000,
        insecure: bool = False, log_questions: bool = False, watch: list[Path] | None = None,
        on_sync=None, on_stop=None) -> None:
    """Serve until interrupted, printing one access-log line per request (with each question's
    text only when `log_questions`). Without RAG_API_KEY, refuses a non-loopback address unless
    `insecure`. With `watch`, those folders are kept in step with the index meanwhile, each
    sync's report handed to `on_sync` (and the error to `on_stop` if watching stops on one).

    The address is bound before anything is loaded, and "serving on" names the port actually
    bound (`port` 0: any free one). Raises ConfigError for a port out of range, an address that
    does not resolve, or one that cannot be bound (a busy port)."""
    from ..config import load_settings
    from ..errors import ConfigError

    settings = load_settings(index_dir=index, llm=llm)
    if not settings.api_key and not insecure and not is_loopback(host):
        raise ConfigError(f"refusing to serve on {host} without an API key: anyone on the network could read "
                          "your documents. Set RAG_API_KEY, bind 127.0.0.1, or pass --insecure.")
    sock = bind(host, port)
    try:
        _serve(sock, settings, host, log_questions, watch, on_sync, on_stop)
    finally:
        sock.close()


def bind(host: str, port: int):
    """A listening TCP socket on host:port (0: a free port the system picks).

    Raises:
        ConfigError: the port is out of range, the host does not resolve, or the address cannot
            be bound (in use by another program, or not an address of this machine)."""
    import errno
    import socket

    from ..errors import ConfigError

    if not 0 <= port <= 65535:
        raise ConfigError(f"port {port} is out of range: choose one from 1 to 65535 (or 0 for any free port)")
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host.strip("[]"), port, type=socket.SOCK_STREAM,
                                                             flags=socket.AI_PASSIVE)[0]
    except socket.gaierror as e:
        raise ConfigError(f"cannot serve on {host}: {e.strerror}; pass --host an address such as 127.0.0.1") from e
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn does: a restart rebinds at once
        sock.bind(address)
        sock.listen(2048)  # uvicorn's default backlog
    except OSError as e:
        sock.close()
        hint = ("another program is listening there: stop it, or choose another --port (0 for any free one)"
                if e.errno == errno.EADDRINUSE else "check --host and --port")
        raise ConfigError(f"cannot serve on {host}:{port}: {e.strerror}; {hint}") from e
    return sock


def _serve(sock, settings, host: str, log_questions: bool, watch, on_sync, on_stop) -> None:
    import logging
    import sys

    import uvicorn

    from ..assistant import Assistant
    from .watching import Watching

    watching = None
    if watch:
        watching = Watching(watch, settings, on_sync=on_sync, on_stop=on_stop)
    app = create_app(Assistant(settings=settings), log_questions=log_questions, watching=watching)
    access = logging.getLogger("rag.server.access")
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(message)s", "%Y-%m-%dT%H:%M:%S"))
    access.addHandler(handler)
    access.setLevel(logging.INFO)
    access.propagate = False
    port = sock.getsockname()[1]
    print(f"rag: serving on http://{'[' + host.strip('[]') + ']' if ':' in host else host}:{port}/"
          + (" (API key required)" if settings.api_key else ""), flush=True)
    uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                  timeout_graceful_shutdown=_GRACE_S)).run(sockets=[sock])
    # Served and shut down. A worker thread may still be busy (a parse, a wait for the answering
    # lock); the process ends anyway, a moment later, so that SIGTERM always stops the server.
    import os
    import threading

    timer = threading.Timer(_GRACE_S, os._exit, [0])
    timer.daemon = True
    timer.start()
