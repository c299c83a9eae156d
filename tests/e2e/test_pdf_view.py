"""A PDF citation opens the PDF itself: GET /api/documents/{id}/file serves an indexed PDF only while
it holds the bytes that were indexed (404 for an unknown id or a document that is not a PDF, 409
once the file changed or is gone), and the chat page, in a real browser (Playwright, Debian's
Chromium, the page's CSP on), draws the cited page with the vendored pdf.js, scrolled to, with the
cited passage highlighted in its text layer; the text view is a button away, from the keyboard
too; a changed file falls back to the text, saying why; axe finds no serious violation with the
PDF open, light or dark. Screenshots go to test-artifacts/."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from rag import Assistant
from rag.server import create_app
from rag.server.schemas import doc_id
from server_support import live_server
from support import make_report_pdf
from test_accessibility import AXE, RUN_AXE, press_until
from test_chat_page import ask, open_page

HEADER = "Harbour Board Annual Report 2024"
# Three pages; the answer is on page 2, in a sentence broken over three lines, one of them hyphenated.
PAGES = [
    ["The harbour board met eleven times during the year.", "Its accounts were audited in March by Moray & Co."],
    ["Repairs to the north pier took most of the summer months.",
     "The lighthouse at Kestrel Point is painted crimson, and its lamp",
     "was converted to solar power by the harbour engi-",
     "neers in the spring of 2019.",
     "Ferry crossings to Inchmurrin rose by a fifth."],
    ["The fish market moved to the old rope works in October.", "Its cold store holds forty tonnes."],
]
QUESTION = "What colour is the lighthouse at Kestrel Point?"
# Page 1 of a second PDF, which the tests change on disk.
CHANGING = [["The tide gauge at Ardmore Quay was recalibrated by Fenella Dubh in 2023."]]
CHANGING_QUESTION = "Who recalibrated the tide gauge at Ardmore Quay?"

# Content-Security-Policy violations the page meets, kept for the test to read.
WATCH_CSP = """window.__csp = [];
document.addEventListener('securitypolicyviolation', (e) => window.__csp.push(`${e.violatedDirective} ${e.blockedURI}`));"""


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("pdf-docs")
    make_report_pdf(folder / "harbour-report.pdf", PAGES, HEADER)
    make_report_pdf(folder / "tide-gauge.pdf", CHANGING, "Ardmore Quay notes")
    (folder / "notes.txt").write_text("The harbour master keeps a logbook of every storm.\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def assistant(tmp_path_factory, docs) -> Assistant:
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("pdf-index"), seed_dir=tmp_path_factory.mktemp("no-seeds"))
    report = assistant.ingest([docs])
    assert sorted(report.added) == sorted(str(p) for p in docs.iterdir()) and not report.failed
    return assistant


@pytest.fixture(scope="module")
def app(assistant):
    return create_app(assistant, warm_up=False)


@pytest.fixture(scope="module")
def client(app):
    with TestClient(app) as c:
        yield c


@pytest.fixture(scope="module")
def url(app):
    with live_server(app) as (host, port):
        yield f"http://{host}:{port}"


@pytest.fixture
def page(browser, url):
    page = open_page_watching_csp(browser, url)
    yield page
    page.context.close()


def open_page_watching_csp(browser, url, **context_options):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 900}, **context_options})
    context.add_init_script(script=WATCH_CSP)
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url)
    return page


def restore(path, data: bytes):
    path.write_bytes(data)


# ---- GET /api/documents/{id}/file ------------------------------------------------------------------------
def test_file_serves_the_indexed_pdf_as_it_was_indexed(client, docs):
    path = docs / "harbour-report.pdf"
    r = client.get(f"/api/documents/{doc_id(str(path))}/file")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/pdf"
    assert r.content == path.read_bytes()
    assert "worker-src 'self'" in r.headers["content-security-policy"]
    assert "unsafe-eval" not in r.headers["content-security-policy"]
    assert r.headers["content-disposition"].startswith('inline; filename="harbour-report.pdf"')


def test_file_refuses_unknown_ids_and_documents_that_are_not_pdfs(client, docs):
    unknown = [doc_id(str(docs / "never-indexed.pdf")), doc_id("/etc/passwd"), doc_id("../../etc/hosts.pdf"), "!!!"]
    for document_id in unknown:
        r = client.get(f"/api/documents/{document_id}/file")
        assert r.status_code == 404 and r.json()["detail"].startswith("no such document"), (document_id, r.text)
    notes = docs / "notes.txt"
    r = client.get(f"/api/documents/{doc_id(str(notes))}/file")
    assert r.status_code == 404 and "not a PDF" in r.json()["detail"]
    assert client.get(f"/api/documents/{doc_id(str(notes))}").status_code == 200  # its text is there


def test_file_refuses_a_pdf_changed_or_gone_since_it_was_indexed(client, docs):
    path = docs / "tide-gauge.pdf"
    original = path.read_bytes()
    url = f"/api/documents/{doc_id(str(path))}/file"
    try:
        path.write_bytes(original + b"\n% appended after indexing\n")
        r = client.get(url)
        assert r.status_code == 409 and "has changed since it was indexed" in r.json()["detail"]
        path.unlink()
        r = client.get(url)
        assert r.status_code == 409 and "cannot be read" in r.json()["detail"]
    finally:
        restore(path, original)
    assert client.get(url).content == original  # the same bytes again: served again


# ---- the page -----------------------------------------------------------------------------------------------
def open_pdf_citation(page, question: str = QUESTION, quote_word: str = "crimson"):
    """Asks, clicks the [n] whose quote holds `quote_word`, then the panel's link to the document."""
    answer = ask(page, question)
    answer.locator(".meta .backend").wait_for()
    for button in answer.locator("button.cite").all():
        button.click()
        page.locator("#citation-panel mark").wait_for()
        if quote_word in page.locator("#citation-panel mark").inner_text():
            break
    else:
        raise AssertionError(f"no citation quotes {quote_word!r}: {answer.inner_text()}")
    link = page.locator("#citation-panel .open-document")
    return link


def folded(text: str) -> str:
    return re.sub(r"[^a-z0-9]", "", text.lower())


CANVAS_INK = """(canvas) => {
  const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
  let dark = 0;
  for (let i = 0; i < data.length; i += 4) if (data[i] < 128 && data[i + 3] > 0) dark++;
  return dark;
}"""


def test_pdf_citation_opens_the_pdf_at_its_page_with_the_quote_highlighted(page, artifacts):
    link = open_pdf_citation(page)
    assert link.inner_text() == "Open the PDF at page 2 →"
    link.click()
    cited = page.locator('#viewer-pdf .pdf-page[data-page-number="2"]')
    marks = cited.locator(".textLayer mark.pdf-quote")
    marks.first.wait_for()
    assert page.locator("#viewer-page").inner_text() == "page 2 of 3"
    assert page.locator("#viewer-pdf .pdf-page").count() == 3
    # pdf.js drew page 2 on its canvas (ink on it), and its text layer is page 2's: its own footer
    assert cited.locator("canvas").evaluate(CANVAS_INK) > 500
    assert "Page 2 of 3" in cited.locator(".textLayer").inner_text()
    # the whole quote is highlighted, over its three lines and the hyphenated break, and nothing else
    highlighted = " ".join(marks.all_inner_texts())
    assert marks.count() == 3
    assert folded(highlighted) == folded("The lighthouse at Kestrel Point is painted crimson, and its lamp was converted "
                                         "to solar power by the harbour engineers in the spring of 2019.")
    assert "engi-" in highlighted and "neers" in highlighted
    assert page.locator('#viewer-pdf .pdf-page:not([data-page-number="2"]) mark').count() == 0
    # scrolled to: the highlight is inside the visible part of the viewer
    box, mark = page.locator("#viewer-pdf").bounding_box(), marks.first.bounding_box()
    assert box["y"] <= mark["y"] and mark["y"] + mark["height"] <= box["y"] + box["height"]
    assert page.evaluate("() => document.activeElement.id") == "viewer-pdf"  # the arrow keys scroll it
    assert any(w.url.endswith("/static/vendor/pdfjs/pdf.worker.min.mjs") for w in page.workers)  # not a "fake worker"
    page.screenshot(path=str(artifacts / "pdf-view-light.png"))
    # the text view, and back
    page.click("#viewer-mode")
    assert page.locator("#viewer-mark").is_visible() and "crimson" in page.locator("#viewer-mark").inner_text()
    assert page.locator("#viewer-pdf").is_hidden() and page.locator("#viewer-mode").inner_text() == "PDF view"
    page.click("#viewer-mode")
    marks.first.wait_for()
    assert page.locator("#viewer-text").is_hidden()
    page.keyboard.press("Escape")
    assert page.locator("#doc-viewer").is_hidden()
    assert page.evaluate("() => window.__csp") == []  # pdf.js and its worker ran within the page's CSP


def test_pdf_view_from_the_keyboard_alone(page):
    link = open_pdf_citation(page)
    link.focus()
    page.keyboard.press("Enter")
    page.locator("#viewer-pdf mark.pdf-quote").first.wait_for()
    assert page.evaluate("() => document.activeElement.id") == "viewer-pdf"
    press_until(page, "Tab", "a.id === 'viewer-mode'", limit=3)
    page.keyboard.press("Enter")
    page.locator("#viewer-mark").wait_for()
    for key in ["Tab", "Tab", "Tab", "Shift+Tab"]:  # a modal: Tab stays in it
        page.keyboard.press(key)
        assert page.evaluate("() => document.getElementById('doc-viewer').contains(document.activeElement)")
    page.keyboard.press("Escape")
    assert page.locator("#doc-viewer").is_hidden()
    assert "open-document" in page.evaluate("() => document.activeElement.className")


def test_a_pdf_changed_since_it_was_indexed_falls_back_to_its_text_saying_why(page, docs):
    path = docs / "tide-gauge.pdf"
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\n% appended after indexing\n")
        open_pdf_citation(page, CHANGING_QUESTION, "Fenella").click()
        page.locator("#viewer-mark").wait_for()
        assert "Fenella Dubh" in page.locator("#viewer-mark").inner_text()
        notice = page.locator("#viewer-notice")
        assert notice.is_visible() and "has changed since it was indexed" in notice.inner_text()
        assert page.locator("#viewer-pdf").is_hidden()
    finally:
        restore(path, original)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violation_with_the_pdf_open(browser, url, scheme, artifacts):
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(60_000)
    try:
        page.goto(url)
        open_pdf_citation(page).click()
        page.locator("#viewer-pdf mark.pdf-quote").first.wait_for()
        page.mouse.move(0, 0)
        violations = page.evaluate(RUN_AXE)
        assert not violations, "\n".join(violations)
        page.screenshot(path=str(artifacts / f"pdf-view-{scheme}.png"))
    finally:
        context.close()
