"""One access-log line per request on the `rag.server.access` logger: method, path, status and
milliseconds. Never the query string, headers (the API key) or the body (the question); the
question's text is logged only with `rag serve --log-questions` (see `ServerState.question_asked`).
"""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("rag.server.access")


class AccessLog:
    """ASGI middleware. For a streamed answer, the line is written when the stream ends, so
    `ms` is the whole answer's time."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # when the app raises before it answers

        async def send_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            log.info("%s %s %d %.0fms", scope["method"], _path(scope), status,
                     (time.perf_counter() - started) * 1000)


def _path(scope: Scope) -> str:
    """The path as sent (percent-encoded, without the query string): a request's own text
    cannot forge a second log line."""
    raw = scope.get("raw_path") or scope["path"].encode("utf-8", "surrogateescape")
    return raw.split(b"?", 1)[0].decode("ascii", "backslashreplace")
