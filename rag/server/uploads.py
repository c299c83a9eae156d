"""Uploaded files: safe names, storage under `<index_dir>/uploads/` only, and all-or-nothing
replacement. Each request writes its files to temporary names of its own; a file takes its
place in the uploads folder only while the index is locked for its ingest, and goes back to the
old one if it could not be indexed. Indexing itself is the Assistant's job, not this module's;
the request size limit is in limits.py.
"""

from __future__ import annotations

import os
import re
import shutil
import unicodedata
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable

from ..proc import alive

_UNSAFE = re.compile(r"[^\w.\- ()]+")
# File systems allow 255 bytes per name. Our temporary names add ~60 bytes ('.', a pid, 32 hex,
# '.part') to the stored name, so the stored name keeps at most this many bytes of UTF-8.
MAX_NAME_BYTES = 180
_STRAY = re.compile(r"\.(?P<name>.+)\.(?P<pid>\d+)-[0-9a-f]{32}\.(?:part|old)|\.(?P<legacy>.+)\.part")


def safe_filename(name: str | None, allowed: tuple[str, ...] | None = None) -> str:
    """A file name that cannot leave the uploads folder: no folders, no leading dots, no control
    characters, at most MAX_NAME_BYTES of UTF-8 (the extension kept). Raises ValueError when
    nothing usable is left or the extension is not in `allowed` (None: any; the upload route
    lets the content decide, as `rag ingest` does)."""
    name = unicodedata.normalize("NFC", name or "")
    name = name.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes '?', then '_'
    name = re.split(r"[\\/]", name)[-1]  # browsers and curl may send a path; keep its last part
    name = _UNSAFE.sub("_", name).strip(" .")
    name = re.sub(r"_+", "_", name)
    stem, dot, ext = name.rpartition(".")
    if not dot:
        stem, ext = name, ""
    if len(name.encode()) > MAX_NAME_BYTES:
        if len(ext.encode()) > 16:  # not an extension we would accept anyway
            stem, dot, ext = name, "", ""
        room = MAX_NAME_BYTES - len((dot + ext).encode())
        stem = stem.encode()[:room].decode("utf-8", "ignore").rstrip(" .")
        name = stem + dot + ext
    suffix = Path(name).suffix.lower()
    if not name or not Path(name).stem:
        raise ValueError("the file has no usable name")
    if allowed is not None and suffix not in allowed:
        raise ValueError(f"unsupported file type '{suffix or '(none)'}' (supported: {', '.join(allowed)})")
    return name


def upload_path(uploads_dir: Path, safe_name: str) -> Path:
    """Where an upload is stored; checked again so no name can point outside `uploads_dir`."""
    root = uploads_dir.resolve()
    path = (root / safe_name).resolve()
    if path.parent != root:
        raise ValueError("the file name points outside the uploads folder")
    return path


def _temporary(path: Path, kind: str) -> Path:
    """A name in the same folder that no other request or process uses: `.NAME.PID-HEX.kind`."""
    return path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex}.{kind}")


@dataclass
class Staged:
    """An uploaded file written to `temporary`, to become `path` once indexed."""

    path: Path
    temporary: Path
    backup: Path | None = None  # the file `path` held before, while its replacement is indexed


def stage(source: BinaryIO, path: Path) -> Staged:
    """Copy an upload to a temporary file of its own beside `path` (nothing at `path` changes)."""
    staged = Staged(path, _temporary(path, "part"))
    source.seek(0)
    try:
        with open(staged.temporary, "wb") as out:
            while chunk := source.read(1 << 20):
                out.write(chunk)
    except BaseException:
        staged.temporary.unlink(missing_ok=True)
        raise
    return staged


def discard(staged: list[Staged]) -> None:
    for s in staged:
        s.temporary.unlink(missing_ok=True)


def commit(staged: list[Staged], index: Callable[[list[Path]], set[Path]]) -> None:
    """Put staged files in place and index them, all-or-nothing per file. Call with the index
    locked (no other upload or ingest runs meanwhile).

    Args:
        index: indexes the given paths and returns those that were indexed (or were unchanged).
    Raises whatever `index` raises, after putting every old file back."""
    for s in staged:
        if s.path.exists():  # kept under a second name, so it can come back
            s.backup = _temporary(s.path, "old")
            try:
                os.link(s.path, s.backup)
            except OSError:  # a file system without hard links
                shutil.copy2(s.path, s.backup)
        os.replace(s.temporary, s.path)
    try:
        done = index([s.path for s in staged])
    except BaseException:
        done = set()
        raise
    finally:
        for s in staged:
            if s.path in done:
                if s.backup:
                    s.backup.unlink(missing_ok=True)
            elif s.backup:
                os.replace(s.backup, s.path)  # the old file, which the index still describes
            else:
                s.path.unlink(missing_ok=True)


def remove_strays(uploads_dir: Path) -> list[Path]:
    """Delete temporary files that a killed server left in the uploads folder (those of live
    processes are kept: another server may share the folder). Call before this process uploads
    anything: a file named with its own pid is then a previous process's. Returns what was removed."""
    removed = []
    if not uploads_dir.is_dir():
        return removed
    for path in uploads_dir.iterdir():
        m = _STRAY.fullmatch(path.name)
        if not m or not path.is_file():
            continue
        pid = int(m.group("pid") or 0)
        if pid and pid != os.getpid() and alive(pid):
            continue
        path.unlink(missing_ok=True)
        removed.append(path)
    return removed
