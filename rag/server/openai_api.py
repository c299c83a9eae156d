"""`/v1/models` and `/v1/chat/completions`, shaped like OpenAI's API so that existing chat clients
and the `openai` SDK work against rag.

The last user message is the question; earlier user/assistant pairs are the history. The answer's
content carries its citations as footnotes after a "Sources:" line; the full citations (exact
offsets and quotes) are in the extra top-level field `citations`, and the whole Answer in `rag`.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Literal

from fastapi import APIRouter, HTTPException
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from ..types import Answer
from .schemas import Text, answer_json
from .state import State

MODEL_ID = "rag"
FOOTNOTES = "\n\nSources:\n"

router = APIRouter(prefix="/v1", tags=["openai"])


class ContentPart(BaseModel):
    """One part of a message's content; only `text` parts are read (images and others are ignored)."""

    model_config = ConfigDict(extra="allow")
    type: str
    text: Text | None = None


class Message(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: Text | list[ContentPart] | None = None

    def text(self) -> str:
        if isinstance(self.content, list):  # content parts: keep the text ones
            return "".join(p.text or "" for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body; sampling options (temperature, max_tokens, ...) are accepted and ignored."""

    model_config = ConfigDict(extra="allow")
    model: str = MODEL_ID
    messages: list[Message] = Field(min_length=1)
    stream: bool = False


def question_and_history(messages: list[Message]) -> tuple[str, list[tuple[str, str]]]:
    turns = [m for m in messages if m.role in ("user", "assistant")]
    last_user = max((i for i, m in enumerate(turns) if m.role == "user"), default=None)
    if last_user is None or not turns[last_user].text().strip():
        # shaped like FastAPI's own 422s, as the OpenAPI schema documents them
        raise HTTPException(422, [{"loc": ["body", "messages"], "type": "value_error",
                                   "msg": "messages must contain a non-empty user message (the question)"}])
    history: list[tuple[str, str]] = []
    pending: str | None = None
    for m in turns[:last_user]:
        if m.role == "user":
            pending = m.text()
        elif pending is not None:
            history.append((pending, m.text().split(FOOTNOTES)[0]))  # our own footnotes are not the answer
            pending = None
    return turns[last_user].text(), history


def footnotes(answer: Answer) -> str:
    from pathlib import Path

    if not answer.citations:
        return ""
    lines = []
    for c in answer.citations:
        where = Path(c.source).name + (f", page {c.page}" if c.page else "")
        lines.append(f'[{c.n}] {where}: "{c.quote}"')
    return FOOTNOTES + "\n".join(lines)


def _extras(answer: Answer) -> dict:
    full = answer_json(answer.to_dict())
    return {"citations": full["citations"], "rag": full}


def _usage(question: str, content: str) -> dict:
    prompt, completion = len(question.split()), len(content.split())  # words, not tokens: rag has no tokenizer
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


@router.get("/models")
async def models() -> dict:
    """The one model rag offers."""
    return {"object": "list", "data": [{"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "rag"}]}


@router.post("/chat/completions", responses={200: {"description": (
        "An OpenAI chat completion (or, with `stream: true`, `chat.completion.chunk` events ending with "
        "`data: [DONE]`). Extra fields: `citations` (list of {n, source, document_id, start, end, quote, score, page}) "
        "and `rag` (the whole Answer, as /api/ask returns it); when streaming they come on the last chunk."),
    "content": {"application/json": {}, "text/event-stream": {}}}})
async def chat_completions(body: ChatCompletionRequest, state: State):
    """OpenAI-compatible chat: answers from the indexed documents, citations as footnotes."""
    question, history = question_and_history(body.messages)
    state.limits.check(question, history, where=(["body", "messages"], ["body", "messages"]))
    state.question_asked(question)
    cid, created = f"chatcmpl-{uuid.uuid4().hex}", int(time.time())
    if not body.stream:
        answer = await state.call(state.assistant.ask, question, history)
        content = answer.text + footnotes(answer)
        return {"id": cid, "object": "chat.completion", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                             "finish_reason": "stop"}],
                "usage": _usage(question, content), **_extras(answer)}

    state.admit()  # a full queue is a 503 before the stream starts, not an error inside it

    def chunk(delta: dict, finish: str | None = None, **extra) -> str:
        data = {"id": cid, "object": "chat.completion.chunk", "created": created, "model": MODEL_ID,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"

    async def events():
        yield chunk({"role": "assistant", "content": ""})
        try:
            async for item in state.stream(question, history):  # pieces are verified before they come
                if isinstance(item, Answer):
                    tail = footnotes(item)
                    if tail:
                        yield chunk({"content": tail})
                    yield chunk({}, "stop", **_extras(item))
                else:
                    yield chunk({"content": item})
        except Exception as e:
            yield f"data: {json.dumps({'error': {'message': str(e) or e.__class__.__name__}})}\n\n"
        yield "data: [DONE]\n\n"

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
