"""The `openai` Python SDK as a real client of rag's /v1 endpoints."""

from __future__ import annotations

import openai
import pytest
from openai import OpenAI

from server_support import API_KEY

QUESTION = [{"role": "user", "content": "who is Ismail Shukri?"}]


@pytest.fixture(scope="module")
def client(server):
    return OpenAI(base_url=f"{server.url}/v1", api_key="not-needed", max_retries=0, timeout=120)


def test_models_lists_rag(client):
    assert [m.id for m in client.models.list()] == ["rag"]


def test_completion_carries_the_answer_with_footnotes(client):
    content = client.chat.completions.create(model="rag", messages=QUESTION).choices[0].message.content
    assert "Ismail Shukri" in content and "\n\nSources:\n[1] " in content


def test_completion_has_the_full_citations_in_an_extra_field(client):
    response = client.chat.completions.create(model="rag", messages=QUESTION)
    citation = response.model_extra["citations"][0]
    assert citation["n"] == 1 and "Ismail Shukri" in citation["quote"] and citation["end"] > citation["start"]


def test_streaming_completion_arrives_in_pieces_and_ends_with_citations(client):
    chunks = list(client.chat.completions.create(model="rag", messages=QUESTION, stream=True))
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) > 2 and "Ismail Shukri" in "".join(pieces)
    assert chunks[-1].choices[0].finish_reason == "stop" and chunks[-1].model_extra["citations"]


def test_follow_up_uses_the_earlier_turns(client):
    first = client.chat.completions.create(model="rag", messages=QUESTION).choices[0].message.content
    messages = QUESTION + [{"role": "assistant", "content": first},
                           {"role": "user", "content": "which city is he head of intelligence in?"}]
    assert "Misrata" in client.chat.completions.create(model="rag", messages=messages).choices[0].message.content


def test_sdk_with_the_right_key_is_served_and_a_wrong_key_refused(secured_server):
    good = OpenAI(base_url=f"{secured_server.url}/v1", api_key=API_KEY, max_retries=0)
    bad = OpenAI(base_url=f"{secured_server.url}/v1", api_key="wrong", max_retries=0)
    assert [m.id for m in good.models.list()] == ["rag"]
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
