"""The chat page for people using a screen reader or the keyboard, in a real browser (Playwright,
Debian's Chromium) against the app served in-process: axe-core finds no serious or critical
violation in light and dark mode at desktop width, with an answer shown and its citation panel open
(and with the whole document open); and a question can be asked and its source read from the
keyboard alone.

axe-core (MPL-2.0, tests/e2e/vendor/axe-core/, test-only: not shipped in the package) is injected
with `add_init_script`, which the page's Content-Security-Policy does not apply to, so the page is
checked with its CSP on (no `bypass_csp`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_chat_page import QUESTION, ask, assistant, open_page, served  # noqa: F401 (fixtures)

AXE = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"

# Violations of impact serious or critical, each as "rule: target, target (summary)".
RUN_AXE = """async () => {
  const result = await axe.run(document, { resultTypes: ['violations'] });
  return result.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => `${v.id} (${v.impact}): ${v.help}\\n` + v.nodes.map((n) => `  ${n.target.join(' ')}: ${n.failureSummary}`).join('\\n'));
}"""


def open_with_axe(browser, url, scheme: str):
    context = browser.new_context(viewport={"width": 1280, "height": 800}, color_scheme=scheme)
    context.add_init_script(path=str(AXE))
    page = context.new_page()
    page.set_default_timeout(30_000)
    page.goto(url)
    return page


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_axe_finds_no_serious_violation_with_an_answer_and_its_source_shown(browser, served, scheme):  # noqa: F811
    page = open_with_axe(browser, served[0], scheme)
    try:
        answer = ask(page, QUESTION)
        answer.locator(".meta .backend").wait_for()
        answer.locator("button.cite", has_text="[1]").first.click()
        page.locator("#citation-panel mark").wait_for()
        page.mouse.move(0, 0)  # no hover state in what is checked
        violations = page.evaluate(RUN_AXE)
        assert not violations, "\n".join(violations)
        page.click("#citation-panel .open-document")
        page.locator("#viewer-mark").wait_for()
        violations = page.evaluate(RUN_AXE)
        assert not violations, "with the document open:\n" + "\n".join(violations)
    finally:
        page.context.close()


FOCUSED = "() => { const a = document.activeElement; return a ? (a.id ? '#' + a.id : a.className || a.tagName) : ''; }"


def press_until(page, key: str, is_there: str, limit: int = 80) -> int:
    """Presses `key` until the focused element satisfies the JS predicate `is_there`; the presses it took."""
    for presses in range(1, limit + 1):
        page.keyboard.press(key)
        if page.evaluate(f"() => {{ const a = document.activeElement; return !!a && ({is_there}); }}"):
            return presses
    raise AssertionError(f"{key} x{limit} never reached {is_there}; the focus is on {page.evaluate(FOCUSED)}")


def test_ask_and_read_the_source_from_the_keyboard_alone(browser, served):  # noqa: F811
    page = open_page(browser, served[0])
    try:
        page.evaluate("() => document.activeElement.blur()")  # from the top of the page
        press_until(page, "Tab", "a.id === 'question'")
        page.keyboard.type(QUESTION)
        page.keyboard.press("Enter")
        answer = page.locator(".msg.assistant").last
        answer.locator(".meta .backend").wait_for()
        assert page.locator(".msg.user .bubble").last.inner_text() == QUESTION
        # back from the question box to the answer's first [1]
        press_until(page, "Shift+Tab", "a.matches('.msg.assistant button.cite') && a.textContent === '[1]'")
        page.keyboard.press("Enter")
        page.locator("#citation-panel mark").wait_for()
        assert page.evaluate(FOCUSED) == "#citation-heading"  # the panel has the focus, to be read
        # the whole document, and back
        press_until(page, "Tab", "a.matches('#citation-panel .open-document')", limit=5)
        page.keyboard.press("Enter")
        page.locator("#viewer-mark").wait_for()
        assert page.evaluate(FOCUSED) == "#viewer-text"  # the arrow keys scroll it
        for key in ["Tab", "Tab", "Shift+Tab"]:  # a modal: Tab stays in it
            page.keyboard.press(key)
            assert page.evaluate("() => document.getElementById('doc-viewer').contains(document.activeElement)")
        page.keyboard.press("Escape")
        assert page.locator("#doc-viewer").is_hidden() and page.locator("#citation-panel").is_visible()
        assert "open-document" in page.evaluate(FOCUSED)
        # Escape closes the panel and gives the focus back to the [1]
        page.keyboard.press("Escape")
        assert page.locator("#citation-panel").is_hidden()
        assert page.evaluate("() => document.activeElement.matches('button.cite') "
                             "&& document.activeElement.textContent") == "[1]"
        assert page.locator(".msg.assistant.stopped").count() == 0  # nothing was stopped on the way
    finally:
        page.context.close()


def test_documents_tab_and_the_file_chooser_from_the_keyboard(browser, served):  # noqa: F811
    page = open_page(browser, served[0])
    try:
        page.evaluate("() => document.activeElement.blur()")
        press_until(page, "Tab", "a.id === 'docs-tab'")
        page.keyboard.press("Enter")
        page.locator("#documents li .facts").first.wait_for()
        press_until(page, "Tab", "a.id === 'file-input'", limit=5)
        with page.expect_file_chooser() as chooser:
            page.keyboard.press("Space")
        assert chooser.value.is_multiple()
    finally:
        page.context.close()
