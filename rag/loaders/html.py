"""HTML as a browser lays it out: inline elements stay in their sentence, only blocks and <br>
break lines, and each heading is placed where its own text lands. Also read by the EPUB and
e-mail readers."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import NotText
from ..types import ParseLimits
from .plain import _codec_name, _first_line_title, _over_budget, decode_text


# The tags an .epub's chapters (all together) or an .eml's HTML body may hold: BeautifulSoup builds
# ~1 KB per tag and html.parser reads ~200,000 tags a second; a long novel as EPUB holds ~100,000.
# Counted before any tree is built (see `_FORMAT_SECONDS` in rag/loaders/__init__.py).
_HTML_TAGS = 500_000
_TAG = re.compile(r"<[A-Za-z!/?]")


def _check_html_tags(html: str | bytes, kind: str, seen: int = 0) -> int:
    """`seen` plus the tags in `html`; refuses the file past `_HTML_TAGS`."""
    tags = seen + len(_TAG.findall(html if isinstance(html, str) else html.decode("latin-1")))
    if tags > _HTML_TAGS:
        raise _over_budget(kind, "its HTML holds more than", f"{_HTML_TAGS:,} tags", _HTML_TAGS)
    return tags


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
