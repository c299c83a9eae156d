"""The chat page for people using a screen reader or the keyboard, in a real browser (Playwright,
Debian's Chromium) against the app served in-process: axe-core finds no serious or critical
violation in light and dark mode at desktop width, with an answer shown and its citation panel open;
and a question can be asked and its source read from the keyboard alone.

axe-core (MPL-2.0, tests/e2e/vendor/axe-core/, test-only: not shipped in the package) is injected
with `add_init_script`, which the page's Content-Security-Policy does not apply to, so the page is
checked with its CSP on (no `bypass_csp`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from test_chat_page import QUESTION, ask, assistant, browser, open_page, served  # noqa: F401 (fixtures)

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
    finally:
        page.context.close()
