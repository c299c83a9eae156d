"""`rag ask` and `rag chat` in-process (typer CliRunner) over a real seed index: streamed text, then citations."""

import pytest
from typer.testing import CliRunner

from rag.cli import app
from support import SEED_FILE


@pytest.fixture(scope="module")
def index(seed_assistant):
    return str(seed_assistant.settings.index_dir)


def test_ask_prints_the_answer_once_then_its_citations(index):
    result = CliRunner().invoke(app, ["ask", "who is Ismail Shukri?", "--index", index])
    assert result.exit_code == 0, result.output
    assert "head of intelligence" in result.output
    assert f"[1] {SEED_FILE.name} (" in result.output
    assert "Draft" not in result.output and "Checked answer:" not in result.output  # no model, no draft
    answer_line = result.output.splitlines()[0]
    assert result.output.count(answer_line) == 1


def test_chat_answers_a_follow_up_from_the_earlier_turn(index):
    turns = "who is Ismail Shukri?\nwhich broadcaster did he speak to?\n"
    result = CliRunner().invoke(app, ["chat", "--index", index], input=turns)
    assert result.exit_code == 0, result.output
    first, second = result.output.split("you> ")[1:3]
    assert "head of intelligence" in first
    assert "BBC Newsnight" in second
