"""The HTTP API's request and response bodies, and the ids documents go by in URLs.

An answer's JSON is `rag.types.Answer.to_dict()` (the shape `rag ask --json` prints), defined
once there; `answer_json` only adds each source's `document_id`, so clients (the chat page
among them) open a cited document without encoding its path themselves. The models below
describe those shapes for validation and the OpenAPI schema; a test keeps them in step.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Annotated

from fastapi import HTTPException
from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from .limits import no_surrogates


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


# ---- document ids ----------------------------------------------------------------------------------
def doc_id(source: str) -> str:
    """The URL-safe id of a source path, for /api/documents/{id}."""
    return base64.urlsafe_b64encode(source.encode("utf-8", "surrogatepass")).decode().rstrip("=")


def source_of(document_id: str) -> str:
    """The source path an id stands for (404 for an id no source could have)."""
    try:
        source = base64.urlsafe_b64decode(document_id + "=" * (-len(document_id) % 4)).decode("utf-8")
        return no_surrogates(source)
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise HTTPException(404, "no such document: take its id from GET /api/documents") from None


def answer_json(answer: dict) -> dict:
    """`Answer.to_dict()` with `document_id` on each citation and nearest passage. Also applied
    to answers stored before `document_id` existed, when a conversation is read back."""
    return {**answer,
            "citations": [{**c, "document_id": doc_id(c["source"])} for c in answer.get("citations", [])],
            "see_also": [{**p, "document_id": doc_id(p["source"])} for p in answer.get("see_also", [])]}


# ---- questions -------------------------------------------------------------------------------------
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
    replace_from: int | None = Field(
        None, ge=1, le=2**63 - 1,  # SQLite's INTEGER range: a larger id was a 500
        description="Regenerate or edit: the id of a message in this conversation; it and every later message "
                    "are removed before the question is answered.")


class CitationOut(BaseModel):
    n: int
    source: str
    document_id: str = Field(description="The source's id for /api/documents/{id}.")
    start: int
    end: int
    quote: str = Field(description="Exactly the source text at [start, end).")
    score: float
    page: int | None = None
    line: int | None = Field(None, description="For source code: the line the quote starts on.")
    section: str | None = Field(None, description="The heading the quote sits under (Markdown, reST, HTML).")
    changed: bool = Field(False, description=(
        "In a stored conversation read back: the document's text at [start, end) is no longer the quote "
        "(the file was edited and re-indexed) or the document is gone. Always false in a fresh answer."))


class PassageOut(BaseModel):
    source: str
    document_id: str
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
    """The same fields as `rag ask --json` (`Answer.to_dict`), with `document_id`s added."""

    answer: str
    abstained: bool
    citations: list[CitationOut]
    see_also: list[PassageOut] = Field(description="When abstaining: the nearest passages, not answers.")
    sentences: list[SentenceOut]
    backend: str = Field(description="What wrote the answer: 'none' (quoted from the sources) or the LLM.")
    notice: str
    timings_ms: dict[str, float]


# ---- documents -------------------------------------------------------------------------------------
class DocumentOut(BaseModel):
    id: str = Field(description="URL-safe id of the source, for /api/documents/{id}.")
    source: str
    name: str
    folder: str = Field(description="The folder the file is in.")
    type: str = Field(description="The file's extension, without the dot ('pdf', 'txt', ...).")
    size: int | None = Field(None, description="The file's size in bytes; null when it is no longer on disk.")
    title: str
    chunks: int
    indexed_at: str
    encoding: str = Field(description="The text encoding the file was decoded from; '' for PDF and DOCX.")
    uploaded: bool
    suspicious: bool = Field(False, description=(
        "The document holds text phrased as instructions to an assistant ('ignore previous instructions', "
        "'the password is'): it may be there to steer answers."))
    suspicious_reason: str = Field("", description="The first such phrase and where it is; '' when not suspicious.")
    page_count: int | None = Field(None, description="Pages of a PDF, slides of a PPTX; null for a document without pages.")
    ocr_pages: list[int] = Field(default_factory=list, description=(
        "PDF pages whose text was read from their image by OCR (tesseract): it may hold misread words."))


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


UPLOAD_BODY = {"requestBody": {"required": True, "content": {"multipart/form-data": {"schema": {
    "type": "object", "required": ["files"], "properties": {"files": {
        "type": "array", "items": {"type": "string", "format": "binary"}, "description": "One or more files."}}}}}}}


def document_out(info, uploads_dir: Path) -> dict:
    """The listing of one document (a `SourceInfo` or a stored document); reads the file's size."""
    path = Path(info.source)
    try:
        size = path.stat().st_size
    except OSError:
        size = None
    return {"id": doc_id(info.source), "source": info.source, "name": path.name, "folder": str(path.parent),
            "type": path.suffix.lstrip(".").lower(), "size": size, "title": info.title,
            "chunks": info.chunks, "indexed_at": info.indexed_at,
            "encoding": info.encoding, "uploaded": path.parent == uploads_dir.resolve(),
            "suspicious": info.suspicious, "suspicious_reason": info.suspicious_reason,
            "page_count": info.page_count or None, "ocr_pages": list(info.ocr_pages)}


# ---- conversations ---------------------------------------------------------------------------------
class ConversationOut(BaseModel):
    id: str
    title: str
    created_at: str
    updated_at: str


class ConversationPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    title: Text = Field(min_length=1, max_length=200, description="The new name.")


class MessageOut(BaseModel):
    id: int
    question: str
    answer: AnswerOut
    created_at: str


class ConversationFull(ConversationOut):
    messages: list[MessageOut]


# ---- watched folders -------------------------------------------------------------------------------
class LastSync(BaseModel):
    at: str = Field(description="When the sync ended (ISO 8601, UTC).")
    indexed: int = Field(description="Files added, updated or moved by that sync.")
    removed: int
    failed: int = Field(description="Files that could not be read (listed in the server's log).")


class WatchStatus(BaseModel):
    watching: bool = Field(description="Whether this server keeps folders in step (`rag serve --watch`).")
    folders: list[str]
    running: bool = Field(description="The watcher is running (false once stopped by an error).")
    syncs: int = Field(description="Syncs that changed the index (or failed on a file), the first one included.")
    last_sync: LastSync | None = Field(description="The last such sync; null before the first ends.")
    error: str = Field(description="Why watching stopped, while it is stopped or until it has synced again "
                                   "after being started again; '' while it runs.")
    restarts: int = Field(0, description="Times the watcher was started again after stopping on an error "
                                         "(with backoff: 1 s, doubling, up to 60 s).")
