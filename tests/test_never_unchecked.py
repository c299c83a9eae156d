"""No sentence the model wrote reaches a person unchecked, on any surface: `rag ask` (CLI), the
chat page's Server-Sent Events (`/api/chat`) and the OpenAI stream (`/v1/chat/completions`).

The real bundled SmolLM2-135M writes the drafts; it often writes sentences its passages do not
support. Every sentence it wrote that verification rejected is logged by rag.llm_answer; the test
collects them and asserts that none appears in what each surface sent, and that each surface sent
exactly the final answer (no draft text first)."""

from __future__ import annotations

import json
import logging

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from rag.cli import app as cli_app
from rag.server.app import create_app
from support import SEEDS

# Questions on which the 135M model, given the seed article, writes at least one unsupported sentence.
QUESTIONS = ["who is Ismail Shukri?", "Why are IS commanders moving to Libya?", "What did Kerry rule out?"]




@pytest.fixture
def rejected(caplog):
    """The model's sentences that verification rejected while the test ran."""
    caplog.set_level(logging.INFO, logger="rag.llm_answer")

    def collect() -> list[str]:
        return [r.args[-1] for r in caplog.records if r.name == "rag.llm_answer" and r.args]

    return collect


def sse(text: str) -> list[tuple[str, dict]]:
    events = []
    for block in text.replace("\r", "").split("\n\n"):
        event, data = "message", ""
        for line in block.split("\n"):
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                data += line[5:].strip()
        if data and data != "[DONE]":
            events.append((event, json.loads(data)))
    return events


def assert_none_shown(rejected_sentences: list[str], shown: str) -> None:
    for sentence in rejected_sentences:
        assert " ".join(sentence.split()) not in " ".join(shown.split()), sentence


def test_python_stream_carries_only_verified_text(local_assistant, rejected):
    for q in QUESTIONS:
        reply = local_assistant.stream(q)
        pieces = list(reply)
        answer = reply.answer()
        assert "".join(pieces) == answer.text
        assert all(s.supported for s in answer.sentences)
        assert_none_shown(rejected(), "".join(pieces))
    assert rejected(), "the model wrote no unsupported sentence: the test proved nothing"


def test_cli_prints_no_unchecked_sentence(seed_index_dir, rejected, monkeypatch):
    monkeypatch.setenv("RAG_SEED_DIR", str(SEEDS))
    runner = CliRunner()
    for q in QUESTIONS:
        result = runner.invoke(cli_app, ["ask", q, "--index", str(seed_index_dir), "--llm", "local"])
        assert result.exit_code == 0, result.output
        assert "unchecked" not in result.output.lower() and "draft" not in result.output.lower()
        assert_none_shown(rejected(), result.stdout)
    assert rejected()


def test_chat_page_stream_and_openai_stream_carry_no_unchecked_sentence(local_assistant, rejected):
    with TestClient(create_app(local_assistant, warm_up=False)) as client:
        for q in QUESTIONS:
            events = sse(client.post("/api/chat", json={"question": q}).text)
            tokens = "".join(d["text"] for e, d in events if e == "token")
            final = next(d for e, d in events if e == "final")
            assert tokens == final["answer"]
            assert_none_shown(rejected(), tokens)

            body = client.post("/v1/chat/completions", json={
                "model": "rag", "stream": True, "messages": [{"role": "user", "content": q}]}).text
            chunks = [d for _, d in sse(body)]
            content = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if "choices" in c)
            assert content.startswith(chunks[-1]["rag"]["answer"]) and "Verified answer" not in content
            assert_none_shown(rejected(), content)

            plain = client.post("/v1/chat/completions", json={
                "model": "rag", "messages": [{"role": "user", "content": q}]}).json()
            assert_none_shown(rejected(), plain["choices"][0]["message"]["content"])
    assert rejected()
