"""/api/documents: list, upload (multipart, all-or-nothing per file), read the whole text of,
summarize and remove indexed documents, and serve an indexed PDF as it was indexed."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, HTTPException, Request, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import UploadFile

from .. import uploads
from ..limits import invalid
from ..schemas import (NOT_FOUND, UPLOAD_BODY, AnswerOut, DocumentOut, DocumentText, ErrorOut, UploadResponse,
                       answer_json, doc_id, document_out, source_of)
from ..state import ServerState, State

router = APIRouter(prefix="/api/documents", tags=["documents"])


def _is_upload(state: ServerState, source: str) -> bool:
    return Path(source).parent == state.uploads_dir.resolve()


def _listing(state: ServerState, infos) -> list[dict]:
    return [document_out(i, state.uploads_dir) for i in infos]


@router.get("", response_model=list[DocumentOut])
async def list_documents(state: State) -> list[dict]:
    """The indexed documents."""
    infos = await state.call(state.assistant.sources)
    return await run_in_threadpool(_listing, state, infos)  # stats each file for its size


@router.post("", response_model=UploadResponse, openapi_extra=UPLOAD_BODY)
async def upload(request: Request, state: State, x_requested_with: Annotated[str, Header(
        description="Any value; a form posted from another site cannot send it.")]) -> dict:
    """Add files to the index (stored under `<index_dir>/uploads/`). Each file gets its own
    result; a request larger than RAG_MAX_UPLOAD_MB is refused with 413. A file replaces an
    earlier upload of the same name only once it is indexed: one that fails leaves the old
    file and its index entry as they were."""
    # The body is read in full first (at the pace limits.UploadPace asks), holding no place in
    # the parse queue, and none in the questions' queue at any time.
    async with state.receiving_upload(), request.form(max_files=100, max_fields=100) as form, \
            state.parsing_upload():
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
                    # any name: the content decides, as for `rag ingest` (a .csv, a README)
                    name = uploads.safe_filename(f.filename)
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
            # Parsed before taking the answering lock (a hostile PDF may take until
            # RAG_PARSE_TIMEOUT_S): questions keep being answered meanwhile; under the lock the
            # files are only put in place, embedded and written.
            try:
                parsed = await run_in_threadpool(state.assistant.parse, [s.path for _, s in staged],
                                                 {s.path: s.temporary for _, s in staged},
                                                 state.settings.upload_parse_s)
            except BaseException:
                uploads.discard([s for _, s in staged])
                raise

            def index(paths: list[Path]) -> set[Path]:
                nonlocal report
                report = state.assistant.ingest(paths, parsed=parsed)
                done = set(report.added) | set(report.updated) | set(report.unchanged)
                return {p for p in paths if str(p) in done}

            await state.locked(uploads.commit, [s for _, s in staged], index)
            failures = {e.path: e.reason for e in report.failed + report.skipped}
            for result, s in staged:
                source = str(s.path)
                for status in ("added", "updated", "unchanged"):
                    if source in getattr(report, status):
                        result.update(status=status, id=doc_id(source))
                        break
                else:
                    result["reason"] = failures.get(source, "not indexed")
    return {"results": results}


@router.get("/{document_id}", response_model=DocumentText, responses=NOT_FOUND)
async def get_document(document_id: str, state: State) -> dict:
    """The whole extracted text of one document (what citation offsets point into)."""
    source = source_of(document_id)
    doc = await state.call(state.assistant.document, source)
    if doc is None:
        raise HTTPException(404, "no such document")
    return {**document_out(doc, state.uploads_dir), "text": doc.text,
            "pages": [{"number": p.number, "start": p.start, "end": p.end} for p in doc.pages]}


@router.get("/{document_id}/file", response_class=Response, responses={
    200: {"content": {"application/pdf": {}}, "description": "The PDF, as it was indexed."},
    404: {"model": ErrorOut, "description": "No such document, or it is not a PDF."},
    409: {"model": ErrorOut, "description": "The file is gone or has changed since it was indexed."}})
async def get_document_file(document_id: str, state: State) -> Response:
    """The original file of an indexed PDF, for the page's PDF view: served only while it holds
    the very bytes that were indexed (which the citations' pages and offsets describe), else 409,
    and the stored text (GET /api/documents/{id}) is what there is to read. Only the paths of
    indexed PDFs are ever read; other documents have their text only."""
    from ...errors import DocumentChanged, DocumentNotFound

    source = source_of(document_id)
    if Path(source).suffix.lower() != ".pdf":
        if await state.call(state.assistant.document, source) is None:
            raise HTTPException(404, "no such document")
        raise HTTPException(404, f"this document is not a PDF: its text is at /api/documents/{document_id}")
    doc = await state.call(state.assistant.document, source)
    try:
        # the file is read outside the answering lock: only the index lookup needs it
        data = await run_in_threadpool(state.assistant.original, source, doc)
    except DocumentNotFound:
        raise HTTPException(404, "no such document") from None
    except DocumentChanged as e:
        raise HTTPException(409, str(e)) from None
    # private, revalidated: the same URL serves other bytes once the file is indexed anew
    return Response(data, media_type="application/pdf", headers={
        "Cache-Control": "private, no-cache", "Content-Disposition": _inline(Path(source).name)})


@router.post("/{document_id}/summary", response_model=AnswerOut, responses=NOT_FOUND)
async def summarize_document(document_id: str, state: State) -> dict:
    """A summary of the whole document, every sentence cited (same JSON as an answer, as
    `rag summarize --json` prints it)."""
    from ...errors import DocumentNotFound

    source = source_of(document_id)
    try:
        answer = await state.call(state.assistant.summarize, source)
    except DocumentNotFound:
        raise HTTPException(404, "no such document") from None
    return answer_json(answer.to_dict())


@router.delete("/{document_id}", responses=NOT_FOUND)
async def delete_document(document_id: str, state: State) -> dict:
    """Remove a document from the index (and its uploaded file, if it was uploaded)."""
    source = source_of(document_id)
    if not await state.call(state.assistant.remove, source):
        raise HTTPException(404, "no such document")
    if _is_upload(state, source):
        Path(source).unlink(missing_ok=True)
    return {"removed": source}


def _inline(name: str) -> str:
    """A Content-Disposition header showing the file in place, its name kept (RFC 6266, 5987)."""
    from urllib.parse import quote

    ascii_name = re.sub(r'[^\x20-\x7e]|["\\]', "_", name)
    return f"inline; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


def _printable(name: str) -> str:
    return name.encode("utf-8", "backslashreplace").decode("utf-8")
