"""Plain text in any encoding: the bytes of a file read within its limits, decoded in UTF-8, by
its byte order mark or in the encoding charset-normalizer detects; binaries refused (`NotText`).
Also the messages for limits every reader shares."""

from __future__ import annotations

import os
import re
from pathlib import Path

from ..errors import IngestError, NotText
from ..types import ParseLimits


def _os_reason(e: OSError) -> str:
    return f"{e.strerror or e.__class__.__name__}" + (f" (errno {e.errno})" if e.errno else "")


def _too_much_text(chars: int, max_chars: int) -> str:
    return (f"the file expands to more than {max_chars / 1e6:g} M characters of text "
            f"({chars / 1e6:.1f} M so far), over the RAG_MAX_TEXT_MB limit: nothing of it was indexed")


def _over_budget(kind: str, what: str, found: str, budget: int | float) -> IngestError:
    """A file refused for passing one of its format's budgets (see `_FORMAT_SECONDS` in
    rag/loaders/__init__.py)."""
    return IngestError(f"refusing this {kind}: {what} {found}, over the {budget:,} a {kind} may hold "
                       "(a hostile file?); nothing of it was indexed")


def read_bounded(path: Path, max_bytes: int | None, refuse_binary: bool = False) -> bytes:
    """The file's bytes, never more than `max_bytes`: the size is checked on the open file
    (not the name, which may be swapped meanwhile) and the read stops at the limit even if the
    file grows while being read. Only regular files: a FIFO or /dev/zero would never end.

    With `refuse_binary`, a file whose first 8 KB hold NUL bytes (and no UTF-16/32 byte order
    mark) is refused from those alone, before its size is checked: a folder's photos and archives
    cost 8 KB each and are reported as binary, not as too big."""
    try:
        with open_regular(path) as fh:
            st = os.fstat(fh.fileno())
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


def open_regular(path: str | Path):
    """`path` opened for reading (binary) if it is a regular file. Opened with O_NONBLOCK and
    judged by fstat on what was opened, so a FIFO put in a file's place (after it was listed)
    cannot block the open, and a device is refused before anything is read.

    Raises:
        IngestError: it is not a regular file.
        OSError: it cannot be opened.
    """
    import stat

    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IngestError("not a regular file (a pipe, device or socket)")
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


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
