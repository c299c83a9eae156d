"""The FastAPI app behind `rag serve`: the chat page, a JSON + Server-Sent Events API and an
OpenAI-compatible endpoint, all over one shared `rag.Assistant`. No pipeline logic lives here:
answers, documents and ingestion all come from the Assistant.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import math
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, Header, HTTPException, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import AfterValidator, BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from ..assistant import Assistant
from ..config import Settings
from ..errors import RagError
from ..types import Answer
from . import uploads
from .conversations import Conversations
from .limits import BodySizeLimit, Limits, invalid, no_surrogates
from .security import BrowserGuard

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger(__name__)
_bearer = HTTPBearer(auto_error=False, description="The server's RAG_API_KEY, when one is set.")


# ---- shared state --------------------------------------------------------------------------------
class ServerState:
    """One Assistant for all requests. Its calls run in worker threads so the event loop keeps
    serving, one at a time under `lock`: the lazily built models and the local index are not
    made for concurrent use, and the machine's cores are better spent on one question at a time.
    A bounded queue: at most `max_queue` calls wait for the lock, each at most `queue_timeout_s`;
    beyond that a request gets 503 with Retry-After instead of hanging."""

    def __init__(self, assistant: Assistant):
        self.assistant = assistant
        self.settings: Settings = assistant.settings
        self.limits = Limits(self.settings)
        self.lock = threading.Lock()
        index_dir = Path(self.settings.index_dir)
        self.uploads_dir = index_dir / "uploads"
        self.conversations = Conversations(index_dir / "conversations.sqlite")
        self.ready = threading.Event()
        self.waiting = 0  # calls admitted and not finished; changed only on the event loop

    def admit(self) -> None:
        """Refuse with 503 + Retry-After when the queue is full."""
        if self.waiting >= self.settings.max_queue:
            raise _busy(f"the server is busy ({self.waiting} requests queued)")

    def _acquire(self) -> None:
        if not self.lock.acquire(timeout=self.settings.queue_timeout_s):
            raise _busy(f"the server is busy (waited {self.settings.queue_timeout_s:g} s for a turn)")

    @asynccontextmanager
    async def admitted(self):
        """A place in the queue for the whole block (503 when there is none)."""
        self.admit()
        self.waiting += 1
        try:
            yield
        finally:
            self.waiting -= 1

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

    async def stream(self, question: str, history: list[tuple[str, str]]) -> AsyncIterator[str | Answer]:
        """`Assistant.stream` (verified str pieces, then the final Answer) as an async iterator.

        The generator runs to its end in one worker thread holding the lock, handing items to the
        event loop through a queue: unlike iterating it step by step from the pool, the lock is
        released in the thread that took it even when the client goes away (then we stop early)."""
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


def _busy(detail: str) -> HTTPException:
    return HTTPException(503, f"{detail}: try again shortly", headers={"Retry-After": "2"})


def _state(request: Request) -> ServerState:
    return request.app.state.rag


State = Annotated[ServerState, Depends(_state)]


def require_key(request: Request,
                credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> None:
    key = _state(request).settings.api_key
    if not key:
        return
    # Header values arrive as bytes, which Starlette decodes as latin-1: encoding back gives the
    # bytes sent, so a key with non-ASCII characters, sent as UTF-8, matches its UTF-8 bytes.
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode("latin-1"),
                                                         key.encode("utf-8")):
        raise HTTPException(401, "missing or wrong API key: send 'Authorization: Bearer <RAG_API_KEY>'",
                            headers={"WWW-Authenticate": "Bearer"})


# ---- request and response bodies -------------------------------------------------------------------
class ErrorOut(BaseModel):
    detail: str


# Declared on every route so clients (and the OpenAPI schema) know them.
ERRORS = {400: {"model": ErrorOut, "description": "A body that cannot be parsed: JSON that is not UTF-8, or "
                                                   "broken multipart."},
          401: {"model": ErrorOut, "description": "Missing or wrong bearer key (only when RAG_API_KEY is set)."},
          403: {"model": ErrorOut, "description": "A change requested from another site (Origin or "
                                                   "Sec-Fetch-Site), or an upload without X-Requested-With."},
          413: {"model": ErrorOut, "description": "The body is larger than RAG_MAX_REQUEST_KB (uploads: "
                                                   "RAG_MAX_UPLOAD_MB)."},
          421: {"model": ErrorOut, "description": "A Host this server does not answer to (RAG_ALLOWED_HOSTS)."},
          503: {"model": ErrorOut, "description": "Busy (the request queue is full; retry after `Retry-After` "
                                                   "seconds) or a configured backend is unavailable."}}
NOT_FOUND = {404: {"model": ErrorOut, "description": "No such document or conversation."}}

# Any text a request carries: a lone surrogate (valid JSON, not text) is a 422, not a 500 later.
Text = Annotated[str, AfterValidator(no_surrogates)]


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Text = Field(min_length=1, description="At most RAG_MAX_QUESTION_CHARS (default 4000) characters.")
    history: list[tuple[Text, Text]] = Field(
        default_factory=list, description="Earlier (question, answer) pairs: at most RAG_MAX_HISTORY_TURNS "
                                          "(default 20) and RAG_MAX_HISTORY_CHARS (default 50,000) characters.")
    k: int | None = Field(None, ge=1, description="Passages to retrieve (default RAG_TOP_K; at most RAG_MAX_K, "
                                                  "default 50).")
    source: Text | None = Field(None, min_length=1, description="Only search this document (its `source` as "
                                                                "GET /api/documents lists it).")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: Text = Field(min_length=1, description="At most RAG_MAX_QUESTION_CHARS (default 4000) characters.")
    conversation_id: Text | None = Field(None, description="Continue this conversation; a new one when absent.")


class CitationOut(BaseModel):
    n: int
    source: str
    start: int
    end: int
    quote: str = Field(description="Exactly the source text at [start, end).")
    score: float
    page: int | None = None


class PassageOut(BaseModel):
    source: str
    start: int
    end: int
    text: str
    score: float


class SentenceOut(BaseModel):
    text: str
    citations: list[int]
    supported: bool
    quoted: bool = Field(description="The source's own words; false for a sentence the LLM wrote.")


class AnswerOut(BaseModel):
    """The same fields as `rag ask --json`."""

    answer: str
    abstained: bool
    citations: list[CitationOut]
    see_also: list[PassageOut] = Field(description="When abstaining: the nearest passages, not answers.")
    sentences: list[SentenceOut]
    backend: str
    notice: str
    timings_ms: dict[str, float]


class DocumentOut(BaseModel):
    id: str = Field(description="URL-safe id of the source, for /api/documents/{id}.")
    source: str
    name: str
    title: str
    chunks: int
    indexed_at: str
    uploaded: bool


class PageOut(BaseModel):
    number: int
    start: int
    end: int


class DocumentText(DocumentOut):
    text: str
    pages: list[PageOut]


class UploadResult(BaseModel):
    filename: str = Field(description="The name the client sent.")
    stored_as: str | None = Field(None, description="The sanitised name under <index_dir>/uploads/.")
    status: str = Field(description="added | updated | unchanged | failed")
    reason: str | None = None
    id: str | None = None


class UploadResponse(BaseModel):
    results: list[UploadResult]


class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: str
    updated_at: str


class MessageOut(BaseModel):
    id: int
    question: str
    answer: AnswerOut
    created_at: str


class ConversationFull(ConversationOut):
    messages: list[MessageOut]


# ---- documents ids -------------------------------------------------------------------------------
def doc_id(source: str) -> str:
    return base64.urlsafe_b64encode(source.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def source_of(document_id: str) -> str:
    try:
        source = base64.urlsafe_b64decode(document_id + "=" * (-len(document_id) % 4)).decode("utf-8")
        return no_surrogates(source)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(404, "no such document: take its id from GET /api/documents") from None


def _is_upload(state: ServerState, source: str) -> bool:
    return Path(source).parent == state.uploads_dir.resolve()


def _document_out(state: ServerState, info) -> dict:
    return {"id": doc_id(info.source), "source": info.source, "name": Path(info.source).name, "title": info.title,
            "chunks": info.chunks, "indexed_at": info.indexed_at, "uploaded": _is_upload(state, info.source)}


# ---- the app -------------------------------------------------------------------------------------
def create_app(assistant_or_settings: Assistant | Settings | None = None, *, warm_up: bool = True) -> FastAPI:
    """The app over an Assistant (or one built from Settings). With `warm_up`, the seeds are
    indexed (when the index is empty) and the models loaded in the background at start;
    `/healthz` says `ready` once that is done."""
    if isinstance(assistant_or_settings, Assistant):
        assistant = assistant_or_settings
    else:
        assistant = Assistant(settings=assistant_or_settings)
    state = ServerState(assistant)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for path in uploads.remove_strays(state.uploads_dir):
            log.warning("removed %s, left by a server stopped during an upload", path)
        if warm_up:
            threading.Thread(target=state.warm_up, name="rag-warm-up", daemon=True).start()
        else:
            state.ready.set()
        yield

    app = FastAPI(title="rag", version="0.1.0", lifespan=lifespan, docs_url=None, redoc_url=None,
                  description="Ask your documents; every answer sentence cites the passage it came from. "
                              "With RAG_API_KEY set, send `Authorization: Bearer <key>`.")
    app.state.rag = state

    @app.exception_handler(RagError)
    async def rag_error(request: Request, exc: RagError):
        # e.g. an LLM backend that cannot be reached: the message says what to do
        return JSONResponse({"detail": str(exc)}, status_code=503)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError):
        # FastAPI's own 422, but one that can always be written: it echoes the input, which may be
        # NaN (json.loads accepts it, JSON output does not) or hold a lone surrogate (not UTF-8).
        return JSONResponse({"detail": _json_safe(jsonable_encoder(exc.errors()))}, status_code=422)

    settings = state.settings
    # Middleware: the last added runs first. The guard refuses before any body is read and
    # puts its headers on every response, the size limit's 413s included.
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(BodySizeLimit, limits=[("/api/documents", int(settings.max_upload_mb * 1_000_000),
                                               "RAG_MAX_UPLOAD_MB")],
                       default=(settings.max_request_kb * 1000, "RAG_MAX_REQUEST_KB"))
    app.add_middleware(BrowserGuard, allowed_hosts=settings.allowed_hosts, cors_origins=settings.cors_origins)

    _page_routes(app)
    app.include_router(_api_router(), dependencies=[Depends(require_key)], responses=ERRORS)
    from .openai_api import router as openai_router

    app.include_router(openai_router, dependencies=[Depends(require_key)], responses=ERRORS)
    return app


def _page_routes(app: FastAPI) -> None:
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", tags=["meta"])
    def healthz(state: State) -> dict:
        """Liveness; `ready` turns true once the seeds are indexed and the models loaded."""
        return {"status": "ok", "ready": state.ready.is_set()}

    # Swagger UI from a PyPI package, so /docs works offline; started by static/docs.js rather
    # than FastAPI's inline script, which the Content-Security-Policy forbids.
    from swagger_ui_bundle import swagger_ui_path

    app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        return HTMLResponse(DOCS_PAGE)


DOCS_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>rag API</title>
<link rel="stylesheet" href="/docs-assets/swagger-ui.css"><link rel="icon" href="/docs-assets/favicon-32x32.png">
</head><body><div id="swagger-ui"></div>
<script src="/docs-assets/swagger-ui-bundle.js"></script><script src="/static/docs.js"></script>
</body></html>
"""


def _json_safe(value):
    """`value` with non-finite floats as strings and lone surrogates as `\\udXXX` escapes."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_json_safe(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_safe(v) for v in value]
    return value


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.post("/ask", response_model=AnswerOut, tags=["questions"])
    async def ask(body: AskRequest, state: State) -> dict:
        """Answer one question with citations, or abstain (same JSON as `rag ask --json`)."""
        state.limits.check(body.question, body.history, body.k)
        answer = await state.call(state.assistant.ask, body.question, body.history, k=body.k, source=body.source)
        return answer.to_dict()

    @api.post("/chat", tags=["questions"], response_class=EventSourceResponse, responses={**NOT_FOUND, 200: {
        "content": {"text/event-stream": {}},
        "description": "Server-Sent Events: `conversation` {conversation_id}; `status` {state: \"checking\"} "
                       "while the evidence is checked; `token` {text}: pieces of the answer, each already "
                       "verified (joined, they are the final answer's text); `final` {conversation_id, "
                       "message_id, ...Answer} with the answer and citations; `error` {detail}."}})
    async def chat(body: ChatRequest, state: State):
        """Ask within a conversation (follow-ups use its earlier turns) and stream the answer."""
        state.limits.check(body.question, [])
        state.admit()
        conversations = state.conversations
        if body.conversation_id:
            if not await run_in_threadpool(conversations.exists, body.conversation_id):
                raise HTTPException(404, "no such conversation")
            cid = body.conversation_id
        else:
            cid = (await run_in_threadpool(conversations.create))["id"]
        history = state.limits.latest(await run_in_threadpool(conversations.history, cid))

        async def events():
            yield {"event": "conversation", "data": json.dumps({"conversation_id": cid})}
            yield {"event": "status", "data": json.dumps({"state": "checking"})}
            try:
                async for item in state.stream(body.question, history):
                    if isinstance(item, Answer):
                        result = item.to_dict()
                        mid = await run_in_threadpool(conversations.add, cid, body.question, result)
                        yield {"event": "final",
                               "data": json.dumps({"conversation_id": cid, "message_id": mid, **result},
                                                  ensure_ascii=False)}
                    else:
                        yield {"event": "token", "data": json.dumps({"text": item}, ensure_ascii=False)}
            except Exception as e:  # the stream has started: report in-band, keep serving
                yield {"event": "error", "data": json.dumps({"detail": str(e) or e.__class__.__name__})}

        return EventSourceResponse(events(), ping=15, sep="\n")

    # -- documents --
    @api.get("/documents", response_model=list[DocumentOut], tags=["documents"])
    async def list_documents(state: State) -> list[dict]:
        """The indexed documents."""
        infos = await state.call(state.assistant.sources)
        return [_document_out(state, i) for i in infos]

    @api.post("/documents", response_model=UploadResponse, tags=["documents"], openapi_extra=UPLOAD_BODY)
    async def upload(request: Request, state: State, x_requested_with: Annotated[str, Header(
            description="Any value; a form posted from another site cannot send it.")]) -> dict:
        """Add files to the index (stored under `<index_dir>/uploads/`). Each file gets its own
        result; a request larger than RAG_MAX_UPLOAD_MB is refused with 413. A file replaces an
        earlier upload of the same name only once it is indexed: one that fails leaves the old
        file and its index entry as they were."""
        from ..loaders import SUPPORTED

        # Admitted before the body is read: a full queue costs no disk.
        async with state.admitted(), request.form(max_files=100, max_fields=100) as form:
            files = form.getlist("files")
            if not files or not all(isinstance(f, UploadFile) for f in files):
                raise invalid(["body", "files"], "send one or more files as multipart/form-data fields named "
                                                 "'files'", "missing" if not files else "value_error")
            results: list[dict] = []
            staged: list[tuple[dict, uploads.Staged]] = []
            await run_in_threadpool(state.uploads_dir.mkdir, parents=True, exist_ok=True)
            try:
                for f in files:
                    result: dict[str, Any] = {"filename": _printable(f.filename or ""), "stored_as": None,
                                              "status": "failed", "reason": None, "id": None}
                    results.append(result)
                    try:
                        name = uploads.safe_filename(f.filename, SUPPORTED)
                        path = uploads.upload_path(state.uploads_dir, name)
                    except ValueError as e:
                        result["reason"] = str(e)
                        continue
                    if any(s.path == path for _, s in staged):
                        result["reason"] = f"another file in this request is also stored as {name}"
                        continue
                    staged.append((result, await run_in_threadpool(uploads.stage, f.file, path)))
                    result["stored_as"] = name
            except BaseException:
                uploads.discard([s for _, s in staged])
                raise
            if staged:
                report = None

                def index(paths: list[Path]) -> set[Path]:
                    nonlocal report
                    report = state.assistant.ingest(paths)
                    done = set(report.added) | set(report.updated) | set(report.unchanged)
                    return {p for p in paths if str(p) in done}

                await state.locked(uploads.commit, [s for _, s in staged], index)
                failures = {e.path: e.reason for e in report.failed}
                for result, s in staged:
                    source = str(s.path)
                    for status in ("added", "updated", "unchanged"):
                        if source in getattr(report, status):
                            result.update(status=status, id=doc_id(source))
                            break
                    else:
                        result["reason"] = failures.get(source, "not indexed")
        return {"results": results}

    @api.get("/documents/{document_id}", response_model=DocumentText, tags=["documents"], responses=NOT_FOUND)
    async def get_document(document_id: str, state: State) -> dict:
        """The whole extracted text of one document (what citation offsets point into)."""
        source = source_of(document_id)
        doc = await state.call(state.assistant.document, source)
        if doc is None:
            raise HTTPException(404, "no such document")
        return {**_document_out(state, doc), "text": doc.text,
                "pages": [{"number": p.number, "start": p.start, "end": p.end} for p in doc.pages]}

    @api.delete("/documents/{document_id}", tags=["documents"], responses=NOT_FOUND)
    async def delete_document(document_id: str, state: State) -> dict:
        """Remove a document from the index (and its uploaded file, if it was uploaded)."""
        source = source_of(document_id)
        if not await state.call(state.assistant.remove, source):
            raise HTTPException(404, "no such document")
        if _is_upload(state, source):
            Path(source).unlink(missing_ok=True)
        return {"removed": source}

    # -- conversations --
    @api.get("/conversations", response_model=list[ConversationOut], tags=["conversations"])
    async def list_conversations(state: State) -> list[dict]:
        """Conversations, most recent first."""
        return await run_in_threadpool(state.conversations.list)

    @api.post("/conversations", response_model=ConversationOut, status_code=201, tags=["conversations"])
    async def new_conversation(state: State) -> dict:
        """Start a new, empty conversation."""
        return await run_in_threadpool(state.conversations.create)

    @api.get("/conversations/{conversation_id}", response_model=ConversationFull, tags=["conversations"], responses=NOT_FOUND)
    async def get_conversation(conversation_id: str, state: State) -> dict:
        """A conversation with its questions and answers."""
        conv = await run_in_threadpool(state.conversations.get, conversation_id)
        if conv is None:
            raise HTTPException(404, "no such conversation")
        return conv

    @api.delete("/conversations/{conversation_id}", tags=["conversations"], responses=NOT_FOUND)
    async def delete_conversation(conversation_id: str, state: State) -> dict:
        if not await run_in_threadpool(state.conversations.delete, conversation_id):
            raise HTTPException(404, "no such conversation")
        return {"removed": conversation_id}

    return api


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"], "properties": {"files": {
        "type": "array", "items": {"type": "string", "format": "binary"}, "description": "One or more files."}}}}}}}


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")
