"""/api/conversations: list (and search), start, read, rename and delete stored conversations. A
conversation read back marks each citation whose document has changed since (`changed`)."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException, Query
from starlette.concurrency import run_in_threadpool

from ..schemas import NOT_FOUND, ConversationFull, ConversationOut, ConversationPatch, Text, answer_json
from ..state import ServerState, State

router = APIRouter(prefix="/api/conversations", tags=["conversations"])


@router.get("", response_model=list[ConversationOut])
async def list_conversations(state: State, q: Text | None = Query(
        None, max_length=200, description="Only conversations whose title or questions contain this text "
                                          "(case-insensitive).")) -> list[dict]:
    """Conversations, most recent first."""
    return await run_in_threadpool(state.conversations.list, q)


@router.post("", response_model=ConversationOut, status_code=201)
async def new_conversation(state: State) -> dict:
    """Start a new, empty conversation."""
    return await run_in_threadpool(state.conversations.create)


@router.get("/{conversation_id}", response_model=ConversationFull, responses=NOT_FOUND)
async def get_conversation(conversation_id: str, state: State) -> dict:
    """A conversation with its questions and answers."""
    conv = await run_in_threadpool(state.conversations.get, conversation_id)
    if conv is None:
        raise HTTPException(404, "no such conversation")
    sources = {c["source"] for m in conv["messages"] for c in m["answer"].get("citations", [])}
    texts = await state.call(_current_texts, state, sources) if sources else {}
    return {**conv, "messages": [{**m, "answer": _marked(answer_json(m["answer"]), texts)} for m in conv["messages"]]}


def _current_texts(state: ServerState, sources: set[str]) -> dict[str, str | None]:
    """Each cited document's text as the index holds it now; None for one no longer indexed."""
    texts = {}
    for source in sources:
        doc = state.assistant.document(source)
        texts[source] = doc.text if doc is not None else None
    return texts


def _marked(answer: dict, texts: dict[str, str | None]) -> dict:
    """The answer with `changed` on each citation whose quote is no longer the document's text at
    its offsets (the file was edited and re-indexed, or removed)."""
    def changed(c: dict) -> bool:
        text = texts.get(c["source"])
        return text is None or text[c["start"]:c["end"]] != c["quote"]

    return {**answer, "citations": [{**c, "changed": changed(c)} for c in answer["citations"]]}


@router.patch("/{conversation_id}", response_model=ConversationOut, responses=NOT_FOUND)
async def rename_conversation(conversation_id: str, body: ConversationPatch, state: State) -> dict:
    """Rename a conversation."""
    conv = await run_in_threadpool(state.conversations.rename, conversation_id, body.title)
    if conv is None:
        raise HTTPException(404, "no such conversation")
    return conv


@router.delete("/{conversation_id}", responses=NOT_FOUND)
async def delete_conversation(conversation_id: str, state: State) -> dict:
    """Delete a conversation and its messages."""
    if not await run_in_threadpool(state.conversations.delete, conversation_id):
        raise HTTPException(404, "no such conversation")
    return {"removed": conversation_id}
