"""E-mail (.eml): its header lines, then its text/plain body (or its HTML one, read by the HTML
reader); attachments are named, not read."""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import IngestError
from ..types import ParseLimits
from .html import _check_html_tags, _html_text
from .plain import _first_line_title, _over_budget, decode_text

# Per-format budgets (issue 19, item 5; see `_FORMAT_SECONDS` in rag/loaders/__init__.py): the email
# package builds a message object per MIME part and decodes each encoded word on its own, so a
# 5.6 MB .eml reached ~4 GB of memory. Counted on the raw bytes before anything is parsed.
_EML_PARTS = 1_000  # MIME parts in an .eml (its attachments included)
_EML_ENCODED_WORDS = 10_000  # =?charset?...?= words in its header lines, each decoded on its own


def _read_eml(path: Path, data: bytes, limits: ParseLimits):
    """An email (RFC 5322, .eml): its From, To, Cc, Date and Subject lines, then its body: the
    text/plain part when there is one, else the text/html part read by the HTML reader. Attachments
    are named at the end but not read: a notice says so for those rag could index on their own."""
    from email import policy
    from email.parser import BytesParser

    from bs4 import BeautifulSoup

    parts = len(re.findall(rb"(?im)^content-type[ \t]*:", data))
    if parts > _EML_PARTS:
        raise _over_budget(".eml", "it has", f"{parts:,} MIME parts", _EML_PARTS)
    words = len(re.findall(rb"=\?[^?\s]{1,64}\?[bBqQ]\?", data))
    if words > _EML_ENCODED_WORDS:
        raise _over_budget(".eml", "it has", f"{words:,} encoded words (=?charset?...?=)", _EML_ENCODED_WORDS)
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
            _check_html_tags(content, ".eml")
            text, _, headings = _html_text(BeautifulSoup(content, "html.parser"))
        else:
            text = content.replace("\r\n", "\n").replace("\r", "\n").strip()
    attachments = [part.get_filename() or part.get_content_type() for part in message.walk()
                   if part is not body and part.is_attachment()]
    head = "\n".join(header)
    tail = "Attachments: " + ", ".join(attachments) if attachments else ""
    full = "\n\n".join(x for x in (head, text, tail) if x)
    offset = len(head) + 2 if head and text else 0
    from . import SUPPORTED

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
