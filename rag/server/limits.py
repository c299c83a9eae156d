"""How much one request may carry: the body size (checked while the body arrives, so a huge or
endless body is refused with 413 before it is read whole), and the question, history and `k` of
a question (422 naming the setting to raise). The numbers are Settings (RAG_MAX_*); nothing here
knows the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import math
import re

from fastapi import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ..config import Settings

_SURROGATE = re.compile("[\ud800-\udfff]")


class BodyTooLarge(HTTPException):
    """413; an HTTPException so that FastAPI passes it through while it reads a body or a form."""

    def __init__(self, limit_bytes: int, setting: str):
        super().__init__(413, f"request body larger than {_size(limit_bytes)} ({setting}): send less, or raise "
                              f"{setting}", headers={"Connection": "close"})


def _size(n: int) -> str:
    return f"{n / 1_000_000:g} MB" if n >= 1_000_000 else f"{n / 1000:g} KB"


class BodySizeLimit:
    """Refuse request bodies over the limit for their path: at once when Content-Length says so,
    otherwise as soon as the bytes received pass it (chunked bodies, or a Content-Length that lies).

    Args:
        limits: (path prefix, bytes, setting name), first match wins; `default` for other paths.
    """

    def __init__(self, app: ASGIApp, limits: list[tuple[str, int, str]], default: tuple[int, str]):
        self.app, self.limits, self.default = app, limits, default

    def _limit(self, path: str) -> tuple[int, str]:
        return next(((n, name) for prefix, n, name in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self._limit(scope["path"])
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.strip().isdigit() and int(length) > limit:
            await _send_error(send, BodyTooLarge(limit, setting))
            return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > limit:
                raise BodyTooLarge(limit, setting)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except BodyTooLarge as e:  # raised where no handler turned it into a response
            if started:
                raise
            await _send_error(send, e)


class BodyTooSlow(HTTPException):
    """408 for a body arriving slower than the floor; an HTTPException for the reason above."""

    def __init__(self, received: int, elapsed_s: float, kbps: float):
        super().__init__(408, f"the upload arrived too slowly ({received / 1000:g} KB in {elapsed_s:.0f} s, under "
                              f"{kbps:g} KB/s, RAG_UPLOAD_MIN_KBPS): it was dropped; send it again on a faster "
                              "connection", headers={"Connection": "close"})


class UploadPace:
    """Upload bodies (POSTs under `prefix`) must keep arriving: after `grace_s`, at least
    `min_bytes_per_s` on average since the request began, or the request gets 408 and the
    connection is closed. A client sending a byte every few seconds holds a place among the
    uploads being received for `grace_s`, not for as long as it likes.

    Args:
        prefix: the path of the upload route.
        min_bytes_per_s: the floor (RAG_UPLOAD_MIN_KBPS).
        grace_s: how long a body may take before the floor applies (RAG_UPLOAD_GRACE_S).
    """

    def __init__(self, app: ASGIApp, prefix: str, min_bytes_per_s: float, grace_s: float):
        self.app, self.prefix, self.rate, self.grace_s = app, prefix, min_bytes_per_s, grace_s

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.prefix:
            await self.app(scope, receive, send)
            return
        loop = asyncio.get_running_loop()
        started = loop.time()
        received, whole = 0, False
        started_response = False

        async def paced_receive() -> Message:
            nonlocal received, whole
            if whole:  # the body is in: later reads wait for a disconnect, at no one's cost
                return await receive()
            # the next part must come while the bytes so far still meet the floor
            left = started + self.grace_s + received / self.rate - loop.time()
            try:
                message = await asyncio.wait_for(receive(), timeout=max(left, 0.001))
            except asyncio.TimeoutError:
                raise BodyTooSlow(received, loop.time() - started, self.rate / 1000) from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                whole = not message.get("more_body", False)
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started_response
            started_response = started_response or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, paced_receive, tracking_send)
        except BodyTooSlow as e:  # raised where no handler turned it into a response
            if started_response:
                raise
            await _send_error(send, e)


async def _send_error(send: Send, exc: HTTPException) -> None:
    body = json.dumps({"detail": exc.detail}).encode()
    await send({"type": "http.response.start", "status": exc.status_code,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


# ---- fields ----------------------------------------------------------------------------------------
def invalid(loc: list, msg: str, kind: str = "value_error") -> HTTPException:
    """A 422 shaped like FastAPI's own validation errors, as the OpenAPI schema documents them."""
    return HTTPException(422, [{"loc": loc, "msg": msg, "type": kind}])


def no_surrogates(value: str) -> str:
    """Pydantic validator: refuse lone UTF-16 surrogates (JSON allows `"\\ud800"`; no UTF-8 text,
    index or database can store it)."""
    m = _SURROGATE.search(value)
    if m:
        raise ValueError(f"contains a lone UTF-16 surrogate (\\u{ord(m.group()):04x}) at character {m.start()}, "
                         "which is not text: send valid Unicode")
    return value


class Limits:
    """The per-request limits from Settings, checked by the routes after the schema."""

    def __init__(self, settings: Settings):
        self.question_chars = settings.max_question_chars
        self.history_turns = settings.max_history_turns
        self.history_chars = settings.max_history_chars
        self.max_k = settings.max_k

    def check(self, question: str, history: list[tuple[str, str]], k: int | None = None,
              where: tuple[list, list] = (["body", "question"], ["body", "history"])) -> None:
        """Raises a 422 HTTPException for the first limit passed."""
        q_loc, h_loc = where
        if len(question) > self.question_chars:
            raise invalid(q_loc, f"the question has {len(question)} characters, over the limit of "
                                 f"{self.question_chars} (RAG_MAX_QUESTION_CHARS)", "string_too_long")
        if len(history) > self.history_turns:
            raise invalid(h_loc, f"the history has {len(history)} turns, over the limit of {self.history_turns} "
                                 "(RAG_MAX_HISTORY_TURNS): send only the latest turns", "too_long")
        total = sum(len(q) + len(a) for q, a in history)
        if total > self.history_chars:
            raise invalid(h_loc, f"the history has {total} characters, over the limit of {self.history_chars} "
                                 "(RAG_MAX_HISTORY_CHARS): send only the latest turns", "too_long")
        if k is not None and not (isinstance(k, int) and 1 <= k <= self.max_k):
            bad = k if isinstance(k, int) or math.isfinite(k) else str(k)
            raise invalid(["body", "k"], f"k must be a whole number from 1 to {self.max_k} (RAG_MAX_K), not {bad}",
                          "less_than_equal")

    def latest(self, history: list[tuple[str, str]]) -> list[tuple[str, str]]:
        """The latest turns of a stored conversation that fit the history limits."""
        kept: list[tuple[str, str]] = []
        total = 0
        for q, a in reversed(history[-self.history_turns:] if self.history_turns else []):
            total += len(q) + len(a)
            if total > self.history_chars:
                break
            kept.append((q, a))
        return kept[::-1]
