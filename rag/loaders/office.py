"""The zip-based office and e-book formats: .docx (body order, headings), .pptx (a page and a
section per slide), .odt and .epub, each archive's declared sizes checked before anything is
decompressed (zip bombs)."""

from __future__ import annotations

import logging
import re
import zipfile
from pathlib import Path

from ..errors import IngestError
from ..types import ParseLimits
from .html import _check_html_tags, _html_text
from .pdf import join_pages
from .plain import _first_line_title, _over_budget, _too_much_text

logger = logging.getLogger(__name__)

# A .docx (.pptx, .odt, .epub) is a zip: refuse archives that would expand past this many times the
# file size limit (zip bombs; see also _check_zip).
_MAX_EXPANSION = 20


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


# Per-format budgets (issue 19, item 5; see `_FORMAT_SECONDS` in rag/loaders/__init__.py): what a
# .pptx or .odt may hold, counted from its XML as it streams out of the archive before python-pptx
# or lxml builds any tree (~0.5-1 KB of memory per element; a 300-slide deck holds ~150,000), and
# the chapters an .epub's reading order may list.
_XML_BYTES = 64_000_000  # XML (and .rels) a .pptx or .odt may decompress to, all members together
_XML_ELEMENTS = 1_000_000  # elements in that XML
_EPUB_SPINE = 5_000  # chapters in an .epub's reading order


def _check_xml_budget(zf: zipfile.ZipFile, kind: str) -> None:
    """Stream every XML member of a zip-based document, counting elements (each freed once
    read), and refuse it past `_XML_BYTES` or `_XML_ELEMENTS` before a reader builds its trees."""
    from lxml import etree

    members = [i for i in zf.infolist() if i.filename.endswith((".xml", ".rels"))]
    size = sum(i.file_size for i in members)
    if size > _XML_BYTES:
        raise _over_budget(kind, "its XML decompresses to", f"{size / 1e6:.0f} MB ({size:,} bytes)", _XML_BYTES)
    count = 0
    for info in members:
        with zf.open(info) as fh:
            try:
                for _, el in etree.iterparse(fh, events=("end",), resolve_entities=False, no_network=True):
                    count += 1
                    if count > _XML_ELEMENTS:
                        raise _over_budget(kind, "its XML holds more than", f"{_XML_ELEMENTS:,} elements",
                                           _XML_ELEMENTS)
                    el.clear()
                    parent = el.getparent()
                    while parent is not None and el.getprevious() is not None:
                        del parent[0]
            except etree.XMLSyntaxError:
                continue  # not XML: left to the reader, which says so if it needs the member


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
        _check_xml_budget(zf, ".pptx")
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
        _check_xml_budget(zf, ".odt")
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
        if len(spine) > _EPUB_SPINE:
            raise _over_budget(".epub", "its reading order lists", f"{len(spine):,} chapters", _EPUB_SPINE)
        spine = list({id(item): item for item in spine}.values())  # a chapter listed twice is read once
        encrypted = _epub_encrypted(zf) if "META-INF/encryption.xml" in names else set()
        toc = _epub_toc(zf, base, manifest.values(), names)
        out = _Paragraphs(limits)
        notices = []
        chapters = []
        tags = 0
        for item in spine:  # the tags of every chapter counted before any is parsed
            name = _epub_href(base, item.get("href", ""))
            if item.get("media-type") not in _EPUB_HTML:
                continue
            if name in encrypted:
                raise IngestError("encrypted (DRM-protected) .epub: only an EPUB without DRM can be indexed")
            if name not in names:
                notices.append(f"chapter {name} is listed but missing from the archive")
                continue
            tags = _check_html_tags(zf.read(name), ".epub", tags)
            chapters.append(name)
        for name in chapters:
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
