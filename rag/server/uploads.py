"""Uploaded files: safe names, a size limit enforced while the body arrives, and storage under
`<index_dir>/uploads/` only. Indexing them is the Assistant's job, not this module's.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

_UNSAFE = re.compile(r"[^\w.\- ()]+")


class UploadTooLarge(HTTPException):
    """413; an HTTPException so that FastAPI passes it through while parsing a form."""

    def __init__(self, limit_bytes: int):
        super().__init__(413, f"upload larger than {limit_bytes / 1_000_000:g} MB (RAG_MAX_UPLOAD_MB)",
                         headers={"Connection": "close"})


def safe_filename(name: str | None, allowed: tuple[str, ...]) -> str:
    """A file name that cannot leave the uploads folder: no folders, no leading dots, no control
    characters. Raises ValueError when nothing usable is left or the extension is not allowed."""
    name = unicodedata.normalize("NFC", name or "")
    name = re.split(r"[\\/]", name)[-1]  # browsers and curl may send a path; keep its last part
    name = _UNSAFE.sub("_", name).strip(" .")
    name = re.sub(r"_+", "_", name)
    if len(name) > 120:
        stem, dot, ext = name.rpartition(".")
        name = stem[: 120 - len(ext) - 1] + dot + ext if dot else name[:120]
    suffix = Path(name).suffix.lower()
    if not name or not Path(name).stem:
        raise ValueError("the file has no usable name")
    if suffix not in allowed:
        raise ValueError(f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(allowed)})")
    return name


def upload_path(uploads_dir: Path, safe_name: str) -> Path:
    """Where an upload is stored; checked again so no name can point outside `uploads_dir`."""
    root = uploads_dir.resolve()
    path = (root / safe_name).resolve()
    if path.parent != root:
        raise ValueError("the file name points outside the uploads folder")
    return path


class BodySizeLimit:
    """Refuse request bodies over `limit_bytes` on the paths given: at once when Content-Length
    says so, otherwise as soon as the bytes received pass the limit (chunked uploads)."""

    def __init__(self, app: ASGIApp, limit_bytes: int, paths: tuple[str, ...]):
        self.app, self.limit, self.paths = app, limit_bytes, paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or not scope["path"].startswith(self.paths):
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.limit:
            await _too_large(send, self.limit)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            received += len(message.get("body", b""))
            if received > self.limit:
                raise UploadTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)


async def _too_large(send: Send, limit: int) -> None:
    import json

    body = json.dumps({"detail": UploadTooLarge(limit).detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
