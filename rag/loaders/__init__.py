"""path -> Document: find the files under the given paths and extract their text, one module
per family of formats: `plain` (plain text in any encoding, and the byte limits), `html`, `pdf`
(with OCR), `office` (the zip-based .docx, .pptx, .odt, .epub), `mail` (.eml), and `worker`, the
sandboxed parser process every reader of its own runs in. Problems are raised as IngestError with
a reason a person can act on; the caller collects them into the ingest report.

HTML is read as a browser lays it out (inline elements stay in their sentence, blocks break lines)
and DOCX in body order (tables where they stand); both give their headings, so each chunk is
labelled with the heading above it.

A file is judged by its content, not its name: .pdf, .docx, .html, .pptx, .odt, .epub and .eml
have their own readers, and every other file (README, COPYING, .py, .csv, .log, man pages...) is
indexed when its bytes decode as text, in UTF-8 or in the encoding charset-normalizer detects
(Latin-1, Windows-1252, Shift-JIS, UTF-16 with a BOM...). Binaries are refused. It does not chunk, embed or store anything.

What a file may cost is bounded (`ParseLimits`): its bytes, the text it expands to (per file and
per PDF page), how far a zip-based format (.docx, .pptx, .odt, .epub) may decompress, and how long
it may take to parse: every format with a reader of its own is parsed in a separate parser process
that is killed at the time limit, OCR included.

A PDF page with no text layer but an image is read by OCR (tesseract) when tesseract is installed;
the document then lists those pages (`Document.ocr_pages`), since OCR text can be wrong. Without
tesseract such a page is named in the file's notices.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import replace
from pathlib import Path

from ..errors import IngestError
from ..faults import reached
from ..types import Document, FileError, Heading, ParseLimits
from .html import _html_text, _read_html  # noqa: F401  (re-exported)
from .mail import _read_eml
from .office import _read_docx, _read_epub, _read_odt, _read_pptx
from .pdf import _read_pdf, find_furniture, join_pages, ocr_available  # noqa: F401  (re-exported)
from .plain import _os_reason, _read_text, _too_much_text, decode_text, open_regular, read_bounded  # noqa: F401
from .worker import (_parse, _parse_in_worker, _parser, _parsers, _reset_parsers, _serve,  # noqa: F401
                     parser_lane)  # (the parser process runs _serve)

__all__ = ["SUPPORTED", "content_hash", "decode_text", "discover", "find_furniture", "find_headings", "join_pages",
           "load", "ocr_available", "open_regular", "parser_lane", "read_bounded"]

logger = logging.getLogger(__name__)

# The names with a reader of their own, or long known to be text. Any other file is read as text
# when its content is text (`rag serve` takes an upload of any name, as `rag ingest` does).
SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx", ".odt", ".epub", ".eml")

# ---- per-format budgets (issue 19, item 5) -----------------------------------------------------------
# The last-resort caps (RAG_MAX_TEXT_MB, an archive's expansion, RAG_PARSE_TIMEOUT_S) let a small
# hostile file cost gigabytes and minutes first: a 316 KB .pptx and a 5.6 MB .eml reached ~4 GB of
# memory, a 20 KB .epub took 120 s of CPU. What the readers build is bounded instead, per format,
# from a streaming count made before any tree is built: XML elements (`office._check_xml_budget`:
# python-pptx and lxml hold ~0.5-1 KB per element), HTML tags (`html._check_html_tags`:
# BeautifulSoup ~1 KB per tag, html.parser ~200,000 tags a second), MIME parts (`mail._EML_PARTS`:
# the email package builds a message object per part). Each bound is one to two orders of
# magnitude above what real documents hold (a 300-slide deck: ~150,000 XML elements; a long novel
# as EPUB: ~100,000 tags), so only hostile files meet them, refused in seconds with the reason.
# These time budgets cap what is left, below RAG_PARSE_TIMEOUT_S. Judgement, not measured on a corpus.
_FORMAT_SECONDS = {".pptx": 30.0, ".odt": 30.0, ".epub": 60.0, ".eml": 30.0}


def discover(paths: list[str | Path], follow_symlinks: bool = False, folders: set[str] | None = None,
             within: list[str | Path] | None = None) -> tuple[list[Path], list[FileError]]:
    """Expand files and folders (recursively, skipping hidden ones) into the files to read.

    Inside a folder, a symlink (to a file or a folder) whose target lies outside that folder is
    skipped and reported unless `follow_symlinks`: it is resolved before anything under it is
    listed, so a link to / costs one check. Links within the folder are followed, each file and
    folder once. A path named on its own is read even when it is a symlink. Whether a file is
    text is decided when it is loaded, from its content. Nothing the file system holds is fatal:
    symlink loops, folders that cannot be read, pipes, sockets and devices are each reported
    with the reason and skipped.

    Args:
        folders: when given, the real path of every folder listed is added to it (what
            `rag watch` watches).
        within: the folders links may lead into (`rag watch`'s roots, when it lists a path
            under one): then a path named on its own is judged as a link inside them is, and a
            link inside a sub-folder may lead anywhere under them. By default each folder given
            is its own bound.

    Returns the files in a stable order and the errors met on the way (missing paths,
    symlink loops, links leading outside, unreadable folders, files that are not regular).
    """
    files: list[Path] = []
    errors: list[FileError] = []
    seen_files: set[Path] = set()

    def add(path: Path) -> None:
        real = Path(os.path.realpath(path))  # Path.resolve() raises on a link loop made meanwhile
        if real in seen_files:
            return
        seen_files.add(real)
        if not _is_utf8_name(real):  # the index stores paths as UTF-8 text
            errors.append(FileError(str(path), "the file name is not valid UTF-8: rename the file to index it"))
        else:
            files.append(real)

    bounds = None if within is None else [os.path.realpath(w) for w in within]
    for raw in paths:
        path = Path(raw).expanduser()
        try:
            if bounds is not None and not follow_symlinks and not _under(os.path.realpath(path), bounds):
                errors.append(FileError(str(path), f"symlink leads outside {', '.join(bounds)}; "
                                                   "use --follow-symlinks to include it"))
            elif path.is_file():
                add(path.absolute())
            elif path.exists() and not path.is_dir():
                errors.append(FileError(str(path), "not a regular file (a pipe, device or socket)"))
            elif path.is_dir():
                _walk(path.absolute(), add, errors, follow_symlinks, folders, bounds)
            elif path.is_symlink():
                errors.append(FileError(str(path), "broken symlink or symlink loop"))
            else:
                errors.append(FileError(str(path), "no such file or folder"))
        except OSError as e:  # e.g. ELOOP on a self-referencing symlink
            errors.append(FileError(str(path), _os_reason(e)))
    return files, errors


def _under(path: str, folders: list[str]) -> bool:
    return any(os.path.commonpath([f, path]) == f for f in folders)


def _walk(root: Path, add, errors: list[FileError], follow_symlinks: bool, folders: set[str] | None,
          bounds: list[str] | None) -> None:
    visited: set[str] = set()
    inside = bounds or [os.path.realpath(root)]

    def leads_outside(path: str) -> bool:
        """A symlink whose target (all links resolved) is not under the folder being ingested:
        judged before anything under it is listed."""
        if follow_symlinks or not os.path.islink(path):
            return False
        if _under(os.path.realpath(path), inside):
            return False
        shown = root if bounds is None else ", ".join(bounds)
        errors.append(FileError(path, f"symlink leads outside {shown}; use --follow-symlinks to include it"))
        return True

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=lambda e: errors.append(
            FileError(str(e.filename), _os_reason(e)))):
        real = os.path.realpath(dirpath)
        if real in visited:
            errors.append(FileError(dirpath, "symlink loop: this folder was already visited"))
            dirnames[:] = []
            continue
        visited.add(real)
        if folders is not None:
            folders.add(real)
        dirnames[:] = [d for d in sorted(dirnames)
                       if not d.startswith(".") and not leads_outside(os.path.join(dirpath, d))]
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = Path(dirpath) / name
            try:
                if leads_outside(str(path)):
                    continue
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


def content_hash(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def load(path: Path, max_bytes: int | None = None, limits: ParseLimits | None = None,
         as_name: Path | None = None) -> Document:
    """Read one file into a Document. Raises IngestError with the reason it cannot be read.

    Args:
        max_bytes: the largest file read (also `limits.max_bytes`; either bounds it).
        limits: how much text the file may expand to and how long it may take to parse
            (`ParseLimits`); every format with a reader of its own (PDF and its OCR, DOCX, HTML,
            PPTX, ODT, EPUB, EML) is parsed in a separate process when it sets `timeout_s`, so a
            parser that runs away is killed, not waited for.
        as_name: the name the file is indexed under, when its bytes are elsewhere for now (an
            upload kept under a temporary name): its suffix picks the reader, and it is the source.
    """
    limits = limits or ParseLimits()
    if max_bytes is not None:
        limits = replace(limits, max_bytes=max_bytes if limits.max_bytes is None else min(max_bytes, limits.max_bytes))
    name = as_name or path
    try:
        str(name).encode("utf-8")
    except UnicodeEncodeError as e:  # the index stores names as UTF-8 text
        raise IngestError(f"the file name is not valid UTF-8 ({str(name)[e.start:e.end]!r}): rename the file") from e
    suffix = name.suffix.lower()
    reader = _READERS.get(suffix, _read_text)
    data = read_bounded(path, limits.max_bytes, refuse_binary=reader is _read_text)
    reached("loaders.read")
    if not data.strip():
        raise IngestError("empty file: nothing to index")
    if reader is _read_text or limits.timeout_s is None:
        parsed = _parse(reader.__name__, name, data, limits)
    elif limits.timeout_s > _FORMAT_SECONDS.get(suffix, limits.timeout_s):
        parsed = _parse_in_worker(reader.__name__, name, data, replace(limits, timeout_s=_FORMAT_SECONDS[suffix]),
                                  f"the time a {suffix} file may take to parse")
    else:
        parsed = _parse_in_worker(reader.__name__, name, data, limits)
    text, title, pages, encoding, *more = parsed
    # Readers of paginated or structured formats return more: furniture and notices (PDF, PPTX,
    # EML), headings (HTML, ODT, EPUB, PPTX), the pages read by OCR (PDF).
    furniture, notices, found, ocr_pages = [*more, *[(), (), None, ()][len(more):]]
    if limits.max_chars is not None and len(text) > limits.max_chars:
        raise IngestError(_too_much_text(len(text), limits.max_chars))
    if not text.strip():
        raise IngestError("no text found in the file (a scanned PDF or an empty document?)")
    # HTML headings come from its tags; Markdown and reStructuredText headings from their lines.
    headings = found if found is not None else find_headings(text, suffix)
    return Document(source=str(name), text=text, title=title or name.stem, content_hash=content_hash(data),
                    pages=tuple(pages), encoding=encoding, furniture=tuple(furniture), notices=tuple(notices),
                    headings=tuple(Heading(start, title) for start, title in headings), ocr_pages=tuple(ocr_pages))


_MARKDOWN = (".md", ".markdown")
_ATX = re.compile(r" {0,3}(#{1,6})[ \t]+(.*?)(?:[ \t]+#+)?[ \t]*$")
_FENCE = re.compile(r" {0,3}(```|~~~)")
_SETEXT = re.compile(r" {0,3}(=+|-+)[ \t]*$")
_NOT_SETEXT = re.compile(r" {0,3}(?:#|[-*+>|][ \t]|\d{1,9}[.)][ \t]|```|~~~)")  # headings, list items, quotes, tables
_RST_ADORNMENT = re.compile(r"([=\-`:'\"~^_*+#<>])\1{2,}[ \t]*$")


def find_headings(text: str, suffix: str) -> list[tuple[int, str]]:
    """The headings of Markdown (`# Title`, or a line underlined with === or ---, outside fenced
    code) or reStructuredText (a line underlined, and maybe overlined, with punctuation at least
    as long): (where the heading's first line starts, its words). Other suffixes have none."""
    if suffix not in _MARKDOWN and suffix != ".rst":
        return []
    lines, at = [], 0
    for line in text.split("\n"):
        lines.append((at, line))
        at += len(line) + 1
    found: list[tuple[int, str]] = []
    fence = ""
    for i, (start, line) in enumerate(lines):
        below = lines[i + 1][1] if i + 1 < len(lines) else ""
        if suffix in _MARKDOWN:
            m = _FENCE.match(line)
            if m and (not fence or m.group(1) == fence):
                fence = "" if fence else m.group(1)
                continue
            if fence:
                continue
            atx = _ATX.match(line)
            if atx and atx.group(2).strip():
                found.append((start, atx.group(2).strip()))
            elif (line.strip() and not _SETEXT.match(line) and not _NOT_SETEXT.match(line) and _SETEXT.match(below)
                  and (i == 0 or not lines[i - 1][1].strip())):
                found.append((start, line.strip()))
        elif (line.strip() and not _RST_ADORNMENT.match(line) and _RST_ADORNMENT.match(below)
              and len(below.rstrip()) >= len(line.rstrip())):
            above = lines[i - 1][1] if i else ""
            overlined = bool(_RST_ADORNMENT.match(above)) and above.strip()[:1] == below.strip()[:1]
            found.append((lines[i - 1][0] if overlined else start, line.strip()))
    return [(start, title[:200]) for start, title in found]


_READERS = {  # any other name is read as text (_read_text) when its content is text
    ".html": _read_html,
    ".htm": _read_html,
    ".pdf": _read_pdf,
    ".docx": _read_docx,
    ".pptx": _read_pptx,
    ".odt": _read_odt,
    ".epub": _read_epub,
    ".eml": _read_eml,
}
# The readers by name: what the parser process is asked to run (`worker._parse`).
_BY_NAME = {reader.__name__: reader for reader in (*_READERS.values(), _read_text)}
