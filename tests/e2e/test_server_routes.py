"""The /api routes in-process (FastAPI's TestClient over `create_app`, real Assistant, model and
Chroma): the Answer JSON and its document ids, the documents listing and summary, conversations (rename,
delete, search, regenerate), the access log, and a stopped answer stopping the server's work."""

from __future__ import annotations

import json
import logging
import time

import httpx
import pytest
from fastapi.testclient import TestClient

from rag import Assistant
from rag.server import create_app
from rag.server.schemas import AnswerOut, CitationOut, PassageOut
from rag.types import Answer, Citation, Passage
from server_support import live_server, slow_stream
from support import SEEDS

QUESTION = "who is Ismail Shukri?"


def sse(response) -> list[tuple[str, dict]]:
    events, event = [], "message"
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            events.append((event, json.loads(line[5:])))
    return events


@pytest.fixture(scope="module")
def index_dir(tmp_path_factory):
    """An index of the seed article of this module's own (conversations are written beside it)."""
    folder = tmp_path_factory.mktemp("routes-index")
    Assistant(index_dir=folder, seed_dir=SEEDS).ensure_seeded()
    return folder


@pytest.fixture(scope="module")
def assistant(index_dir) -> Assistant:
    return Assistant(index_dir=index_dir, seed_dir=SEEDS)


@pytest.fixture(scope="module")
def client(assistant):
    with TestClient(create_app(assistant, warm_up=False)) as c:
        yield c


# ---- the Answer JSON ---------------------------------------------------------------------------------
def test_answer_schema_has_exactly_the_fields_of_answer_to_dict():
    answer = Answer("A.", [Citation(1, "/d/a.txt", 0, 2, "A.", 0.5, line=3, section="Usage")], False,
                    see_also=[Passage("/d/a.txt", 0, 2, "A.", 0.5)])  # line and section: in JSON only when set
    d = answer.to_dict()
    assert set(AnswerOut.model_fields) == set(d)
    assert set(CitationOut.model_fields) == set(d["citations"][0]) | {"document_id", "changed"}
    assert set(PassageOut.model_fields) == set(d["see_also"][0]) | {"document_id"}


def test_every_citation_carries_the_id_that_opens_its_document(client):
    answer = client.post("/api/ask", json={"question": QUESTION}).json()
    assert answer["citations"]
    for c in answer["citations"]:
        doc = client.get(f"/api/documents/{c['document_id']}").json()
        assert doc["source"] == c["source"] and doc["text"][c["start"]:c["end"]] == c["quote"]


def test_abstention_passages_carry_document_ids_too(client):
    answer = client.post("/api/ask", json={"question": "What is the boiling point of mercury?"}).json()
    assert answer["abstained"] and answer["see_also"]
    for p in answer["see_also"]:
        assert client.get(f"/api/documents/{p['document_id']}").status_code == 200


# ---- documents -----------------------------------------------------------------------------------------
def test_document_summary_is_an_answer_citing_its_own_document_exactly(client):
    doc = client.get("/api/documents").json()[0]
    answer = client.post(f"/api/documents/{doc['id']}/summary").json()
    assert not answer["abstained"] and len(answer["sentences"]) >= 5
    text = client.get(f"/api/documents/{doc['id']}").json()["text"]
    for c in answer["citations"]:
        assert c["document_id"] == doc["id"] and text[c["start"]:c["end"]] == c["quote"]
    assert client.post("/api/documents/L25vL3N1Y2gudHh0/summary").status_code == 404  # /no/such.txt


def test_document_listing_gives_folder_type_size_chunks_date_and_encoding(client):
    (doc,) = client.get("/api/documents").json()
    seed = next(SEEDS.glob("*.txt"))
    assert doc["name"] == seed.name and doc["folder"] == str(seed.parent.resolve())
    assert doc["type"] == "txt" and doc["size"] == seed.stat().st_size
    assert doc["chunks"] > 0 and doc["indexed_at"] and doc["encoding"] == "utf-8" and not doc["uploaded"]
    full = client.get(f"/api/documents/{doc['id']}").json()
    assert {k: full[k] for k in doc} == doc


# ---- conversations -------------------------------------------------------------------------------------
def test_chat_names_the_conversation_before_the_answer_is_final(client):
    with client.stream("POST", "/api/chat", json={"question": QUESTION}) as r:
        events = iter(sse(r))
        name, first = next(events)
        assert name == "conversation" and first["title"] == QUESTION
        # the first event is out: the conversation is listed under its name already
        assert any(c["id"] == first["conversation_id"] and c["title"] == QUESTION
                   for c in client.get("/api/conversations").json())
        rest = list(events)
    final = rest[-1][1]
    assert rest[-1][0] == "final" and all(c["document_id"] for c in final["citations"])
    stored = client.get(f"/api/conversations/{first['conversation_id']}").json()
    assert stored["messages"][0]["answer"]["citations"][0]["document_id"] == final["citations"][0]["document_id"]


def test_conversation_can_be_renamed(client):
    cid = client.post("/api/conversations").json()["id"]
    r = client.patch(f"/api/conversations/{cid}", json={"title": "Shukri notes"})
    assert r.status_code == 200 and r.json()["title"] == "Shukri notes"
    assert client.get(f"/api/conversations/{cid}").json()["title"] == "Shukri notes"


@pytest.mark.parametrize("body", [{"title": ""}, {"title": "x" * 201}, {"name": "x"}, {}])
def test_rename_with_a_bad_title_is_422(client, body):
    cid = client.post("/api/conversations").json()["id"]
    assert client.patch(f"/api/conversations/{cid}", json=body).status_code == 422


def test_rename_and_delete_of_an_unknown_conversation_are_404(client):
    assert client.patch("/api/conversations/nope", json={"title": "x"}).status_code == 404
    assert client.delete("/api/conversations/nope").status_code == 404


def test_deleted_conversation_is_gone(client):
    cid = client.post("/api/conversations").json()["id"]
    assert client.delete(f"/api/conversations/{cid}").json() == {"removed": cid}
    assert client.get(f"/api/conversations/{cid}").status_code == 404
    assert cid not in {c["id"] for c in client.get("/api/conversations").json()}


def test_conversations_are_searched_by_title_and_question(client):
    with client.stream("POST", "/api/chat", json={"question": "Where does Ismail Shukri work?"}) as r:
        cid = sse(r)[0][1]["conversation_id"]
    client.patch(f"/api/conversations/{cid}", json={"title": "Zanzibar_100% notes"})
    found = lambda q: {c["id"] for c in client.get("/api/conversations", params={"q": q}).json()}  # noqa: E731
    assert cid in found("zanzibar_100%") and cid in found("does ismail")
    assert cid not in found("_1000%") and not found("no conversation says this")


def test_regenerate_replaces_the_message_and_everything_after_it(client):
    with client.stream("POST", "/api/chat", json={"question": QUESTION}) as r:
        first = sse(r)[-1][1]
    cid = first["conversation_id"]
    with client.stream("POST", "/api/chat", json={"question": "where does he work?", "conversation_id": cid}):
        pass
    with client.stream("POST", "/api/chat", json={"question": "Who leads the Islamic State in Libya?",
                                                  "conversation_id": cid, "replace_from": first["message_id"]}) as r:
        assert r.status_code == 200 and sse(r)[-1][0] == "final"
    messages = client.get(f"/api/conversations/{cid}").json()["messages"]
    assert [m["question"] for m in messages] == ["Who leads the Islamic State in Libya?"]


@pytest.mark.parametrize("mid", [0, -1, 2**63, 10**30])
def test_replace_from_out_of_range_is_422(client, mid):
    cid = client.post("/api/conversations").json()["id"]
    assert client.post("/api/chat", json={"question": QUESTION, "conversation_id": cid,
                                          "replace_from": mid}).status_code == 422


def test_replace_from_a_message_of_another_conversation_is_404(client):
    with client.stream("POST", "/api/chat", json={"question": QUESTION}) as r:
        mid = sse(r)[-1][1]["message_id"]
    other = client.post("/api/conversations").json()["id"]
    r = client.post("/api/chat", json={"question": QUESTION, "conversation_id": other, "replace_from": mid})
    assert r.status_code == 404


# ---- the access log -------------------------------------------------------------------------------------
def test_access_log_has_one_line_per_request_without_key_or_question(assistant, caplog):
    secured = Assistant(index_dir=assistant.settings.index_dir, api_key="secret-key-77")
    with caplog.at_level(logging.INFO, logger="rag.server.access"), \
            TestClient(create_app(secured, warm_up=False)) as c:
        c.post("/api/ask", json={"question": "Ismail Shukri's secret?"}, headers={"Authorization": "Bearer nope"})
        c.post("/api/ask?token=secret-key-77", json={"question": "Ismail Shukri's secret?"},
               headers={"Authorization": "Bearer secret-key-77"})
        c.get("/api/nothing%0Aforged")
    lines = [r.getMessage() for r in caplog.records if r.name == "rag.server.access"]
    assert len(lines) == 3
    assert lines[0].startswith("POST /api/ask 401 ") and lines[0].endswith("ms")
    assert lines[1].startswith("POST /api/ask 200 ")
    assert lines[2].startswith("GET /api/nothing%0Aforged 404 ")
    assert not any("secret" in line or "Shukri" in line or "\n" in line for line in lines)


def test_log_questions_adds_the_question_text(assistant, caplog):
    with caplog.at_level(logging.INFO, logger="rag.server.access"), \
            TestClient(create_app(assistant, warm_up=False, log_questions=True)) as c:
        c.post("/api/ask", json={"question": QUESTION})
    assert any(QUESTION in r.getMessage() for r in caplog.records if r.name == "rag.server.access")


# ---- stopping an answer -------------------------------------------------------------------------------
def test_client_going_away_stops_the_answer_being_generated(assistant, monkeypatch, caplog):
    produced: list[str] = []
    monkeypatch.setattr(assistant, "stream", slow_stream(assistant, produced))
    app = create_app(assistant, warm_up=False)
    with caplog.at_level(logging.INFO, logger="rag.server.access"), live_server(app) as (host, port):
        with httpx.Client(base_url=f"http://{host}:{port}", timeout=30) as c:
            with c.stream("POST", "/api/chat", json={"question": QUESTION}) as r:
                for line in r.iter_lines():
                    if line.startswith("event: token"):
                        break  # the reader stops: the connection closes
            deadline = time.monotonic() + 10
            while app.state.rag.streams_stopped == 0 and time.monotonic() < deadline:
                time.sleep(0.1)
            at_stop = len(produced)
            time.sleep(1.0)
            assert c.get("/healthz").status_code == 200
    assert app.state.rag.streams_stopped == 1
    assert len(produced) == at_stop and at_stop < 6  # nothing more was generated after the stop
    assert any("answer stopped early" in r.getMessage() for r in caplog.records)
