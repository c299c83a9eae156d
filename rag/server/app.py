"""The FastAPI app behind `rag serve`: the chat page, a JSON + Server-Sent Events API and an
OpenAI-compatible endpoint, all over one shared `rag.Assistant`. No pipeline logic lives here:
answers, documents and ingestion all come from the Assistant.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import secrets
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, FastAPI, File, HTTPException, Request, UploadFile
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ..assistant import Assistant
from ..config import Settings
from ..errors import RagError
from ..types import Answer
from .conversations import Conversations
from .uploads import BodySizeLimit, safe_filename, upload_path

STATIC_DIR = Path(__file__).parent / "static"
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

    async def call(self, fn, *args, **kwargs):
        def locked():
            self._acquire()
            try:
                return fn(*args, **kwargs)
            finally:
                self.lock.release()

        self.admit()
        self.waiting += 1
        try:
            return await run_in_threadpool(locked)
        finally:
            self.waiting -= 1

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
    if credentials is None or not secrets.compare_digest(credentials.credentials.encode(), key.encode()):
        raise HTTPException(401, "missing or wrong API key: send 'Authorization: Bearer <RAG_API_KEY>'",
                            headers={"WWW-Authenticate": "Bearer"})


# ---- request and response bodies -------------------------------------------------------------------
class ErrorOut(BaseModel):
    detail: str


# Declared on every API route so clients (and the OpenAPI schema) know them.
ERRORS = {401: {"model": ErrorOut, "description": "Missing or wrong bearer key (only when RAG_API_KEY is set)."},
          503: {"model": ErrorOut, "description": "Busy (the request queue is full; retry after `Retry-After` "
                                                   "seconds) or a configured backend is unavailable."}}
NOT_FOUND = {404: {"model": ErrorOut, "description": "No such document or conversation."}}


class AskRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    history: list[tuple[str, str]] = Field(default_factory=list, description="Earlier (question, answer) pairs.")
    k: int | None = Field(None, ge=1, le=50, description="Passages to retrieve (default RAG_TOP_K).")
    source: str | None = Field(None, description="Only search this document (its source path).")


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    question: str = Field(min_length=1, max_length=4000)
    conversation_id: str | None = Field(None, description="Continue this conversation; a new one when absent.")


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
        return base64.urlsafe_b64decode(document_id + "=" * (-len(document_id) % 4)).decode("utf-8", "surrogatepass")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(404, "no such document") from None


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

    app.add_middleware(BodySizeLimit, limit_bytes=int(state.settings.max_upload_mb * 1_000_000),
                       paths=("/api/documents",))
    if state.settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=state.settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])

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

    try:  # Swagger UI from a PyPI package, so /docs works offline; the CDN otherwise
        from swagger_ui_bundle import swagger_ui_path

        app.mount("/docs-assets", StaticFiles(directory=swagger_ui_path), name="docs-assets")
        assets = {"swagger_js_url": "/docs-assets/swagger-ui-bundle.js",
                  "swagger_css_url": "/docs-assets/swagger-ui.css", "swagger_favicon_url": "/docs-assets/favicon-32x32.png"}
    except ImportError:
        assets = {}

    @app.get("/docs", include_in_schema=False)
    def docs() -> HTMLResponse:
        from fastapi.openapi.docs import get_swagger_ui_html

        return get_swagger_ui_html(openapi_url="/openapi.json", title="rag API", **assets)


def _api_router() -> APIRouter:
    api = APIRouter(prefix="/api")

    @api.post("/ask", response_model=AnswerOut, tags=["questions"])
    async def ask(body: AskRequest, state: State) -> dict:
        """Answer one question with citations, or abstain (same JSON as `rag ask --json`)."""
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
        state.admit()
        conversations = state.conversations
        if body.conversation_id:
            if not await run_in_threadpool(conversations.exists, body.conversation_id):
                raise HTTPException(404, "no such conversation")
            cid = body.conversation_id
        else:
            cid = (await run_in_threadpool(conversations.create))["id"]
        history = await run_in_threadpool(conversations.history, cid)

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

    @api.post("/documents", response_model=UploadResponse, tags=["documents"], responses={
        413: {"model": ErrorOut, "description": "The request is larger than RAG_MAX_UPLOAD_MB."}})
    async def upload(state: State, files: Annotated[list[UploadFile], File(description="One or more files.")]):
        """Add files to the index (stored under `<index_dir>/uploads/`). Each file gets its own
        result; a request larger than RAG_MAX_UPLOAD_MB is refused with 413."""
        from ..loaders import SUPPORTED

        results: list[dict] = []
        stored: list[tuple[dict, Path, bool]] = []
        state.uploads_dir.mkdir(parents=True, exist_ok=True)
        for f in files:
            result: dict[str, Any] = {"filename": f.filename or "", "stored_as": None, "status": "failed",
                                      "reason": None, "id": None}
            results.append(result)
            try:
                name = safe_filename(f.filename, SUPPORTED)
                path = upload_path(state.uploads_dir, name)
            except ValueError as e:
                result["reason"] = str(e)
                continue
            existed = path.exists()
            await run_in_threadpool(_save, f, path)
            result["stored_as"] = name
            stored.append((result, path, existed))
        if stored:
            report = await state.call(state.assistant.ingest, [p for _, p, _ in stored])
            failures = {e.path: e.reason for e in report.failed}
            for result, path, existed in stored:
                source = str(path)
                for status in ("added", "updated", "unchanged"):
                    if source in getattr(report, status):
                        result.update(status=status, id=doc_id(source))
                        break
                else:
                    result["reason"] = failures.get(source, "not indexed")
                    if not existed:
                        path.unlink(missing_ok=True)
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


def _save(upload: UploadFile, path: Path) -> None:
    """Copy an upload to `path` through a temporary file, so a reader never sees half a file."""
    part = path.with_name(f".{path.name}.part")
    upload.file.seek(0)
    with open(part, "wb") as out:
        while chunk := upload.file.read(1 << 20):
            out.write(chunk)
    part.replace(path)
