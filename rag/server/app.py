"""Builds the FastAPI app behind `rag serve`: middleware, error handlers, the chat page, and the
routers (routes/ for /api, openai_api for /v1). No routes of the API and no pipeline logic live
here: answers, documents and ingestion all come from the Assistant, through `state.ServerState`.
"""

from __future__ import annotations

import logging
import math
import mimetypes
import threading
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Depends, FastAPI, Request
from fastapi.encoders import jsonable_encoder
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from ..assistant import Assistant
from ..config import Settings
from ..errors import RagError
from . import openai_api, uploads
from .access_log import AccessLog
from .limits import BodySizeLimit, UploadPace
from .routes import conversations, documents, questions, watch
from .schemas import ERRORS
from .security import BrowserGuard
from .state import ServerState, State, require_key
from .watching import Watching

STATIC_DIR = Path(__file__).parent / "static"
log = logging.getLogger(__name__)


def create_app(assistant_or_settings: Assistant | Settings | None = None, *, warm_up: bool = True,
               log_questions: bool = False, watching: Watching | None = None) -> FastAPI:
    """The app over an Assistant (or one built from Settings). With `warm_up`, the seeds are
    indexed (when the index is empty) and the models loaded in the background at start;
    `/healthz` says `ready` once that is done. With `log_questions`, each question's text goes
    to the `rag.server.access` log too (never by default). With `watching` (`rag serve --watch`),
    its folders are kept in step while the app runs, and `/api/watch` reports on it."""
    own = not isinstance(assistant_or_settings, Assistant)  # then the app closes it when it stops
    assistant = Assistant(settings=assistant_or_settings) if own else assistant_or_settings
    state = ServerState(assistant, log_questions=log_questions)
    state.watching = watching

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        for path in uploads.remove_strays(state.uploads_dir):
            log.warning("removed %s, left by a server stopped during an upload", path)
        if warm_up:
            threading.Thread(target=state.warm_up, name="rag-warm-up", daemon=True).start()
        else:
            state.ready.set()
        if watching:
            watching.start()
        try:
            yield
        finally:
            if watching:
                watching.stop()
            if own:
                assistant.close()

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
    # puts its headers on every response, the size limit's 413s included; the access log
    # sees every response, refusals too.
    if settings.cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins,
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(UploadPace, prefix="/api/documents", min_bytes_per_s=settings.upload_min_kbps * 1000,
                       grace_s=settings.upload_grace_s)
    app.add_middleware(BodySizeLimit, limits=[("/api/documents", int(settings.max_upload_mb * 1_000_000),
                                               "RAG_MAX_UPLOAD_MB")],
                       default=(settings.max_request_kb * 1000, "RAG_MAX_REQUEST_KB"))
    app.add_middleware(BrowserGuard, allowed_hosts=settings.allowed_hosts, cors_origins=settings.cors_origins)
    app.add_middleware(AccessLog)

    _page_routes(app)
    for router in (questions.router, documents.router, conversations.router, watch.router, openai_api.router):
        app.include_router(router, dependencies=[Depends(require_key)], responses=ERRORS)
    return app


def _page_routes(app: FastAPI) -> None:
    # pdf.js is ES modules (.mjs), which a browser runs only when served as JavaScript; Python
    # before 3.12 may not know the extension (then it would go out as text/plain)
    mimetypes.add_type("text/javascript", ".mjs")
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")

    @app.get("/", include_in_schema=False)
    def page():
        return FileResponse(STATIC_DIR / "index.html", headers={"Cache-Control": "no-cache"})

    @app.get("/healthz", tags=["meta"])
    def healthz(state: State) -> dict:
        """Liveness; `ready` turns true once the seeds are indexed and the models loaded. `status`
        is `degraded` (still 200: questions are answered) from the moment `rag serve --watch`'s
        watcher stops on an error (which `problems` gives) until, started again with backoff, it
        has synced."""
        watching = state.watching.status() if state.watching else None
        if watching and watching["error"]:
            return {"status": "degraded", "ready": state.ready.is_set(),
                    "problems": [f"watching stopped: {watching['error']}"]}
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
