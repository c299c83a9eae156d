"""What every request shares: the one `ServerState` (the Assistant, its lock and queue, the
conversations store) and the API-key check. No routes and no request bodies live here.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from ..assistant import Assistant
from ..config import Settings
from ..types import Answer
from .conversations import Conversations
from .limits import Limits

access_log = logging.getLogger("rag.server.access")  # printed by `rag serve`
# Bodies received at once, per place in the parse queue: reading costs only a socket and a spooled
# temporary file, and a client that drips is dropped at its grace period's end (RAG_UPLOAD_GRACE_S).
_RECEIVING_PER_UPLOAD = 4
_bearer = HTTPBearer(auto_error=False, description="The server's RAG_API_KEY, when one is set.")


class ServerState:
    """One Assistant for all requests. Its calls run in worker threads so the event loop keeps
    serving, one at a time under `lock`: the lazily built models and the local index are not
    made for concurrent use, and the machine's cores are better spent on one question at a time.
    A bounded queue: at most `max_queue` calls wait for the lock, each at most `queue_timeout_s`;
    beyond that a request gets 503 with Retry-After instead of hanging. Uploads never take a
    place in it: theirs are `receiving_upload` (the body arriving) and `parsing_upload` (after
    it has arrived in full); they wait for the lock only to write what they parsed.

    Args:
        assistant: the Assistant every request uses.
        log_questions: log each question's text on `rag.server.access` (`rag serve --log-questions`).
    """

    def __init__(self, assistant: Assistant, log_questions: bool = False):
        self.assistant = assistant
        self.settings: Settings = assistant.settings
        self.limits = Limits(self.settings)
        self.log_questions = log_questions
        self.lock = threading.Lock()
        index_dir = Path(self.settings.index_dir)
        self.uploads_dir = index_dir / "uploads"
        self.conversations = Conversations(index_dir / "conversations.sqlite")
        self.ready = threading.Event()
        self.waiting = 0  # calls admitted and not finished; changed only on the event loop
        # Uploads have queues of their own, so that none takes a place a question waits in: bodies
        # being received (paced by limits.UploadPace), and uploads received whole, being parsed.
        self.receiving = 0
        self.parsing = 0
        self.streams_stopped = 0  # answers whose generation stopped early because the client went away
        self.watching = None  # a `watching.Watching` under `rag serve --watch`

    def admit(self) -> None:
        """Refuse with 503 + Retry-After when the queue is full."""
        if self.waiting >= self.settings.max_queue:
            raise busy(f"the server is busy ({self.waiting} requests queued)")

    def _acquire(self) -> None:
        if not self.lock.acquire(timeout=self.settings.queue_timeout_s):
            raise busy(f"the server is busy (waited {self.settings.queue_timeout_s:g} s for a turn)")

    @asynccontextmanager
    async def admitted(self):
        """A place in the queue for the whole block (503 when there is none)."""
        self.admit()
        self.waiting += 1
        try:
            yield
        finally:
            self.waiting -= 1

    @asynccontextmanager
    async def receiving_upload(self):
        """A place among the uploads whose bodies are arriving (503 when there is none): a body
        is read in full, at the pace RAG_UPLOAD_MIN_KBPS asks, before it asks for more."""
        if self.receiving >= _RECEIVING_PER_UPLOAD * self.settings.max_uploads:
            raise busy(f"the server is receiving {self.receiving} uploads")
        self.receiving += 1
        try:
            yield
        finally:
            self.receiving -= 1

    @asynccontextmanager
    async def parsing_upload(self):
        """A place in the parse queue, taken once an upload's body has arrived in full (503 when
        RAG_MAX_UPLOADS are being parsed); questions never wait in it."""
        if self.parsing >= self.settings.max_uploads:
            raise busy(f"the server is busy parsing {self.parsing} uploads")
        self.parsing += 1
        try:
            yield
        finally:
            self.parsing -= 1

    async def locked(self, fn, *args, **kwargs):
        """`fn` in a worker thread holding the lock; the caller has been admitted."""
        def locked():
            self._acquire()
            try:
                return fn(*args, **kwargs)
            finally:
                self.lock.release()

        return await run_in_threadpool(locked)

    async def call(self, fn, *args, **kwargs):
        async with self.admitted():
            return await self.locked(fn, *args, **kwargs)

    def warm_up(self) -> None:
        """Index the seeds on first use and load the models, so the first question is quick."""
        try:
            with self.lock:
                self.assistant.ensure_seeded()
                self.assistant.embedder.encode(["warm up"])
        finally:
            self.ready.set()

    def question_asked(self, question: str) -> None:
        """Log the question's text, only when `rag serve --log-questions` asked for it."""
        if self.log_questions:
            access_log.info("question: %r", question)

    async def stream(self, question: str, history: list[tuple[str, str]]) -> AsyncIterator[str | Answer]:
        """`Assistant.stream` (verified str pieces, then the final Answer) as an async iterator.

        The generator runs to its end in one worker thread holding the lock, handing items to the
        event loop through a queue: unlike iterating it step by step from the pool, the lock is
        released in the thread that took it even when the client goes away (then we stop early,
        close the Reply and count it in `streams_stopped`)."""
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        cancelled = threading.Event()
        done = object()

        def hand(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the loop closed (server shutting down)
                cancelled.set()

        def work() -> None:
            try:
                self._acquire()
                try:
                    reply = self.assistant.stream(question, history)
                    try:
                        for item in reply:
                            hand(item)
                            if cancelled.is_set():
                                self.streams_stopped += 1
                                access_log.info("answer stopped early: the client went away")
                                break
                        else:
                            hand(reply.answer())
                    finally:
                        reply.close()
                finally:
                    self.lock.release()
            except Exception as e:  # handed to the request, which reports it
                hand(e)
            hand(done)

        self.admit()
        self.waiting += 1
        worker = loop.run_in_executor(None, work)
        try:
            while True:
                item = await queue.get()
                if item is done:
                    break
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            self.waiting -= 1
            cancelled.set()
            if worker.done():
                worker.result()


def busy(detail: str) -> HTTPException:
    return HTTPException(503, f"{detail}: try again shortly", headers={"Retry-After": "2"})


def get_state(request: Request) -> ServerState:
    return request.app.state.rag


State = Annotated[ServerState, Depends(get_state)]


def require_key(request: Request,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    """Every API route's dependency: with RAG_API_KEY set, the request must bear it."""
    key = get_state(request).settings.api_key
    if not key:
        return
    # Header values arrive as bytes, which Starlette decodes as latin-1: encoding back gives the
    # bytes sent, so a key with non-ASCII characters, sent as UTF-8, matches its UTF-8 bytes.
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode("latin-1"),
                                                         key.encode("utf-8")):
        raise HTTPException(401, "missing or wrong API key: send 'Authorization: Bearer <RAG_API_KEY>'",
                            headers={"WWW-Authenticate": "Bearer"})
