"""path -> Document: find the files under the given paths and extract their text, one small
function per format. Problems are raised as IngestError with a reason a person can act on;
the caller collects them into the ingest report.

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
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

from .errors import IngestError, NotText
from .faults import reached
from .types import Document, FileError, Furniture, Heading, Page, ParseLimits

logger = logging.getLogger(__name__)

# The names with a reader of their own, or long known to be text. Any other file is read as text
# when its content is text (`rag serve` takes an upload of any name, as `rag ingest` does).
SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx", ".pptx", ".odt", ".epub", ".eml")
# A .docx (.pptx, .odt, .epub) is a zip: refuse archives that would expand past this many times the
# file size limit (zip bombs; see also _check_zip).
_MAX_EXPANSION = 20


def discover(paths: list[str | Path], follow_symlinks: bool = False) -> tuple[list[Path], list[FileError]]:
    """Expand files and folders (recursively, skipping hidden ones) into the files to read.

    Inside a folder, a symlink (to a file or a folder) whose target lies outside that folder is
    skipped and reported unless `follow_symlinks`; links within it are followed, each file once.
    A path named on its own is read even when it is a symlink. Whether a file is text is decided
    when it is loaded, from its content.

    Returns the files in a stable order and the errors met on the way (missing paths,
    symlink loops, links leading outside).
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
                _walk(path.absolute(), add, errors, follow_symlinks)
            elif path.is_symlink():
                errors.append(FileError(str(path), "broken symlink or symlink loop"))
            else:
                errors.append(FileError(str(path), "no such file or folder"))
        except OSError as e:  # e.g. ELOOP on a self-referencing symlink
            errors.append(FileError(str(path), _os_reason(e)))
    return files, errors


def _walk(root: Path, add, errors: list[FileError], follow_symlinks: bool) -> None:
    visited: set[str] = set()
    inside = os.path.realpath(root)

    def leads_outside(path: str) -> bool:
        """A symlink whose target (all links resolved) is not under the folder being ingested."""
        if follow_symlinks or not os.path.islink(path):
            return False
        target = os.path.realpath(path)
        if os.path.commonpath([inside, target]) == inside:
            return False
        errors.append(FileError(path, f"symlink leads outside {root}; use --follow-symlinks to include it"))
        return True

    for dirpath, dirnames, filenames in os.walk(root, followlinks=True, onerror=lambda e: errors.append(
            FileError(str(e.filename), _os_reason(e)))):
        real = os.path.realpath(dirpath)
        if real in visited:
            errors.append(FileError(dirpath, "symlink loop: this folder was already visited"))
            dirnames[:] = []
            continue
        visited.add(real)
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


def _os_reason(e: OSError) -> str:
    return f"{e.strerror or e.__class__.__name__}" + (f" (errno {e.errno})" if e.errno else "")


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


def _parse(reader_name: str, path: Path, data: bytes, limits: ParseLimits) -> tuple:
    """Run one reader, every failure an IngestError with the reason."""
    reader = globals()[reader_name]
    try:
        return reader(path, data, limits)
    except IngestError:
        raise
    except RecursionError as e:
        raise IngestError("document is nested too deeply to parse") from e
    except MemoryError as e:
        raise IngestError("parsing it ran out of memory (a file that expands hugely?)") from e
    except Exception as e:  # parsers raise many types; the file is reported, never fatal
        kind = path.suffix[1:].upper() or "the file"
        raise IngestError(f"cannot parse {kind}: {e.__class__.__name__}: {e}"[:300]) from e


# A parser process may use this much address space beyond its text limit: pypdf and python-docx
# hold the file, their parsed objects and the text several times over. Judgement, not measured.
_WORKER_MEMORY = 2_000_000_000
_WORKER_MEMORY_PER_CHAR = 40


class _ParserProcess:
    """One `python` process that parses files sent to it over a pipe, started on first use and
    killed when a parse passes its time limit (the next file starts a new one). A parser stuck in
    a hostile file (pypdf inflating a stream page after page, python-docx building a huge tree)
    cannot be interrupted from a thread; a process can. A fresh interpreter rather than a fork:
    this process runs the model's and Chroma's threads, and multiprocessing's spawn would import
    the caller's main module again. Parses are sent one at a time."""

    def __init__(self):
        self.proc = None
        self.lock = threading.Lock()

    def parse(self, request: tuple, timeout_s: float):
        import pickle
        import select

        with self.lock:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            proc = self.proc
            try:
                try:
                    pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    proc.stdin.flush()
                except BrokenPipeError:  # it died while idle (killed from outside): once more, afresh
                    self._stop()
                    self.proc = proc = self._start()
                    pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    proc.stdin.flush()
                # poll(), not select(): select() refuses a descriptor numbered 1024 or more, which
                # a long-running server with many open files reaches
                waiting = select.poll()
                waiting.register(proc.stdout, select.POLLIN)
                if not waiting.poll(timeout_s * 1000):
                    self._stop()
                    raise IngestError(f"parsing took longer than {timeout_s:g} s and was stopped "
                                      "(raise RAG_PARSE_TIMEOUT_S to allow more)")
                ok, value, healthy = pickle.load(proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                self._stop()
                raise IngestError("the parser process stopped without a result (out of memory?)") from None
            if not healthy:  # after MemoryError or the like, start afresh
                self._stop()
        return ok, value

    @staticmethod
    def _start():
        import subprocess
        import sys

        root = str(Path(__file__).resolve().parents[1])  # the rag this process runs
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # A process group of its own: the programs it runs (tesseract for OCR) are killed with it.
        return subprocess.Popen([sys.executable, "-c", "from rag.loaders import _serve; _serve()"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)

    def _stop(self) -> None:
        if self.proc is not None:
            import signal

            if self.proc.poll() is None:  # not reaped yet, so its group id is still its own
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None


_parser = _ParserProcess()
# A forked child (a test harness, a pre-forking server) starts its own parser: the parent's pipes are not its.
os.register_at_fork(after_in_child=lambda: _parser.__init__())


def _parse_in_worker(reader_name: str, path: Path, data: bytes, limits: ParseLimits) -> tuple:
    """`_parse` in the parser process, stopped after `limits.timeout_s` (see `_ParserProcess`)."""
    ok, value = _parser.parse((reader_name, path, data, limits), limits.timeout_s)
    if not ok:
        reason, not_text = value
        raise (NotText if not_text else IngestError)(reason)
    return value


def _serve() -> None:
    """The parser process: read (reader, path, bytes, limits) requests from stdin, answer each
    with (ok, result or reason, healthy) on stdout, until stdin closes (its parent is gone)."""
    import pickle
    import resource
    import sys

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a parser that prints must not break the replies
    parent = os.getppid()

    def orphaned() -> None:  # a parent killed mid-parse (SIGKILL) must not leave us parsing a bomb
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        if os.getpgrp() == os.getpid():  # and the tesseract it may be running
            import signal

            os.killpg(0, signal.SIGKILL)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    while True:
        try:
            reader_name, path, data, limits = pickle.load(stdin)
        except EOFError:
            return
        if limits.max_chars is not None:  # a runaway parse fails with MemoryError, not the machine
            cap = _WORKER_MEMORY + _WORKER_MEMORY_PER_CHAR * limits.max_chars
            try:
                resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
            except (ValueError, OSError):
                pass
        healthy = True
        try:
            result = (True, _parse(reader_name, path, data, limits))
        except IngestError as e:
            result = (False, (str(e), isinstance(e, NotText)))
            healthy = not isinstance(e.__cause__, MemoryError)
        except BaseException as e:  # noqa: BLE001  (reported by the parent)
            result, healthy = (False, (f"cannot parse: {e.__class__.__name__}: {e}"[:300], False)), False
        del data
        pickle.dump((*result, healthy), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()


def _too_much_text(chars: int, max_chars: int) -> str:
    return (f"the file expands to more than {max_chars / 1e6:g} M characters of text "
            f"({chars / 1e6:.1f} M so far), over the RAG_MAX_TEXT_MB limit: nothing of it was indexed")


def read_bounded(path: Path, max_bytes: int | None, refuse_binary: bool = False) -> bytes:
    """The file's bytes, never more than `max_bytes`: the size is checked on the open file
    (not the name, which may be swapped meanwhile) and the read stops at the limit even if the
    file grows while being read. Only regular files: a FIFO or /dev/zero would never end.

    With `refuse_binary`, a file whose first 8 KB hold NUL bytes (and no UTF-16/32 byte order
    mark) is refused from those alone, before its size is checked: a folder's photos and archives
    cost 8 KB each and are reported as binary, not as too big."""
    import stat

    try:
        with open(path, "rb") as fh:
            st = os.fstat(fh.fileno())
            if not stat.S_ISREG(st.st_mode):
                raise IngestError("not a regular file (a pipe, device or socket)")
            head = fh.read(_SNIFF_BYTES) if refuse_binary else b""
            if b"\x00" in head and not any(head.startswith(bom) for bom, _ in _BOMS):
                raise NotText(_BINARY)
            if max_bytes is not None and st.st_size > max_bytes:
                raise IngestError(_too_big(st.st_size, max_bytes))
            data = head + (fh.read(max(max_bytes + 1 - len(head), 0)) if max_bytes is not None else fh.read())
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
_SNIFF_BYTES = 8192
_BINARY = "binary file (contains NUL bytes), not text: skipped"
# Control characters text does not use (backspace, tab, newlines, form feed and ESC excluded: man
# pages overstrike with backspaces, logs hold colour codes): bytes that are not UTF-8 and decode
# in some 8-bit encoding to more than 1% of these (and more than one) are a binary, not text.
_CONTROL = re.compile(r"[\x00-\x07\x0e-\x1a\x1c-\x1f\x7f]")
# When several encodings fit the bytes about equally well (charset-normalizer ties often on short
# Western text: Latin-1 bytes read as cp1250 give "crčme" for "crème"), the most widely used wins.
_PREFERRED = ("cp1252", "latin_1", "cp932", "shift_jis", "euc_jp", "gb18030", "big5", "euc_kr", "cp1251",
              "koi8_r", "cp1250", "iso8859_15")
_TIE_CHAOS, _TIE_COHERENCE = 0.1, 0.1


def decode_text(data: bytes) -> tuple[str, str]:
    """The text of a file's bytes and the encoding it was decoded with (a Python codec name:
    "utf-8", "utf-16", "cp1252", "cp932"...). UTF-8 and byte order marks are trusted; any other
    bytes go to charset-normalizer.

    Raises:
        IngestError: the bytes are not text (NUL bytes; not UTF-8 and no encoding fits, or the
            one that fits gives control characters), or mix UTF-8 with another encoding.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding
            except UnicodeDecodeError as e:
                raise IngestError(f"not valid {encoding.upper()} (byte {e.start}) although it starts with "
                                  f"a {encoding.upper()} byte order mark: save the file as UTF-8") from e
    if b"\x00" in data:
        raise NotText(_BINARY)
    try:
        return data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as e:
        first_bad = e.start
    encoding = _detect_encoding(data)
    if encoding is None:
        raise NotText("not text: no text encoding fits its bytes (a binary file?): skipped")
    text = data.decode(encoding)
    if encoding in _WESTERN and _has_utf8_sequences(data):
        raise IngestError(f"mixed encodings: part UTF-8, part {encoding} (first non-UTF-8 byte at {first_bad}): "
                          "save the file as UTF-8")
    return _checked(text), encoding


# Where a UTF-8 sequence read as one of these encodings makes mojibake no text holds ("Ã©" for "é":
# a capital with an accent, then a symbol), so finding one means UTF-8 is mixed in. In Cyrillic or
# Central European text the same bytes are ordinary letter pairs ("Бі", "ÓŁ") and prove nothing.
_WESTERN = {"cp1252", "latin_1", "iso8859_15"}


def _detect_encoding(data: bytes) -> str | None:
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        return None
    best = matches[0]
    close = [m for m in matches if m.chaos <= best.chaos + _TIE_CHAOS and m.coherence >= best.coherence - _TIE_COHERENCE]
    for name in _PREFERRED:  # could_be_from_charset: the encodings giving the very same text
        for m in close:
            if name in m.could_be_from_charset:
                return name
    return best.encoding


def _has_utf8_sequences(data: bytes) -> bool:
    """Whether bytes that are not UTF-8 as a whole still hold multi-byte UTF-8 characters: in
    Western text, a file with UTF-8 and Latin-1 pasted together, which no single encoding reads right."""
    return bool(re.search(rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}", data))


def _checked(text: str) -> str:
    controls = len(_CONTROL.findall(text))
    if "\x00" in text or (controls > 1 and controls > len(text) / 100):
        raise NotText(f"binary file ({controls} control characters), not text: skipped")
    return text


def _codec_name(name: str | None) -> str:
    import codecs

    if not name:
        return ""
    try:
        return codecs.lookup(name).name
    except LookupError:
        return name


def _first_line_title(text: str) -> str:
    for line in text.splitlines():
        line = line.strip().lstrip("#").strip()
        if line:
            return line[:200]
    return ""


def _read_text(path: Path, data: bytes, limits: ParseLimits):
    # Offsets count characters as a text-mode reader sees them (open(), Path.read_text(), editors),
    # so line endings are normalised to "\n" the same way.
    text, encoding = decode_text(data)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text, _first_line_title(text), [], _codec_name(encoding)


def _read_html(path: Path, data: bytes, limits: ParseLimits):
    from bs4 import BeautifulSoup
    from bs4.dammit import EncodingDetector

    if b"\x00" in data[:8192]:
        raise NotText("binary file (contains NUL bytes), not HTML: skipped")
    if EncodingDetector.find_declared_encoding(data, is_html=True):  # <meta charset>: the page says
        soup = BeautifulSoup(data, "html.parser")
        encoding = soup.original_encoding
    else:  # as for any text file: bs4's own guess reads Windows-1252 "café" as cp1006 "cafﻠ"
        html, encoding = decode_text(data)
        soup = BeautifulSoup(html, "html.parser")
    text, title, headings = _html_text(soup)
    return text, title, [], _codec_name(encoding), [], [], headings


# Elements a browser lays out as blocks: each starts on a line of its own. Every other element
# (<a>, <b>, <code>, <tt>, <span>, <em>...) is inline and its text runs on with the text around it.
_HTML_BLOCKS = frozenset("""address article aside blockquote body caption center dd details dialog dir div dl dt
fieldset figcaption figure footer form frameset h1 h2 h3 h4 h5 h6 header hgroup hr html legend li listing main
menu nav ol optgroup option p plaintext pre section summary table tbody td tfoot th thead tr ul xmp""".split())
_HTML_HEADINGS = frozenset(("h1", "h2", "h3", "h4", "h5", "h6"))
_HTML_PREFORMATTED = frozenset(("pre", "listing", "plaintext", "xmp", "textarea"))
# Between blocks a blank line, so no block's last line is read as wrapped into the next one's;
# a table row or <br> is one line break, and the cells of a row are joined by " | " (as the DOCX
# and PPTX readers join them).
_CELL, _LINE, _PARAGRAPH = " | ", "\n", "\n\n"


def _html_text(soup) -> tuple[str, str, list[tuple[int, str]]]:
    """A parsed HTML page's visible text as a browser lays it out, its title (<title> or first
    line) and its headings (where each starts in the text, its words).

    Inline elements stay in the line; only block elements and <br> break it. Whitespace collapses
    as in a browser, except inside <pre>. A heading is placed where its own text lands, so a table
    of contents repeating the headings' words cannot pull them to the top. The tree is walked
    without recursion: a hostile page nests elements 100,000 deep."""
    from bs4 import CData, NavigableString, Tag

    title = soup.title.get_text(" ", strip=True) if soup.title else ""
    for tag in soup(["script", "style", "noscript", "template", "head"]):
        tag.decompose()
    text = _HtmlText()
    stack = [iter(soup.contents)]
    open_tags: list[str] = []
    while stack:
        node = next(stack[-1], None)
        if node is None:  # the element whose children these were is closed
            stack.pop()
            if open_tags:
                text.close(open_tags.pop())
        elif isinstance(node, Tag):
            if node.name == "br":
                text.line_break()
                continue
            heading = " ".join(node.get_text(" ").split())[:200] if node.name in _HTML_HEADINGS else None
            text.open(node.name, heading)
            open_tags.append(node.name)
            stack.append(iter(node.contents))
        elif type(node) is NavigableString or isinstance(node, CData):  # not comments, doctypes
            text.add(str(node))
    body = text.text()
    return body, title or _first_line_title(body), text.headings


class _HtmlText:
    """The text of an HTML page as its elements open and close (`_html_text` walks the tree)."""

    def __init__(self):
        self.parts: list[str] = []
        self.length = 0
        self.pending = ""  # the break owed before the next text: "", _CELL, _LINE or _PARAGRAPH
        self.line_empty = True  # no text since the last line break: a row's first cell owes no " | "
        self.preformatted = 0
        self.headings: list[tuple[int, str]] = []
        self.heading: str | None = None  # an open heading's words, placed at its first text

    def owe(self, brk: str) -> None:
        rank = {"": 0, _CELL: 1, _LINE: 2, _PARAGRAPH: 3}
        if brk == _CELL and self.line_empty:
            return
        if rank[brk] > rank[self.pending]:
            self.pending = brk

    def open(self, name: str, heading: str | None) -> None:
        if name in _HTML_PREFORMATTED:
            self.preformatted += 1
        if name in _HTML_BLOCKS:
            self.owe(_CELL if name in ("td", "th") else _LINE if name == "tr" else _PARAGRAPH)
        if heading:
            self.heading = heading

    def close(self, name: str) -> None:
        if name in _HTML_PREFORMATTED:
            self.preformatted -= 1
        if name in _HTML_BLOCKS and name not in ("td", "th"):
            self.owe(_LINE if name == "tr" else _PARAGRAPH)

    def line_break(self) -> None:
        if self.preformatted:
            self.add("\n")
        else:
            self.owe(_LINE)
            self.line_empty = True

    def add(self, text: str) -> None:
        if self.preformatted:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
            if self.pending or not self.parts:  # a browser drops the line break that opens a <pre>
                text = text.lstrip("\n") if text.strip() else ""
        else:
            text = re.sub(r"\s+", " ", text)
            if self.pending or not self.parts or self.parts[-1].endswith((" ", "\n")):
                text = text.lstrip(" ")
        if not text:
            return
        if self.pending and self.parts:
            last = self.parts[-1].rstrip()  # no line or cell ends in spaces
            self.length -= len(self.parts[-1]) - len(last)
            self.parts[-1] = last
            self.parts.append(self.pending)
            self.length += len(self.pending)
        if self.pending in (_LINE, _PARAGRAPH):
            self.line_empty = True
        self.pending = ""
        if self.heading is not None and text.strip():
            self.headings.append((self.length + len(text) - len(text.lstrip()), self.heading))
            self.heading = None
        self.parts.append(text)
        self.length += len(text)
        self.line_empty = self.line_empty and not text.strip()

    def text(self) -> str:
        return "".join(self.parts).rstrip()


def _read_pdf(path: Path, data: bytes, limits: ParseLimits):
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
    page_texts = _page_texts(reader, limits)
    scanned = [i for i, t in enumerate(page_texts) if not t and _draws_image(reader.pages[i])]
    ocr = bool(scanned) and ocr_available()
    ocr_pages = _ocr(data, page_texts, scanned, limits) if ocr else []
    if page_texts and not any(page_texts):
        if ocr:
            raise IngestError(f"no text layer on any of its {len(page_texts)} pages, and OCR (tesseract) "
                              "found no text in their images either")
        raise IngestError(f"no text layer on any of its {len(page_texts)} pages (a scanned PDF?): "
                          "install tesseract-ocr so rag reads it by OCR, or run OCR on it (e.g. ocrmypdf) "
                          "and ingest the result")
    text, pages = join_pages(page_texts)
    meta_title = ""
    try:
        meta_title = (reader.metadata.title or "") if reader.metadata else ""
    except Exception:
        pass
    furniture = find_furniture(text, pages)
    notices = [f"page {p.number} has no text layer (scanned?)"
               + ("" if ocr or p.number - 1 not in scanned else ": install tesseract-ocr so rag reads it by OCR")
               for p in pages if p.start == p.end]
    notices += [f"page {n}: text read by OCR (tesseract), it may hold misread words" for n in ocr_pages]
    body_title = _first_line_title("\n".join(text[a:b] for a, b in _complement(furniture, len(text))))
    return text, meta_title or body_title or _first_line_title(text), pages, "", furniture, notices, None, ocr_pages


def ocr_available() -> bool:
    """Whether PDF pages without a text layer can be read by OCR: the `tesseract` program (Debian:
    apt install tesseract-ocr) and its Python wrapper are installed."""
    import importlib.util
    import shutil

    return shutil.which("tesseract") is not None and importlib.util.find_spec("pytesseract") is not None


def _draws_image(page, depth: int = 0) -> bool:
    """Whether a page (or a form it draws) holds an image: a page with no text and no image is
    blank, and OCR is not run on it."""
    try:
        if depth == 0 and len(page.images) > 0:  # inline images and image XObjects
            return True
        resources = page.get("/Resources")
        xobjects = resources.get_object().get("/XObject") if resources is not None else None
        for ref in (xobjects.get_object().values() if xobjects is not None else ()):
            obj = ref.get_object()
            if obj.get("/Subtype") == "/Image" or (obj.get("/Subtype") == "/Form" and depth < 3
                                                   and _draws_image(obj, depth + 1)):
                return True
    except Exception:  # a broken page: try OCR rather than miss a scan
        return True
    return False


# A page is rendered for OCR at _OCR_DPI (tesseract reads body text best from 300 DPI), in grey,
# but never to more than _OCR_MAX_PIXELS (an A4 page at 300 DPI is 8.7 M): a hostile page size
# (PDF allows 200 x 200 inches) must not make a bitmap of gigabytes.
_OCR_DPI = 300
_OCR_MAX_PIXELS = 40_000_000


def _ocr(data: bytes, page_texts: list[str], indexes: list[int], limits: ParseLimits) -> list[int]:
    """Read the pages at `indexes` (0-based) by OCR into `page_texts`, within the text limits.
    Returns the 1-based numbers of the pages OCR found text on. Each page is rendered with pdfium
    and read by tesseract, a child of this (parser) process, killed with it at the time limit."""
    import math

    import pypdfium2
    import pytesseract

    pdf = pypdfium2.PdfDocument(data)
    total = sum(len(t) + 2 for t in page_texts)
    found = []
    try:
        for i in indexes:
            page = pdf[i]
            width, height = page.get_size()  # in points, 1/72 inch
            scale = min(_OCR_DPI / 72, math.sqrt(_OCR_MAX_PIXELS / max(width * height, 1.0)))
            image = page.render(scale=scale, grayscale=True).to_pil()
            # The timeout stops a tesseract left running if this process is killed meanwhile.
            text = pytesseract.image_to_string(image, timeout=limits.timeout_s or 0)
            text = re.sub(r"[ \t]+\n", "\n", text.replace("\x0c", "")).strip()
            if limits.max_page_chars is not None and len(text) > limits.max_page_chars:
                raise IngestError(f"page {i + 1} reads by OCR as {len(text):,} characters, over the "
                                  f"{limits.max_page_chars:,} per page limit (RAG_MAX_PAGE_CHARS): "
                                  "nothing of it was indexed")
            total += len(text)
            if limits.max_chars is not None and total > limits.max_chars:
                raise IngestError(_too_much_text(total, limits.max_chars) + f" (at page {i + 1}, read by OCR)")
            if text:
                page_texts[i] = text
                found.append(i + 1)
    finally:
        pdf.close()
    return found


def _page_texts(reader, limits: ParseLimits) -> list[str]:
    """Each page's text, stopping at the first page or the first total over the limits: pages
    may share one compressed content stream, so a 33 KB file can hold hundreds of MB of text."""
    texts: list[str] = []
    total = 0
    for number, page in enumerate(reader.pages, start=1):
        if limits.max_page_chars is not None:
            drawn = _string_bytes(page)
            if drawn > _DRAWN_PER_CHAR * limits.max_page_chars:
                raise IngestError(f"page {number} draws {drawn:,} bytes of text strings, far over the "
                                  f"{limits.max_page_chars:,} characters per page limit (RAG_MAX_PAGE_CHARS): "
                                  "nothing of it was indexed")
        text = (page.extract_text() or "").strip()
        if limits.max_page_chars is not None and len(text) > limits.max_page_chars:
            raise IngestError(f"page {number} expands to {len(text):,} characters, over the "
                              f"{limits.max_page_chars:,} per page limit (RAG_MAX_PAGE_CHARS): nothing of it was indexed")
        total += len(text) + 2
        if limits.max_chars is not None and total > limits.max_chars:
            raise IngestError(_too_much_text(total, limits.max_chars) + f" (at page {number})")
        texts.append(text)
    return texts


# Extracting a page of millions of characters takes pypdf ~13 s (measured on a shared 2-core
# machine), so a page is first judged from the bytes of the strings its content streams draw (pypdf
# decodes a stream once and keeps it for the extraction). A character takes 1 to 4 bytes there (a
# two-byte glyph code in hex), 8 at worst (octal escapes), so a page drawing more than
# _DRAWN_PER_CHAR bytes per allowed character is refused unread: one refused wrongly would hold at
# least half the limit. Inline images can look like strings too; 4 MB of them on one page is rare.
_DRAWN_PER_CHAR = 4
_STRINGS = re.compile(rb"\((?:[^()\\]|\\.)*\)|<[0-9A-Fa-f\s]*>")


def _string_bytes(page) -> int:
    """Bytes of the string operands (literal and hex) in a page's content streams."""
    from pypdf.generic import ArrayObject

    contents = page.get("/Contents")
    if contents is None:
        return 0
    contents = contents.get_object()
    streams = [c.get_object() for c in contents] if isinstance(contents, ArrayObject) else [contents]
    total = 0
    for stream in streams:
        try:
            data = stream.get_data()
        except Exception:  # a broken stream: pypdf's extraction reports it
            continue
        total += sum(len(m) for m in _STRINGS.findall(data))
    return total


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


# Running headers, footers and page numbers. A line is furniture when it sits among the first or last
# _EDGE_LINES lines of its page and the same line, digits aside ("Page 3 of 9", "Report 2024 - 7"),
# sits there on at least _MIN_REPEATS pages and on _MIN_SHARE of the pages with text (a share, not
# all: odd and even pages often carry different headers), each of its numbers either the same on
# every page (a year, the page count) or the page number plus a constant (the page number). Lines
# of a table or list repeat their shape too, but their numbers do neither. A bare page number
# ("7", "- 7 -", "Page 7", "7/9") at a page's edge is furniture on any document of two pages or more.
_EDGE_LINES = 3
_MIN_REPEATS = 3
_MIN_SHARE = 0.4
_PAGE_NUMBER = re.compile(r"[\W_]*(?:page|p\.|seite|página|pagina)?\s*\d{1,4}(?:\s*(?:of|/|de|von)\s*\d{1,4})?[\W_]*",
                          re.IGNORECASE)


def find_furniture(text: str, pages: list[Page]) -> list[Furniture]:
    """The running headers, footers and page numbers of a paginated text (see `_EDGE_LINES`),
    taken from each page's edges inwards, stopping at the first line that is not one. Returns
    their spans in `text`, whole lines without surrounding spaces."""
    lines_of = {p.number: _lines(text, p.start, p.end) for p in pages}
    with_text = [p for p in pages if p.end > p.start]
    seen: dict[str, list[tuple[int, list[int]]]] = {}  # shape -> (page, the line's numbers) per occurrence
    for p in with_text:
        lines = lines_of[p.number]
        edges = dict.fromkeys(lines[:_EDGE_LINES] + lines[-_EDGE_LINES:])
        for a, b in edges:
            seen.setdefault(_shape(text[a:b]), []).append((p.number, [int(d) for d in re.findall(r"\d+", text[a:b])]))
    needed = max(_MIN_REPEATS, _MIN_SHARE * len(with_text))
    running = {shape for shape, occurrences in seen.items()
               if len({page for page, _ in occurrences}) >= needed and _numbers_run_with_pages(occurrences)}

    def is_furniture(a: int, b: int) -> bool:
        line = text[a:b]
        return _shape(line) in running or (len(with_text) >= 2 and bool(_PAGE_NUMBER.fullmatch(line)))

    found: list[Furniture] = []
    for p in with_text:
        lines = lines_of[p.number]
        top = 0
        while top < min(_EDGE_LINES, len(lines)) and is_furniture(*lines[top]):
            top += 1
        bottom = len(lines)
        while bottom > max(top, len(lines) - _EDGE_LINES) and is_furniture(*lines[bottom - 1]):
            bottom -= 1
        found += [Furniture(p.number, a, b) for a, b in lines[:top] + lines[bottom:]]
    return found


def _numbers_run_with_pages(occurrences: list[tuple[int, list[int]]]) -> bool:
    """Whether each number of the line is the same everywhere, or the page number plus a constant."""
    for k in range(len(occurrences[0][1])):
        values = [(page, numbers[k]) for page, numbers in occurrences]
        if len({v for _, v in values}) > 1 and len({v - page for page, v in values}) > 1:
            return False
    return True


def _lines(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """(start, end) of each non-blank line of text[start:end], surrounding spaces excluded."""
    out = []
    for m in re.finditer(r"[^\n]+", text[start:end]):
        line = m.group()
        if line.strip():
            a = start + m.start() + (len(line) - len(line.lstrip()))
            out.append((a, a + len(line.strip())))
    return out


def _shape(line: str) -> str:
    """A line with its digits and spacing normalised: "Page 3 of 9" and "Page 4 of 9" are alike."""
    return re.sub(r"\s+", " ", re.sub(r"\d+", "#", line.strip().lower()))


def _complement(furniture: list[Furniture], length: int) -> list[tuple[int, int]]:
    return Document("", " " * length, "", "", furniture=tuple(furniture)).body()


def _read_docx(path: Path, data: bytes, limits: ParseLimits):
    import io

    import docx

    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            _check_zip(zf, limits)
            _check_docx_text(zf, limits)
    except zipfile.BadZipFile as e:
        raise IngestError("not a valid .docx (not a zip archive)") from e
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = docx.Document(io.BytesIO(data))
    out = _Paragraphs(limits)
    # Paragraphs and tables in the order of the body, as Word shows them: a table's text sits
    # where the table is, so a citation of it points there (issue 18).
    for child in document.element.body.iterchildren():
        if child.tag == _W + "p":
            paragraph = Paragraph(child, document)
            out.add(paragraph.text, heading=_docx_heading(paragraph))
        elif child.tag == _W + "tbl":
            for row in Table(child, document).rows:
                cells = list({id(cell._tc): cell for cell in row.cells}.values())  # a merged cell once
                out.add(" | ".join(" ".join(cell.text.split()) for cell in cells))
    text = out.text()
    title = document.core_properties.title or ""
    return text, title or _first_line_title(text), [], "", [], [], out.headings


def _docx_heading(paragraph) -> str | None:
    """The words of a paragraph styled as a heading ("Heading 1".."Heading 9", "Title"), else None."""
    try:
        style = paragraph.style.name if paragraph.style is not None else ""
    except (KeyError, ValueError):  # a style the file names but does not define
        return None
    if style == "Title" or re.fullmatch(r"Heading \d", style or ""):
        return " ".join(paragraph.text.split()) or None
    return None


# Zip-based formats (.docx) are checked before anything is decompressed, from the sizes the
# archive declares (zipfile never inflates a member past its declared size). A member over
# _RATIO_FROM bytes inflating more than _MAX_RATIO times is taken for a bomb (deflate reaches
# ~1000:1 on repeated bytes; the XML of written documents compresses far less). In all, an archive
# may expand to _MAX_EXPANSION times the file size limit and to _XML_PER_CHAR bytes per character
# of the text limit (room for Word's markup around the text). Judgement calls, not measured.
_MAX_RATIO = 100
_RATIO_FROM = 10_000_000
_XML_PER_CHAR = 4


def _check_zip(zf: zipfile.ZipFile, limits: ParseLimits) -> None:
    infos = zf.infolist()
    for info in infos:
        if info.file_size > _RATIO_FROM and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
            raise IngestError(f"refusing {info.filename}: it expands {info.file_size / max(info.compress_size, 1):.0f} "
                              f"times, to {info.file_size / 1e6:.0f} MB (zip bomb?)")
    expanded = sum(info.file_size for info in infos)
    bounds = [(limits.max_bytes or 50_000_000) * _MAX_EXPANSION]
    if limits.max_chars is not None:
        bounds.append(limits.max_chars * _XML_PER_CHAR)
    if expanded > min(bounds):
        raise IngestError(f"refusing an archive that expands to {expanded / 1e6:.0f} MB, over the "
                          f"{min(bounds) / 1e6:.0f} MB that RAG_MAX_TEXT_MB and RAG_MAX_FILE_MB allow (zip bomb?)")


_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"


def _check_docx_text(zf: zipfile.ZipFile, limits: ParseLimits) -> None:
    """Count the text of word/document.xml as it streams out of the archive, paragraph by
    paragraph, and refuse the file as soon as it passes the text limit: python-docx builds the
    whole tree (~10 bytes of memory per byte of XML) before giving one paragraph."""
    if limits.max_chars is None or "word/document.xml" not in zf.namelist():
        return
    from lxml import etree

    total = 0
    with zf.open("word/document.xml") as fh:
        for _, el in etree.iterparse(fh, events=("end",), tag=(_W + "t", _W + "p"), resolve_entities=False,
                                     no_network=True):
            if el.tag == _W + "t":
                total += len(el.text or "")
                if total > limits.max_chars:
                    raise IngestError(_too_much_text(total, limits.max_chars))
            else:  # a finished paragraph: free it and those before it
                el.clear()
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]


def _open_zip(data: bytes, limits: ParseLimits, kind: str) -> zipfile.ZipFile:
    """A zip-based document (.pptx, .odt, .epub), its declared sizes checked (`_check_zip`)
    before anything is decompressed."""
    import io

    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as e:
        raise IngestError(f"not a valid {kind} (not a zip archive)") from e
    _check_zip(zf, limits)
    return zf


class _Paragraphs:
    """Paragraphs joined by blank lines as they are read, with where headings start, counted
    against the text limit as they come (a file is refused at the first paragraph past it)."""

    def __init__(self, limits: ParseLimits):
        self.parts: list[str] = []
        self.length = 0
        self.headings: list[tuple[int, str]] = []
        self.max_chars = limits.max_chars

    def add(self, text: str, heading: str | None = None) -> None:
        """Append a paragraph (a blank one is dropped); `heading`: it opens a section of that name."""
        text = text.strip()
        if not text:
            return
        if self.parts:
            self.parts.append("\n\n")
            self.length += 2
        if heading:
            self.headings.append((self.length, heading[:200]))
        self.parts.append(text)
        self.length += len(text)
        if self.max_chars is not None and self.length > self.max_chars:
            raise IngestError(_too_much_text(self.length, self.max_chars))

    def text(self) -> str:
        return "".join(self.parts)


def _read_pptx(path: Path, data: bytes, limits: ParseLimits):
    """One page per slide (a citation carries its slide number as its page), each a section named
    "Slide N: its title"; the slide's text frames and tables in shape order, then its speaker notes."""
    import io

    from pptx import Presentation

    with _open_zip(data, limits, ".pptx") as zf:
        if "ppt/presentation.xml" not in zf.namelist():
            raise IngestError("not a valid .pptx (no ppt/presentation.xml in the archive)")
    deck = Presentation(io.BytesIO(data))
    slide_texts, titles, total = [], [], 0
    for number, slide in enumerate(deck.slides, start=1):
        paragraphs = list(_shape_texts(slide.shapes))
        if slide.has_notes_slide and slide.notes_slide.notes_text_frame is not None:
            notes = slide.notes_slide.notes_text_frame.text.strip()
            if notes:
                paragraphs.append(f"Notes: {notes}")
        text = "\n\n".join(p for p in (p.strip() for p in paragraphs) if p)
        total += len(text) + 2
        if limits.max_chars is not None and total > limits.max_chars:
            raise IngestError(_too_much_text(total, limits.max_chars) + f" (at slide {number})")
        shape = slide.shapes.title
        titles.append(shape.text_frame.text.strip() if shape is not None and shape.has_text_frame else "")
        slide_texts.append(text)
    text, pages = join_pages(slide_texts)
    headings = [(page.start, f"Slide {page.number}" + (f": {' '.join(title.split())}" if title else ""))
                for page, title in zip(pages, titles) if page.end > page.start]
    empty = [f"slide {p.number} has no text" for p in pages if p.start == p.end]
    first_title = next((t for t in titles if t), "")
    return text, deck.core_properties.title or first_title or _first_line_title(text), pages, "", [], empty, headings


def _shape_texts(shapes, depth: int = 0):
    """The text of each shape (text frames, table rows, the shapes of groups), in shape order."""
    from pptx.shapes.group import GroupShape

    for shape in shapes:
        if isinstance(shape, GroupShape):
            if depth < 20:
                yield from _shape_texts(shape.shapes, depth + 1)
        elif getattr(shape, "has_text_frame", False) and shape.has_text_frame:
            # A paragraph of a text frame is a bullet or a line of its own, never a wrapped one: a
            # blank line between them, so no two bullets are read as one sentence.
            yield "\n\n".join(p.text for p in shape.text_frame.paragraphs if p.text.strip())
        elif getattr(shape, "has_table", False) and shape.has_table:
            yield "\n".join(" | ".join(cell.text.strip() for cell in row.cells) for row in shape.table.rows)


_ODF_TEXT = "{urn:oasis:names:tc:opendocument:xmlns:text:1.0}"
_ODF_OFFICE = "{urn:oasis:names:tc:opendocument:xmlns:office:1.0}"
# Inside a paragraph, not its text: a footnote's number, comments, and tracked changes (deleted text).
_ODF_SKIP = {_ODF_TEXT + "note-citation", _ODF_OFFICE + "annotation", _ODF_TEXT + "tracked-changes"}


def _read_odt(path: Path, data: bytes, limits: ParseLimits):
    """The paragraphs and headings of an OpenDocument text (content.xml), streamed with lxml; its
    headings (`text:h`) open the sections. Tables' and lists' paragraphs are paragraphs too."""
    from lxml import etree

    with _open_zip(data, limits, ".odt") as zf:
        names = set(zf.namelist())
        if "content.xml" not in names:
            raise IngestError("not a valid .odt (no content.xml in the archive)")
        if "META-INF/manifest.xml" in names and b"encryption-data" in zf.read("META-INF/manifest.xml"):
            raise IngestError("encrypted .odt: save it without a password and ingest it again")
        out = _Paragraphs(limits)
        with zf.open("content.xml") as fh:
            for _, el in etree.iterparse(fh, events=("end",), tag=(_ODF_TEXT + "p", _ODF_TEXT + "h"),
                                         resolve_entities=False, no_network=True):
                if any(True for _ in el.iterancestors(_ODF_TEXT + "p", _ODF_TEXT + "h", *_ODF_SKIP)):
                    continue  # a paragraph inside another (a footnote, a text box) is read with it
                parts: list[str] = []
                _odf_text(el, parts)
                text = "".join(parts)
                out.add(text, heading=" ".join(text.split()) if el.tag == _ODF_TEXT + "h" else None)
                el.clear()  # free it and the paragraphs before it
                parent = el.getparent()
                while parent is not None and el.getprevious() is not None:
                    del parent[0]
        title = _odf_title(zf) if "meta.xml" in names else ""
    text = out.text()
    return text, title or _first_line_title(text), [], "", [], [], out.headings


def _odf_text(el, parts: list[str]) -> None:
    """The text of a paragraph as shown: runs of XML whitespace are one space, `text:s` spaces,
    `text:tab` a tab, `text:line-break` a line break."""
    if el.tag == _ODF_TEXT + "s":
        parts.append(" " * min(int(el.get(_ODF_TEXT + "c", "1") or 1), 100))
    elif el.tag == _ODF_TEXT + "tab":
        parts.append("\t")
    elif el.tag == _ODF_TEXT + "line-break":
        parts.append("\n")
    elif isinstance(el.tag, str) and el.tag not in _ODF_SKIP:
        parts.append(re.sub(r"[ \t\r\n]+", " ", el.text or ""))
        for child in el:
            _odf_text(child, parts)
            parts.append(re.sub(r"[ \t\r\n]+", " ", child.tail or ""))


def _odf_title(zf: zipfile.ZipFile) -> str:
    from lxml import etree

    if zf.getinfo("meta.xml").file_size > 1_000_000:
        return ""
    root = etree.fromstring(zf.read("meta.xml"), etree.XMLParser(resolve_entities=False, no_network=True))
    found = root.find(".//{http://purl.org/dc/elements/1.1/}title")
    return " ".join((found.text or "").split())[:500] if found is not None else ""


_EPUB_CONTAINER = "{urn:oasis:names:tc:opendocument:xmlns:container}"
_OPF = "{http://www.idpf.org/2007/opf}"
_XHTML = "{http://www.w3.org/1999/xhtml}"
_NCX = "{http://www.daisy.org/z3986/2005/ncx/}"
_EPUB_HTML = ("application/xhtml+xml", "text/html")


def _read_epub(path: Path, data: bytes, limits: ParseLimits):
    """The chapters of an EPUB in reading order (the OPF spine), each read by the HTML reader; a
    chapter opens a section named by the table of contents (else its first heading or <title>),
    and its own headings open sections within it. DRM-encrypted chapters are refused."""
    from bs4 import BeautifulSoup

    with _open_zip(data, limits, ".epub") as zf:
        names = set(zf.namelist())
        if "META-INF/container.xml" not in names:
            raise IngestError("not a valid .epub (no META-INF/container.xml in the archive)")
        rootfile = _xml(zf, "META-INF/container.xml").find(f".//{_EPUB_CONTAINER}rootfile")
        opf_name = rootfile.get("full-path", "") if rootfile is not None else ""
        if opf_name not in names:
            raise IngestError("not a valid .epub (its package file, the .opf, is missing)")
        opf = _xml(zf, opf_name)
        base = opf_name.rpartition("/")[0]
        manifest = {item.get("id"): item for item in opf.iter(_OPF + "item")}
        spine = [manifest[ref.get("idref")] for ref in opf.iter(_OPF + "itemref") if ref.get("idref") in manifest]
        encrypted = _epub_encrypted(zf) if "META-INF/encryption.xml" in names else set()
        toc = _epub_toc(zf, base, manifest.values(), names)
        out = _Paragraphs(limits)
        notices = []
        for item in spine:
            name = _epub_href(base, item.get("href", ""))
            if item.get("media-type") not in _EPUB_HTML:
                continue
            if name in encrypted:
                raise IngestError("encrypted (DRM-protected) .epub: only an EPUB without DRM can be indexed")
            if name not in names:
                notices.append(f"chapter {name} is listed but missing from the archive")
                continue
            soup = BeautifulSoup(zf.read(name), "html.parser")
            text, html_title, headings = _html_text(soup)
            chapter = toc.get(name) or (headings[0][1] if headings else "") or html_title
            if headings and headings[0][0] == 0:  # the chapter's own first heading: named by the chapter
                headings = headings[1:]
            start = out.length + (2 if out.parts else 0)
            out.add(text, heading=" ".join(chapter.split()) or None)
            if text.strip():
                out.headings += [(start + at - (len(text) - len(text.lstrip())), title) for at, title in headings]
        title = opf.find(".//{http://purl.org/dc/elements/1.1/}title")
    text = out.text()
    title_text = " ".join((title.text or "").split())[:500] if title is not None else ""
    return text, title_text or _first_line_title(text), [], "", [], notices, sorted(out.headings)


def _xml(zf: zipfile.ZipFile, name: str):
    """A small XML member of an archive (a manifest, a table of contents), parsed whole."""
    from lxml import etree

    root = etree.fromstring(zf.read(name), etree.XMLParser(resolve_entities=False, no_network=True, recover=True))
    if root is None:
        raise IngestError(f"cannot parse {name} in the archive: it is not XML")
    return root


def _epub_href(base: str, href: str) -> str:
    """The archive member an href of the package file names (relative to it, URL-quoted)."""
    import posixpath
    from urllib.parse import unquote

    href = unquote(href.partition("#")[0])
    return posixpath.normpath(posixpath.join(base, href)) if base else posixpath.normpath(href)


def _epub_encrypted(zf: zipfile.ZipFile) -> set[str]:
    """The members META-INF/encryption.xml lists: DRM, or fonts obfuscated as the standard allows."""
    return {_epub_href("", ref.get("URI", "")) for ref in _xml(zf, "META-INF/encryption.xml").iter()
            if isinstance(ref.tag, str) and ref.tag.endswith("CipherReference")}


def _epub_toc(zf: zipfile.ZipFile, base: str, items, names: set[str]) -> dict[str, str]:
    """Chapter titles by archive member, from the EPUB 3 navigation document or the EPUB 2 NCX;
    the first entry naming a file wins. {} when there is neither, or it cannot be read."""
    toc: dict[str, str] = {}
    for item in items:
        name = _epub_href(base, item.get("href", ""))
        if name not in names:
            continue
        here = name.rpartition("/")[0]
        try:
            if "nav" in (item.get("properties") or "").split():
                for nav in _xml(zf, name).iter(_XHTML + "nav"):
                    kind = nav.get("{http://www.idpf.org/2007/ops}type", "")
                    if "toc" in kind.split():
                        for a in nav.iter(_XHTML + "a"):
                            toc.setdefault(_epub_href(here, a.get("href", "")), " ".join("".join(a.itertext()).split()))
            elif item.get("media-type") == "application/x-dtbncx+xml":
                for point in _xml(zf, name).iter(_NCX + "navPoint"):
                    label, content = point.find(f"{_NCX}navLabel/{_NCX}text"), point.find(_NCX + "content")
                    if label is not None and content is not None:
                        toc.setdefault(_epub_href(here, content.get("src", "")), " ".join((label.text or "").split()))
        except Exception:  # a broken table of contents: chapters are named by their headings
            logger.debug("unreadable EPUB table of contents %s", name, exc_info=True)
    return {k: v for k, v in toc.items() if v}


def _read_eml(path: Path, data: bytes, limits: ParseLimits):
    """An email (RFC 5322, .eml): its From, To, Cc, Date and Subject lines, then its body: the
    text/plain part when there is one, else the text/html part read by the HTML reader. Attachments
    are named at the end but not read: a notice says so for those rag could index on their own."""
    from email import policy
    from email.parser import BytesParser

    from bs4 import BeautifulSoup

    message = BytesParser(policy=policy.default).parsebytes(data)
    if not message.keys():
        raise IngestError("not an email (no header lines such as From: or Subject:)")
    header = []
    for field in ("From", "To", "Cc", "Date", "Subject"):
        try:
            value = message.get(field)
        except Exception:  # a malformed header: left out, the rest is read
            continue
        if value:
            header.append(f"{field}: {' '.join(str(value).split())}")
    body = message.get_body(preferencelist=("plain", "html"))
    text, headings = "", []
    if body is not None:
        content = _part_text(body)
        if body.get_content_subtype() == "html":
            text, _, headings = _html_text(BeautifulSoup(content, "html.parser"))
        else:
            text = content.replace("\r\n", "\n").replace("\r", "\n").strip()
    attachments = [part.get_filename() or part.get_content_type() for part in message.walk()
                   if part is not body and part.is_attachment()]
    head = "\n".join(header)
    tail = "Attachments: " + ", ".join(attachments) if attachments else ""
    full = "\n\n".join(x for x in (head, text, tail) if x)
    offset = len(head) + 2 if head and text else 0
    notices = [f"attachment {name} is not indexed: save it and ingest it on its own" for name in attachments
               if Path(name).suffix.lower() in SUPPORTED]
    subject = " ".join(str(message.get("Subject", "") or "").split())
    return (full, subject[:500] or _first_line_title(text or full), [], "", [], notices,
            [(offset + at, title) for at, title in headings])


def _part_text(part) -> str:
    """A text part's content as text, in the charset it declares (or the one its bytes fit)."""
    try:
        return part.get_content()
    except (LookupError, UnicodeError, AssertionError, KeyError):
        payload = part.get_payload(decode=True) or b""
        return decode_text(payload)[0] if payload else ""


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
