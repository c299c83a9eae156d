"""The chat page in a real browser: Playwright driving Debian's Chromium against `rag serve`.
Screenshots go to test-artifacts/."""

from __future__ import annotations


import pytest


# Counts the pieces of text appended to an answer while it is still streaming.
WATCH_STREAMING = """() => {
  window.__streamed = 0;
  new MutationObserver((records) => {
    for (const r of records) {
      const msg = r.target.closest ? r.target.closest('.msg.assistant') : r.target.parentElement?.closest('.msg.assistant');
      if (msg && msg.classList.contains('streaming') && r.addedNodes.length) window.__streamed += r.addedNodes.length;
    }
  }).observe(document.getElementById('messages'), {childList: true, subtree: true});
}"""


@pytest.fixture
def page(browser, server):
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(server.url)
    yield page
    context.close()


def ask(page, question: str):
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = page.locator(".msg.assistant").last
    answer.locator(".meta span").first.wait_for()  # the answer has settled
    return answer


def test_answer_streams_then_settles_and_its_citation_shows_the_sentence(page, artifacts):
    page.evaluate(WATCH_STREAMING)
    answer = ask(page, "who is Ismail Shukri?")
    assert page.evaluate("window.__streamed") > 1  # pieces arrived one by one before the answer settled
    assert "Ismail Shukri" in answer.locator(".bubble").inner_text()
    assert "citation" in answer.locator(".meta .verified").inner_text()
    answer.locator("button.cite", has_text="[1]").first.click()
    mark = page.locator("#citation-panel mark")
    mark.wait_for()
    assert "Ismail Shukri" in mark.inner_text()
    assert "000_8e5956575f1ec01d.txt" in page.locator("#citation-panel .source-name").inner_text()
    page.screenshot(path=str(artifacts / "chat-citation.png"))
    page.click("#citation-panel .open-document")
    viewer_mark = page.locator("#viewer-mark")
    viewer_mark.wait_for()
    assert viewer_mark.is_visible() and "Ismail Shukri" in viewer_mark.inner_text()
    page.screenshot(path=str(artifacts / "document-viewer.png"))


def test_uploaded_file_can_be_asked_about(page, tmp_path, artifacts):
    note = tmp_path / "gardening-notes.txt"
    note.write_text("Hollyhock seeds should be sown in late Brambleton, after the first frost has passed.\n")
    page.click(".tabs button[data-tab=docs]")
    page.set_input_files("#file-input", str(note))
    page.locator("#uploads li.done", has_text="gardening-notes.txt").wait_for()
    page.locator("#documents li", has_text="gardening-notes.txt").wait_for()
    page.screenshot(path=str(artifacts / "documents.png"))
    answer = ask(page, "When should hollyhock seeds be sown?")
    assert "Brambleton" in answer.locator(".bubble").inner_text()


def test_an_upload_that_is_not_text_shows_the_servers_reason(page, tmp_path):
    bad = tmp_path / "program.exe"
    bad.write_bytes(b"MZ\x90\x00\x03\x00\x00\x00\x04\x00" + bytes(range(256)))
    page.click(".tabs button[data-tab=docs]")
    page.set_input_files("#file-input", str(bad))
    assert "binary" in page.locator("#uploads li.failed .status").inner_text()


def test_abstention_looks_different_and_shows_nearest_passages(page):
    answer = ask(page, "What is the boiling point of mercury?")
    assert "abstained" in answer.get_attribute("class")
    assert answer.locator(".see-also li").count() >= 1


def test_conversation_is_listed_after_a_reload(page, artifacts):
    ask(page, "where does Ismail Shukri work?")
    page.click("#new-chat")
    page.reload()
    item = page.locator("#conversations li", has_text="where does Ismail Shukri work?")
    item.wait_for()
    item.click()
    page.locator(".msg.user", has_text="where does Ismail Shukri work?").wait_for()
    assert page.locator(".msg.assistant .bubble").count() == 1


def test_page_is_usable_at_phone_width(browser, server, artifacts):
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True)
    page = context.new_page()
    page.goto(server.url)
    assert page.locator("#question").is_visible()
    assert not page.locator("#sidebar").is_visible()  # the drawer is closed
    for _ in range(12):  # and Tab never lands in it
        page.keyboard.press("Tab")
        assert not page.evaluate("() => document.getElementById('sidebar').contains(document.activeElement)")
    page.screenshot(path=str(artifacts / "phone-chat.png"))
    page.click("#menu")
    # a function, not an expression: Playwright evals expressions, which the page's CSP forbids
    page.wait_for_function("() => document.getElementById('sidebar').getBoundingClientRect().x >= 0")
    page.screenshot(path=str(artifacts / "phone-drawer.png"))
    context.close()


def test_shift_enter_makes_a_new_line_instead_of_sending(page):
    page.click("#new-chat")
    page.fill("#question", "first line")
    page.press("#question", "Shift+Enter")
    page.keyboard.type("second line")
    assert page.input_value("#question") == "first line\nsecond line"
    assert page.locator(".msg.user").count() == 0


def test_page_asks_for_the_api_key_once_and_keeps_it(browser, secured_server):
    from server_support import API_KEY

    context = browser.new_context()
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(secured_server.url)
    page.locator("#key-dialog").wait_for()
    page.fill("#key-input", API_KEY)
    page.click("#key-form button")
    page.locator("#conversations li").first.wait_for(state="attached")  # the API answered
    assert page.evaluate("localStorage.getItem('rag.apiKey')") == API_KEY
    page.reload()
    page.locator("#conversations li").first.wait_for(state="attached")
    assert not page.locator("#key-dialog").is_visible()
    context.close()
