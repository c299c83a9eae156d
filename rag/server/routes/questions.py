"""POST /api/ask (one answer as JSON) and POST /api/chat (an answer streamed as Server-Sent
Events within a stored conversation)."""

from __future__ import annotations

import json

from fastapi import APIRouter, HTTPException
from sse_starlette import EventSourceResponse
from starlette.concurrency import run_in_threadpool

from ...types import Answer
from ..conversations import title_for
from ..schemas import NOT_FOUND, AnswerOut, AskRequest, ChatRequest, answer_json
from ..state import State

router = APIRouter(prefix="/api", tags=["questions"])


@router.post("/ask", response_model=AnswerOut)
async def ask(body: AskRequest, state: State) -> dict:
    """Answer one question with citations, or abstain (same JSON as `rag ask --json`)."""
    state.limits.check(body.question, body.history, body.k)
    state.question_asked(body.question)
    answer = await state.call(state.assistant.ask, body.question, body.history, k=body.k, source=body.source)
    return answer_json(answer.to_dict())


@router.post("/chat", response_class=EventSourceResponse, responses={**NOT_FOUND, 200: {
    "content": {"text/event-stream": {}},
    "description": "Server-Sent Events: `conversation` {conversation_id, title}; `status` {state: \"checking\"} "
                   "while the evidence is checked; `token` {text}: pieces of the answer, each already "
                   "verified (joined, they are the final answer's text); `final` {conversation_id, "
                   "message_id, ...Answer} with the answer and citations; `error` {detail}. A client that "
                   "disconnects stops the answer's generation."}})
async def chat(body: ChatRequest, state: State):
    """Ask within a conversation (follow-ups use its earlier turns) and stream the answer."""
    state.limits.check(body.question, [])
    state.admit()
    conversations = state.conversations
    if body.conversation_id:
        if not await run_in_threadpool(conversations.exists, body.conversation_id):
            raise HTTPException(404, "no such conversation")
        cid = body.conversation_id
        if body.replace_from is not None and not await run_in_threadpool(
                conversations.truncate, cid, body.replace_from):
            raise HTTPException(404, "no such message in this conversation")
    else:
        # Named from the start, so a client can list it while its first answer streams.
        cid = (await run_in_threadpool(conversations.create, title_for(body.question)))["id"]
    title = (await run_in_threadpool(conversations.get, cid, False))["title"]
    history = state.limits.latest(await run_in_threadpool(conversations.history, cid))
    state.question_asked(body.question)

    async def events():
        yield {"event": "conversation", "data": json.dumps({"conversation_id": cid, "title": title},
                                                           ensure_ascii=False)}
        yield {"event": "status", "data": json.dumps({"state": "checking"})}
        try:
            async for item in state.stream(body.question, history):
                if isinstance(item, Answer):
                    result = item.to_dict()
                    mid = await run_in_threadpool(conversations.add, cid, body.question, result)
                    yield {"event": "final",
                           "data": json.dumps({"conversation_id": cid, "message_id": mid, **answer_json(result)},
                                              ensure_ascii=False)}
                else:
                    yield {"event": "token", "data": json.dumps({"text": item}, ensure_ascii=False)}
        except Exception as e:  # the stream has started: report in-band, keep serving
            yield {"event": "error", "data": json.dumps({"detail": str(e) or e.__class__.__name__})}

    return EventSourceResponse(events(), ping=15, sep="\n")
