"""Helpers shared by the core tests (fixtures live in conftest.py)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from pathlib import Path

import pytest

from rag import Assistant

ROOT = Path(__file__).resolve().parent.parent
SEEDS = ROOT / "seeds"
SEED_FILE = next(SEEDS.glob("*.txt"))
REPO = ROOT
VERIFICATION_SET = ROOT / "tests" / "data" / "verification_set.jsonl"  # built by bench/verification_set.py


def clean_env(**extra: str) -> dict:
    """os.environ for a `rag` subprocess: no developer RAG_* settings, this checkout first on the
    path, offline, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAG_")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))
    env["HF_HUB_OFFLINE"] = "1"
    env.update(extra)
    return env


def chunk_records(assistant: Assistant, source: str | None = None) -> dict[str, dict]:
    """Chunk id -> {text, meta} straight from the Chroma collection."""
    got = assistant.store.chunks.get(where={"source": source} if source else None,
                                     include=["metadatas", "documents"])
    return {i: {"text": d, "meta": m} for i, d, m in zip(got["ids"], got["documents"], got["metadatas"])}


def assert_index_consistent(assistant: Assistant) -> None:
    """Every chunk belongs to a listed source, chunk counts match the manifest, and the BM25
    index holds exactly the chunks Chroma holds."""
    records = chunk_records(assistant)
    listed = {s.source: s.chunks for s in assistant.sources()}
    per_source = Counter(r["meta"]["source"] for r in records.values())
    assert dict(per_source) == listed
    lexical = assistant.store.lexical(force_check=True)
    assert sorted(lexical.ids) == sorted(records)
    assert all(lexical.sources[i] == records[cid]["meta"]["source"] for i, cid in enumerate(lexical.ids))


def make_pdf(path: Path, pages: list[str], title: str = "") -> Path:
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    if title:
        pdf.setTitle(title)
    for text in pages:
        pdf.drawString(72, 760, text)
        pdf.showPage()
    pdf.save()
    return path


def make_report_pdf(path: Path, bodies: list[list[str]], header: str, footer: str = "Page {n} of {total}") -> Path:
    """A PDF whose every page has a running header, the lines of its body, and a footer with its
    page number, as a printed report has. An empty body makes a page with no text at all (as a
    scanned page without a text layer)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    pdf = canvas.Canvas(str(path), pagesize=A4)
    for n, lines in enumerate(bodies, start=1):
        if lines:
            pdf.drawString(72, 800, header)
            for i, line in enumerate(lines):
                pdf.drawString(72, 740 - 16 * i, line)
            pdf.drawString(72, 40, footer.format(n=n, total=len(bodies)))
        pdf.showPage()
    pdf.save()
    return path


def make_docx(path: Path, paragraphs: list[str], title: str = "") -> Path:
    import docx

    document = docx.Document()
    for p in paragraphs:
        document.add_paragraph(p)
    if title:
        document.core_properties.title = title
    document.save(str(path))
    return path


def make_pptx(path: Path, slides: list[tuple[str, list[str], str]], title: str = "") -> Path:
    """A deck written by python-pptx: one (title, bullet lines, speaker notes) per slide."""
    from pptx import Presentation

    deck = Presentation()
    for heading, lines, notes in slides:
        slide = deck.slides.add_slide(deck.slide_layouts[1])  # "Title and Content"
        slide.shapes.title.text = heading
        body = slide.placeholders[1].text_frame
        body.text = lines[0] if lines else ""
        for line in lines[1:]:
            body.add_paragraph().text = line
        if notes:
            slide.notes_slide.notes_text_frame.text = notes
    if title:
        deck.core_properties.title = title
    deck.save(str(path))
    return path


def make_odt(path: Path, blocks: list[tuple[str, str]], title: str = "") -> Path:
    """A minimal valid OpenDocument text, zipped by hand: ("h", text) a heading, ("p", text) a paragraph."""
    import zipfile
    from xml.sax.saxutils import escape

    body = "".join(f'<text:h text:outline-level="1">{escape(t)}</text:h>' if kind == "h" else f"<text:p>{escape(t)}</text:p>"
                   for kind, t in blocks)
    ns = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"')
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/vnd.oasis.opendocument.text", compress_type=zipfile.ZIP_STORED)
        zf.writestr("content.xml", f'<?xml version="1.0" encoding="UTF-8"?><office:document-content {ns} '
                                   f'office:version="1.2"><office:body><office:text>{body}</office:text>'
                                   "</office:body></office:document-content>", compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("meta.xml", f'<?xml version="1.0" encoding="UTF-8"?><office:document-meta {ns} '
                                'xmlns:dc="http://purl.org/dc/elements/1.1/" office:version="1.2"><office:meta>'
                                f"<dc:title>{escape(title)}</dc:title></office:meta></office:document-meta>")
        zf.writestr("META-INF/manifest.xml", '<?xml version="1.0" encoding="UTF-8"?><manifest:manifest '
                    'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0" manifest:version="1.2">'
                    '<manifest:file-entry manifest:full-path="/" manifest:media-type="application/vnd.oasis.opendocument.text"/>'
                    '<manifest:file-entry manifest:full-path="content.xml" manifest:media-type="text/xml"/>'
                    "</manifest:manifest>")
    return path


def make_epub(path: Path, chapters: list[tuple[str, list[str]]], title: str = "") -> Path:
    """A minimal valid EPUB 3, zipped by hand: one XHTML file per (chapter title, paragraphs), in
    the spine and in the navigation document (which is not in the spine)."""
    import zipfile
    from xml.sax.saxutils import escape

    files = [f"text/ch{i}.xhtml" for i in range(1, len(chapters) + 1)]
    xhtml = ('<?xml version="1.0" encoding="UTF-8"?><html xmlns="http://www.w3.org/1999/xhtml" '
             'xmlns:epub="http://www.idpf.org/2007/ops"><head><title>{t}</title></head><body>{b}</body></html>')
    nav = "".join(f'<li><a href="{f}">{escape(t)}</a></li>' for f, (t, _) in zip(files, chapters))
    items = "".join(f'<item id="c{i}" href="{f}" media-type="application/xhtml+xml"/>' for i, f in enumerate(files))
    spine = "".join(f'<itemref idref="c{i}"/>' for i in range(len(files)))
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("mimetype", "application/epub+zip", compress_type=zipfile.ZIP_STORED)
        zf.writestr("META-INF/container.xml", '<?xml version="1.0"?><container version="1.0" '
                    'xmlns="urn:oasis:names:tc:opendocument:xmlns:container"><rootfiles><rootfile '
                    'full-path="OEBPS/content.opf" media-type="application/oebps-package+xml"/></rootfiles></container>')
        zf.writestr("OEBPS/content.opf", '<?xml version="1.0" encoding="UTF-8"?><package xmlns="http://www.idpf.org/2007/opf" '
                    'version="3.0" unique-identifier="id"><metadata xmlns:dc="http://purl.org/dc/elements/1.1/">'
                    f'<dc:identifier id="id">urn:uuid:rag-test</dc:identifier><dc:title>{escape(title)}</dc:title>'
                    '<dc:language>en</dc:language></metadata><manifest>'
                    '<item id="nav" href="nav.xhtml" media-type="application/xhtml+xml" properties="nav"/>'
                    f"{items}</manifest><spine>{spine}</spine></package>", compress_type=zipfile.ZIP_DEFLATED)
        zf.writestr("OEBPS/nav.xhtml", xhtml.format(t="Contents", b=f'<nav epub:type="toc"><ol>{nav}</ol></nav>'))
        for f, (t, paragraphs) in zip(files, chapters):
            body = f"<h1>{escape(t)}</h1>" + "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
            zf.writestr(f"OEBPS/{f}", xhtml.format(t=escape(t), b=body), compress_type=zipfile.ZIP_DEFLATED)
    return path


def make_eml(path: Path, subject: str, sender: str, body: str, html: str = "",
             attachments: tuple[tuple[str, bytes], ...] = ()) -> Path:
    """An email written with the standard library: a text/plain body (and a text/html alternative
    when `html` is given, or an HTML-only body when `body` is empty), plus attachments."""
    from email.message import EmailMessage
    from email.utils import format_datetime
    from datetime import datetime, timezone

    message = EmailMessage()
    message["From"] = sender
    message["To"] = "team@example.org"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2025, 3, 14, 9, 30, tzinfo=timezone.utc))
    if body:
        message.set_content(body)
        if html:
            message.add_alternative(html, subtype="html")
    else:
        message.set_content(html, subtype="html")
    for name, data in attachments:
        message.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    path.write_bytes(bytes(message))
    return path


def make_scanned_pdf(path: Path, pages: list[list[str]]) -> Path:
    """A PDF with no text layer: each page an image of its lines, drawn with Pillow, as a scanner
    makes it (A4 at 200 DPI, black on white)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.load_default(size=40)
    images = []
    for lines in pages:
        image = Image.new("L", (1654, 2339), 255)
        draw = ImageDraw.Draw(image)
        for i, line in enumerate(lines):
            draw.text((120, 200 + 80 * i), line, fill=0, font=font)
        images.append(image)
    images[0].save(path, "PDF", resolution=200.0, save_all=True, append_images=images[1:])
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(cmd: list[str], log: Path, ready: Callable[[], bool], timeout_s: float):
    """Run a server process (output to `log`) for the length of the block. The test fails if the
    process exits or `ready()` stays false past the timeout; the process is stopped afterwards."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + timeout_s
        while not ready():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{Path(cmd[0]).name} {' '.join(cmd[1:3])} did not start:\n"
                            f"{log.read_text(errors='replace')[-2000:]}")
            time.sleep(0.3)
        yield proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def llama_cpp_server(log_dir: Path):
    """llama.cpp's own OpenAI-compatible server (`python -m llama_cpp.server`) serving the bundled
    SmolLM2 GGUF on 127.0.0.1 as model "smollm2", for the length of the block; yields its /v1 URL."""
    import sys
    import urllib.request

    from rag.llm import smollm2_path

    port = free_port()
    url = f"http://127.0.0.1:{port}/v1"
    cmd = [sys.executable, "-m", "llama_cpp.server", "--model", str(smollm2_path()), "--host", "127.0.0.1",
           "--port", str(port), "--n_threads", "2", "--n_ctx", "2048", "--model_alias", "smollm2"]

    def ready() -> bool:
        try:
            urllib.request.urlopen(f"{url}/models", timeout=2).read()
            return True
        except OSError:
            return False

    with running_server(cmd, log_dir / "server.log", ready, 90):
        yield url


def bench_module(name: str):
    """A script of bench/ imported as a module (bench/ is not a package)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(f"bench_{name}", ROOT / "bench" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@contextmanager
def small_tmpfs(folder: Path, size: str = "64m"):
    """A tmpfs mounted at `folder` for the block, to be filled (`fill`) as a disk that stops
    taking writes while a process holds its files open (a read-only remount is refused then).
    Needs root with CAP_SYS_ADMIN, as in our CI container; tests/test_disk_faults.py skips without it."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN): {done.stderr.decode().strip()}")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def fill(folder: Path) -> Path:
    """A file in `folder` grown until its file system is full (ENOSPC); delete it to make room."""
    filler = folder / "filler"
    block = b"\0" * (1 << 20)
    with open(filler, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(block)
        except OSError:
            pass
        try:
            while True:  # the last blocks, a page at a time
                fh.write(block[:4096])
        except OSError:
            pass
    return filler


def without_file_permission_override() -> list[str]:
    """A command prefix that runs a program as a user bound by file permissions: as root, root
    without CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH (setpriv), so a folder with mode 000 is
    unreadable to it as to anyone else; as any other user, nothing."""
    if os.geteuid() != 0:
        return []
    caps = "-dac_override,-dac_read_search"
    return ["setpriv", f"--inh-caps={caps}", f"--bounding-set={caps}", "--"]
