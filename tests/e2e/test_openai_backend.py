"""rag's `openai:` backend against a real OpenAI-compatible server: llama.cpp's own server
(`python -m llama_cpp.server`) serving the bundled SmolLM2 GGUF on 127.0.0.1. No mocked HTTP."""

from pathlib import Path

import pytest

from rag import Answer, Assistant
from rag.llm import chat_model, stream_text

SEEDS = Path(__file__).resolve().parents[2] / "seeds"


@pytest.fixture(scope="module")
def assistant(llama_server_url, tmp_path_factory):
    a = Assistant(index_dir=tmp_path_factory.mktemp("openai-index"), seed_dir=SEEDS, llm="openai:smollm2",
                  openai_base_url=llama_server_url, llm_timeout_s=120)
    a.ensure_seeded()
    return a


def test_chat_model_streams_tokens_from_the_server(assistant):
    pieces = list(stream_text(chat_model(assistant.settings), "Answer briefly.", "What is the capital of France?",
                              assistant.settings))
    assert len(pieces) > 1 and "".join(pieces).strip()


def test_assistant_streams_verified_pieces_of_a_server_written_answer(assistant):
    reply = assistant.stream("who is Ismail Shukri?", [])
    pieces = list(reply)
    answer = reply.answer()
    assert isinstance(answer, Answer) and len(pieces) > 3 and "".join(pieces) == answer.text
    assert "unavailable" not in answer.notice  # the server answered; rag did not fall back for that reason
    assert "Misrata" in answer.text and all(s.supported for s in answer.sentences)
    for c in answer.citations:
        assert assistant.document(c.source).text[c.start:c.end] == c.quote
