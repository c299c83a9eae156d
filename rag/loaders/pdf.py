"""PDF, page by page (pypdf), scanned pages read by OCR (pdfium + tesseract) when tesseract is
installed, and the running headers, footers and page numbers found so chunks leave them out."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import IngestError
from ..types import Document, Furniture, Page, ParseLimits
from .plain import _first_line_title, _too_much_text


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
