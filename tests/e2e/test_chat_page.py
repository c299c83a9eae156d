"""The chat page's controls in a real browser (Playwright, Debian's Chromium) against the app served
in-process, so a test can slow an answer down and read the server's counters: stop, copy,
regenerate, edit and resend, conversations (new one listed at once, rename, delete, search), the
checking state and the backend label, dark mode, safe markdown (a document holding HTML and
script never runs), the documents panel and its Summarize action. Screenshots in light and dark, desktop and phone width,
go to test-artifacts/."""

from __future__ import annotations

import re
import time

import httpx
import pytest

from rag import Assistant
from rag.server import create_app
from rag.types import Answer, Citation, Reply
from server_support import live_server, slow_stream
from support import SEEDS

QUESTION = "who is Ismail Shukri?"


@pytest.fixture(scope="module")
def assistant(tmp_path_factory) -> Assistant:
    """The seed article indexed in an index of this module's own."""
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("chat-page-index"), seed_dir=SEEDS)
    assistant.ensure_seeded()
    return assistant


@pytest.fixture(scope="module")
def served(assistant):
    app = create_app(assistant, warm_up=False)
    with live_server(app) as (host, port):
        yield f"http://{host}:{port}", app.state.rag



def open_page(browser, url, **context_options):
    context = browser.new_context(**{"viewport": {"width": 1280, "height": 800}, **context_options})
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    return page


@pytest.fixture
def page(browser, served):
    page = open_page(browser, served[0], permissions=["clipboard-read", "clipboard-write"])
    yield page
    page.context.close()


def ask(page, question: str):
    page.fill("#question", question)
    page.press("#question", "Enter")
    answer = page.locator(".msg.assistant").last
    answer.locator(".meta span").first.wait_for()  # settled: final, stopped or failed
    return answer


def conversation(url: str, cid: str) -> dict:
    return httpx.get(f"{url}/api/conversations/{cid}").json()


def current_conversation(page) -> str:
    return page.evaluate("() => localStorage.getItem('rag.conversation')")


# ---- answering ----------------------------------------------------------------------------------------
def test_stop_aborts_the_request_and_the_server_stops_generating(page, served, assistant, monkeypatch):
    url, state = served
    produced: list[str] = []
    monkeypatch.setattr(assistant, "stream", slow_stream(assistant, produced))
    before = state.streams_stopped
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    page.wait_for_function("() => document.querySelector('.msg.assistant.streaming .bubble')?.textContent.length > 0")
    assert page.locator("#stop").is_visible() and not page.locator("#send").is_visible()
    page.click("#stop")
    answer = page.locator(".msg.assistant.stopped")
    answer.wait_for()
    deadline = time.monotonic() + 10
    while state.streams_stopped == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert state.streams_stopped == before + 1  # the server's worker stopped early
    at_stop = len(produced)
    time.sleep(1)
    assert len(produced) == at_stop  # and generated nothing more
    assert "Stopped" in answer.locator(".meta").inner_text() and page.locator("#send").is_visible()
    assert conversation(url, current_conversation(page))["messages"] == []  # nothing half-done was stored


def test_escape_stops_the_answer_from_the_keyboard(page, served, assistant, monkeypatch):
    monkeypatch.setattr(assistant, "stream", slow_stream(assistant, []))
    before = served[1].streams_stopped
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    page.wait_for_function("() => document.querySelector('.msg.assistant.streaming .bubble')?.textContent.length > 0")
    page.keyboard.press("Escape")
    page.locator(".msg.assistant.stopped").wait_for()
    deadline = time.monotonic() + 10
    while served[1].streams_stopped == before and time.monotonic() < deadline:
        time.sleep(0.1)
    assert served[1].streams_stopped == before + 1


def test_checking_state_shows_then_the_backend_that_wrote_the_answer(page, assistant, monkeypatch):
    monkeypatch.setattr(assistant, "stream", slow_stream(assistant, [], pause_s=0.3))
    page.fill("#question", QUESTION)
    page.press("#question", "Enter")
    page.locator(".msg.assistant .bubble[data-status='checking the evidence…']").wait_for()
    answer = page.locator(".msg.assistant").last
    answer.locator(".meta .backend").wait_for(timeout=90_000)  # a word every 0.3 s
    assert answer.locator(".meta .backend").inner_text() == "quoted from sources"  # RAG_LLM=none


def test_a_refused_question_shows_the_servers_own_message(page, assistant):
    """Issue 18: a too-long question showed "Something went wrong: 422 Unprocessable Entity"."""
    limit = assistant.settings.max_question_chars
    answer = ask(page, "why " * (limit // 4 + 50))
    shown = answer.locator(".bubble").inner_text()
    assert f"over the limit of {limit} (RAG_MAX_QUESTION_CHARS)" in shown and "422" not in shown, shown


def test_the_page_names_sources_by_their_shortest_unique_path_as_the_cli_does(page):
    from rag.text import shortest_unique_paths

    paths = ["/usr/share/doc/zlib/README", "/usr/share/doc/zstd/README", "/home/ann/notes.txt", "/a/b", "/x/a/b"]
    shown = page.evaluate("(paths) => { setShortNames(paths); return paths.map(sourceName); }", paths)
    assert shown == [shortest_unique_paths(paths)[p] for p in paths] == [
        "zlib/README", "zstd/README", "notes.txt", "/a/b", "x/a/b"]


def test_copy_puts_the_answer_and_its_sources_on_the_clipboard(page):
    answer = ask(page, QUESTION)
    answer.locator("button.copy").click()
    copied = page.evaluate("() => navigator.clipboard.readText()")
    text = answer.locator(".bubble").inner_text()
    assert copied.startswith(text.strip()[:40])
    assert "\n\nSources:\n[1] 000_8e5956575f1ec01d.txt: \"" in copied


def test_regenerate_replaces_the_answer_here_and_on_the_server(page, served):
    ask(page, QUESTION)
    page.locator(".msg.assistant button.regenerate").click()
    page.locator(".msg.assistant .meta .verified").wait_for()
    assert page.locator(".msg.assistant").count() == 1 and page.locator(".msg.user").count() == 1
    messages = conversation(served[0], current_conversation(page))["messages"]
    assert [m["question"] for m in messages] == [QUESTION]


def test_edit_a_question_and_resend_replaces_it_and_what_followed(page, served):
    ask(page, QUESTION)
    ask(page, "where does he work?")
    first = page.locator(".msg.user").first
    first.hover()
    first.locator("button.edit").click()
    page.fill(".edit-box", "Who leads the Islamic State in Libya?")
    page.press(".edit-box", "Enter")
    page.locator(".msg.assistant .meta span").first.wait_for()
    assert page.locator(".msg.user").count() == 1
    assert page.locator(".msg.user .bubble").inner_text() == "Who leads the Islamic State in Libya?"
    messages = conversation(served[0], current_conversation(page))["messages"]
    assert [m["question"] for m in messages] == ["Who leads the Islamic State in Libya?"]


# ---- conversations -----------------------------------------------------------------------------------
def test_new_conversation_is_listed_while_its_first_answer_streams(page, assistant, monkeypatch):
    monkeypatch.setattr(assistant, "stream", slow_stream(assistant, []))
    page.fill("#question", "What did Ismail Shukri say about Libya?")
    page.press("#question", "Enter")
    page.locator("#conversations li.active", has_text="What did Ismail Shukri say about Libya?").wait_for()
    assert page.locator(".msg.assistant.streaming").count() == 1  # still streaming
    assert page.locator("#conversations li.active time").inner_text()  # with its date
    page.click("#stop")


def test_conversation_can_be_renamed_in_the_sidebar(page, served):
    ask(page, QUESTION)
    item = page.locator("#conversations li.active")
    item.hover()
    item.locator("button.rename").click()
    page.fill(".rename-box", "Shukri, renamed")
    page.press(".rename-box", "Enter")
    page.locator("#conversations li.active .title", has_text="Shukri, renamed").wait_for()
    assert page.locator("#chat-title").inner_text() == "Shukri, renamed"
    assert conversation(served[0], current_conversation(page))["title"] == "Shukri, renamed"


def test_conversation_can_be_deleted_from_the_sidebar(page, served):
    ask(page, "Where is Sirte?")
    cid = current_conversation(page)
    page.on("dialog", lambda d: d.accept())
    item = page.locator(f"#conversations li[data-id='{cid}']")
    item.hover()
    item.locator("button.delete").click()
    item.wait_for(state="detached")
    assert page.locator("#chat-title").inner_text() == "New chat"
    assert httpx.get(f"{served[0]}/api/conversations/{cid}").status_code == 404


def test_conversations_can_be_searched(page):
    ask(page, "Did Kerry rule anything out?")
    page.click("#new-chat")
    ask(page, QUESTION)
    page.fill("#conversation-search", "kerry")
    page.wait_for_function("() => [...document.querySelectorAll('#conversations li .title')]"
                           ".every((t) => t.textContent.toLowerCase().includes('kerry'))")
    assert page.locator("#conversations li .title").count() >= 1
    page.fill("#conversation-search", "no conversation says zxqv")
    page.locator("#conversations li.muted", has_text="No conversation matches.").wait_for()


# ---- dark mode ----------------------------------------------------------------------------------------
TOPBAR_BACKGROUND = "() => getComputedStyle(document.querySelector('.topbar')).backgroundColor"


def is_dark(page) -> bool:
    r, g, b = (int(x) for x in page.evaluate(TOPBAR_BACKGROUND).split("(")[1].rstrip(")").split(",")[:3])
    return r + g + b < 3 * 80


def test_dark_mode_follows_the_system_setting(browser, served):
    page = open_page(browser, served[0], color_scheme="dark")
    assert is_dark(page)
    page.context.close()
    page = open_page(browser, served[0], color_scheme="light")
    assert not is_dark(page)
    page.context.close()


def test_dark_mode_toggle_is_kept_in_the_browser(browser, served):
    page = open_page(browser, served[0], color_scheme="light")
    page.click("#theme-toggle")
    assert is_dark(page) and page.evaluate("() => localStorage.getItem('rag.theme')") == "dark"
    page.reload()
    assert is_dark(page)  # kept, against the system's light
    page.click("#theme-toggle")
    assert not is_dark(page)
    page.context.close()


# ---- safe markdown ------------------------------------------------------------------------------------
MARKDOWN = ("Ismail Shukri is **the head** of intelligence [1].\n\n"
            "- first *point* [1]\n- second `code` point\n\n"
            "| who | role |\n|---|---|\n| Shukri | intelligence [1] |\n\n"
            "    # indented too far for a heading\n1) one\n2) two\n```\n<b>code</b>\n```\n"
            "<img src=x onerror=\"window.__pwned=1\"> <script>window.__pwned=2</script>")


def fake_stream(assistant: Assistant, text: str):
    """An answer of `text`, citing the seed article's first sentence as [1]."""
    (info,) = assistant.sources()
    doc = assistant.document(info.source)
    end = doc.text.index(".") + 1

    def stream(question, history):
        def items():
            yield text
            yield Answer(text, [Citation(1, info.source, 0, end, doc.text[:end], 0.9)], False)
        return Reply(items())

    return stream


def test_answer_markdown_renders_lists_emphasis_code_and_tables_with_clickable_markers(page, assistant, monkeypatch):
    monkeypatch.setattr(assistant, "stream", fake_stream(assistant, MARKDOWN))
    bubble = ask(page, QUESTION).locator(".bubble")
    assert bubble.locator("strong", has_text="the head").count() == 1
    assert bubble.locator("ul li").count() == 2 and bubble.locator("ul em", has_text="point").count() == 1
    assert bubble.locator("ul li code").inner_text() == "code"
    assert bubble.locator("table th").all_inner_texts() == ["who", "role"]
    assert bubble.locator("button.cite").count() == 3
    assert bubble.locator("ol li").all_inner_texts() == ["one", "two"]
    assert bubble.locator("pre code").inner_text() == "<b>code</b>" and bubble.locator("b").count() == 0
    bubble.locator("table button.cite").click()
    page.locator("#citation-panel mark").wait_for()
    # the markup in the answer is shown as text, never as elements
    assert bubble.locator("img, script").count() == 0 and "<script>" in bubble.inner_text()
    assert page.evaluate("() => window.__pwned") is None


def test_page_script_never_parses_text_as_html():
    from rag.server.app import STATIC_DIR

    for script in STATIC_DIR.glob("*.js"):
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(", script.read_text())


def test_document_holding_html_and_script_never_runs_in_the_page(page):
    page.evaluate("() => { window.__pwned = undefined; }")
    page.click(".tabs button[data-tab=docs]")
    hostile = ('Lighthouse notes\n\nOrla Fenwick is the keeper of the Quibbleton lighthouse, which she has kept '
               'since 1998. <img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> She paints the '
               '<b onmouseover="window.__pwned=3">lighthouse</b> red every spring.\n')
    page.set_input_files("#file-input", files=[{"name": "hostile-notes.txt", "mimeType": "text/plain",
                                                "buffer": hostile.encode()}])
    page.locator("#uploads li.done", has_text="hostile-notes.txt").wait_for()
    answer = ask(page, "Who is the keeper of the Quibbleton lighthouse?")
    answer.locator("button.cite").first.click()
    page.locator("#citation-panel mark").wait_for()
    assert "<script>" in page.locator("#citation-panel .passage").inner_text()  # shown as text
    page.click("#citation-panel .open-document")
    page.locator("#viewer-mark").wait_for()
    page.locator("#viewer-mark").hover()
    assert page.locator(".bubble img, .bubble script, #citation-panel img, #viewer-text img, #viewer-text b").count() == 0
    assert page.evaluate("() => window.__pwned") is None


# ---- documents panel -----------------------------------------------------------------------------------
def test_documents_panel_shows_full_names_and_facts_searches_sorts_and_removes(page):
    long_name = "a-very-long-document-name-that-used-to-be-cut-after-ten-characters.txt"
    page.click(".tabs button[data-tab=docs]")
    page.set_input_files("#file-input", files=[
        {"name": long_name, "mimeType": "text/plain", "buffer": b"Marigolds bloom in the month of Feverdew.\n"},
        {"name": "big-notes.txt", "mimeType": "text/plain", "buffer": ("Ferns like shade. " * 400).encode()}])
    page.locator("#uploads li.done", has_text="big-notes.txt").wait_for()
    item = page.locator("#documents li", has_text=long_name)
    item.wait_for()
    name = item.locator(".name")
    assert name.inner_text() == long_name  # the whole name, wrapped
    assert page.evaluate("(n) => n.scrollWidth <= n.clientWidth", name.element_handle())
    facts = item.locator(".facts").inner_text()
    assert "TXT" in facts and " B" in facts and "chunk" in facts and "indexed" in facts and "utf-8" in facts
    assert item.locator(".folder").inner_text() == "uploaded"
    page.select_option("#document-sort", "size")
    names = page.locator("#documents li .name").all_inner_texts()
    assert names[:2] == ["big-notes.txt", "000_8e5956575f1ec01d.txt"]  # 7.2 KB, then the 2.4 KB article
    page.fill("#document-search", "very-long")
    assert page.locator("#documents li .name").all_inner_texts() == [long_name]
    page.on("dialog", lambda d: d.accept())
    item.locator("button", has_text="Remove").click()
    page.locator("#documents li", has_text="No document matches.").wait_for()
    page.fill("#document-search", "")
    assert page.locator("#documents li", has_text=long_name).count() == 0


def test_summarize_action_shows_a_cited_summary_of_the_whole_document(page, served, artifacts):
    page.click(".tabs button[data-tab=docs]")
    page.locator("#documents li", has_text="000_8e5956575f1ec01d.txt").locator("button.summarize").click()
    answer = page.locator(".msg.assistant").last
    answer.locator(".meta .verified").wait_for()
    assert page.locator(".msg.user").last.inner_text().startswith("Summarize 000_8e5956575f1ec01d.txt")
    markers = answer.locator(".bubble button.cite")
    assert markers.count() >= 5  # every quoted sentence cites itself
    assert "quoted from sources" in answer.locator(".meta").inner_text()
    markers.nth(2).click()
    mark = page.locator("#citation-panel .passage mark")
    mark.wait_for()
    assert " ".join(mark.inner_text().split()) in " ".join(answer.locator(".bubble").inner_text().split())
    page.screenshot(path=str(artifacts / "summary-light-desktop.png"))


# ---- screenshots ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def showcase(tmp_path_factory):
    """A server of its own over the seed article, so the screenshots show a tidy sidebar."""
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("showcase-index"), seed_dir=SEEDS)
    assistant.ensure_seeded()
    with live_server(create_app(assistant, warm_up=False)) as (host, port):
        yield f"http://{host}:{port}"


def test_screenshots_in_light_and_dark_at_desktop_and_phone_width(browser, showcase, artifacts):
    page = open_page(browser, showcase)
    ask(page, "Why are IS commanders moving to Libya?")
    page.click("#new-chat")
    ask(page, QUESTION)
    cid = current_conversation(page)
    page.context.close()
    for scheme in ("light", "dark"):
        for name, viewport in [("desktop", {"width": 1280, "height": 800}), ("phone", {"width": 390, "height": 844})]:
            phone = name == "phone"
            page = open_page(browser, showcase, color_scheme=scheme, viewport=viewport, is_mobile=phone,
                             has_touch=phone)
            page.evaluate("(id) => localStorage.setItem('rag.conversation', id)", cid)
            page.reload()
            answer = page.locator(".msg.assistant").last
            answer.locator(".meta .backend").wait_for()
            if not phone:
                answer.locator("button.cite", has_text="[1]").first.click()
                page.locator("#citation-panel mark").wait_for()
            assert is_dark(page) == (scheme == "dark")
            page.screenshot(path=str(artifacts / f"chat-{scheme}-{name}.png"))
            if not phone:
                page.click(".tabs button[data-tab=docs]")
                page.locator("#documents li .facts").first.wait_for()
                page.screenshot(path=str(artifacts / f"documents-{scheme}-{name}.png"))
            page.context.close()
