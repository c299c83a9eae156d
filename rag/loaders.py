"""path -> Document: find the files under the given paths and extract their text, one small
function per format. Problems are raised as IngestError with a reason a person can act on;
the caller collects them into the ingest report.
"""

from __future__ import annotations

import hashlib
import os
import re
import zipfile
from pathlib import Path

from .errors import IngestError
from .faults import reached
from .types import Document, FileError, Page

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
# A .docx is a zip: refuse archives that would expand past this many times the limit (zip bombs).
_MAX_EXPANSION = 20


def discover(paths: list[str | Path]) -> tuple[list[Path], list[FileError]]:
    """Expand files and folders (recursively, following symlinks once) into supported files.

    Returns the files in a stable order and the errors met on the way (missing paths,
    symlink loops, unsupported types).
    """
    files: list[Path] = []
    errors: list[FileError] = []
    seen_files: set[Path] = set()

    def add(path: Path) -> None:
        real = path.resolve()
        if real in seen_files:
            return
        seen_files.add(real)
        if not _is_utf8_name(real):  # the index stores paths as UTF-8 text
            errors.append(FileError(str(path), "the file name is not valid UTF-8: rename the file to index it"))
        elif path.suffix.lower() not in SUPPORTED:
            errors.append(FileError(str(path), f"unsupported file type '{path.suffix or '(none)'}' "
                                                f"(supported: {', '.join(SUPPORTED)})"))
        else:
            files.append(real)

    for raw in paths:
        path = Path(raw).expanduser()
        try:
            if path.is_file():
                add(path.absolute())
            elif path.exists() and not path.is_dir():
                errors.append(FileError(str(path), "not a regular file (a pipe, device or socket)"))
            elif path.is_dir():
                _walk(path.absolute(), add, errors)
            elif path.is_symlink():
                errors.append(FileError(str(path), "broken symlink or symlink loop"))
            else:
                errors.append(FileError(str(path), "no such file or folder"))
        except OSError as e:  # e.g. ELOOP on a self-referencing symlink
            errors.append(FileError(str(path), _os_reason(e)))
    return files, errors


def _walk(root: Path, add, errors: list[FileError]) -> None:
    visited: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=lambda e: errors.append(
            FileError(str(e.filename), _os_reason(e)))):
        real = os.path.realpath(dirpath)
        if real in visited:
            errors.append(FileError(dirpath, "symlink loop: this folder was already visited"))
            dirnames[:] = []
            continue
        visited.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                if not path.exists():
                    errors.append(FileError(str(path), "broken symlink or symlink loop"))
                    continue
                if not path.is_file():  # reading a pipe or a device would block or never end
                    errors.append(FileError(str(path), "not a regular file (a pipe, device or socket)"))
                    continue
                add(path)
            except OSError as e:
                errors.append(FileError(str(path), _os_reason(e)))


def _is_utf8_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:  # undecodable bytes in the name surface as lone surrogates
        return False
    return True


def _os_reason(e: OSError) -> str:
    return f"{e.strerror or e.__class__.__name__}" + (f" (errno {e.errno})" if e.errno else "")


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(path: Path, max_bytes: int | None = None) -> Document:
    """Read one file into a Document. Raises IngestError with the reason it cannot be read."""
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError as e:  # the index stores names as UTF-8 text
        raise IngestError(f"the file name is not valid UTF-8 ({str(path)[e.start:e.end]!r}): rename the file") from e
    data = read_bounded(path, max_bytes)
    reached("loaders.read")
    if not data.strip():
        raise IngestError("empty file: nothing to index")
    suffix = path.suffix.lower()
    reader = _READERS.get(suffix)
    if reader is None:
        raise IngestError(f"unsupported file type '{suffix}'")
    try:
        text, title, pages = reader(path, data, max_bytes)
    except IngestError:
        raise
    except RecursionError as e:
        raise IngestError("document is nested too deeply to parse") from e
    except Exception as e:  # parsers raise many types; the file is reported, never fatal
        raise IngestError(f"cannot parse {suffix[1:].upper()}: {e.__class__.__name__}: {e}"[:300]) from e
    if not text.strip():
        raise IngestError("no text found in the file (a scanned PDF or an empty document?)")
    return Document(source=str(path), text=text, title=title or path.stem, content_hash=content_hash(data),
                    pages=tuple(pages))


def read_bounded(path: Path, max_bytes: int | None) -> bytes:
    """The file's bytes, never more than `max_bytes`: the size is checked on the open file
    (not the name, which may be swapped meanwhile) and the read stops at the limit even if the
    file grows while being read. Only regular files: a FIFO or /dev/zero would never end."""
    import stat

    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise IngestError("not a regular file (a pipe, device or socket)")
            if max_bytes is not None and st.st_size > max_bytes:
                raise IngestError(_too_big(st.st_size, max_bytes))
            data = fh.read(max_bytes + 1) if max_bytes is not None else fh.read()
    except OSError as e:
        raise IngestError(f"cannot read file: {_os_reason(e)}") from e
    if max_bytes is not None and len(data) > max_bytes:
        raise IngestError(_too_big(len(data), max_bytes) + " (it grew while being read)")
    return data


def _too_big(size: int, max_bytes: int) -> str:
    return (f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:g} MB limit "
            "(raise RAG_MAX_FILE_MB to index it)")


# Byte order marks of the encodings whose text legitimately holds NUL bytes.
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"), (b"\xff\xfe", "utf-16"),
         (b"\xfe\xff", "utf-16"))


def _decode(data: bytes) -> str:
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as e:
                raise IngestError(f"not valid {encoding.upper()} (byte {e.start}): save the file as UTF-8") from e
    if b"\x00" in data[:8192]:
        raise IngestError("binary file (contains NUL bytes), not text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise IngestError(f"not valid UTF-8 (byte {e.start}): save the file as UTF-8") from e
    if "\x00" in text:
        raise IngestError("binary file (contains NUL bytes), not text")
    return text


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def _read_text(path: Path, data: bytes, max_bytes):
    # Offsets count characters as a text-mode reader sees them (open(), Path.read_text(), editors),
    # so line endings are normalised to "\n" the same way.
    text = _decode(data).replace("\r\n", "\n").replace("\r", "\n")
    return text, _first_line_title(text), []


def _read_html(path: Path, data: bytes, max_bytes):
    from bs4 import BeautifulSoup

    if b"\x00" in data[:8192]:
        raise IngestError("binary file (contains NUL bytes), not HTML")
    soup = BeautifulSoup(data, "html.parser")
    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    raw = soup.get_text("\n")
    # Collapse runs of blank lines and trailing spaces left by markup.
    text = re.sub(r"[ \t\r\f\v]+\n", "\n", raw)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return text, title or _first_line_title(text), []


def _read_pdf(path: Path, data: bytes, max_bytes):
    import io

    from pypdf import PdfReader

    if not data.startswith(b"%PDF"):
        raise IngestError("not a PDF (the file does not start with %PDF)")
    reader = PdfReader(io.BytesIO(data))
    if reader.is_encrypted:
        try:
            ok = reader.decrypt("")
        except Exception:
            ok = 0
        if not ok:
            raise IngestError("encrypted PDF: remove the password and ingest it again")
    text, pages = join_pages([(page.extract_text() or "").strip() for page in reader.pages])
    meta_title = ""
    try:
        meta_title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:
        pass
    return text, meta_title or _first_line_title(text), pages


def join_pages(page_texts: list[str]) -> tuple[str, list[Page]]:
    """The pages' texts joined by blank lines, and where each page lies in the result."""
    parts: list[str] = []
    pages: list[Page] = []
    offset = 0
    for number, page_text in enumerate(page_texts, start=1):
        if parts:
            parts.append("\n\n")
            offset += 2
        parts.append(page_text)
        pages.append(Page(number, offset, offset + len(page_text)))
        offset += len(page_text)
    return "".join(parts), pages


def _read_docx(path: Path, data: bytes, max_bytes):
    import io

    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            expanded = sum(info.file_size for info in zf.infolist())
    except zipfile.BadZipFile as e:
        raise IngestError("not a valid .docx (not a zip archive)") from e
    limit = (max_bytes or 50_000_000) * _MAX_EXPANSION
    if expanded > limit:
        raise IngestError(f"refusing .docx that expands to {expanded / 1e6:.0f} MB (zip bomb?)")
    document = docx.Document(io.BytesIO(data))
    paragraphs = [p.text for p in document.paragraphs]
    for table in document.tables:
        for row in table.rows:
            paragraphs.append(" | ".join(cell.text for cell in row.cells))
    text = "\n\n".join(p for p in paragraphs if p.strip())
    title = document.core_properties.title or ""
    return text, title or _first_line_title(text), []


_READERS = {
    ".txt": _read_text,
    ".md": _read_text,
    ".markdown": _read_text,
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
}
