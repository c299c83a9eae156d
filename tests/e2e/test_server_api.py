"""The HTTP API of `rag serve`, against the real server in a subprocess."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from server_support import API_KEY, MAX_UPLOAD_MB, REPO, server_env
from support import free_port

SEED_QUESTION = "who is Ismail Shukri?"
UPLOAD = {"X-Requested-With": "rag"}  # uploads without it are refused (a form from another site cannot send it)


def sse_events(response) -> list[tuple[str, dict]]:
    events, event, data = [], "message", ""
    for line in response.iter_lines():
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:"):
            data += line[5:].strip()
        elif not line and data:
            events.append((event, json.loads(data)))
            event, data = "message", ""
    return events


# ---- questions -------------------------------------------------------------------------------------
def test_ask_returns_an_answer_whose_citations_match_the_source_text(server):
    with server.client() as c:
        answer = c.post("/api/ask", json={"question": SEED_QUESTION}).json()
        assert not answer["abstained"] and "Ismail Shukri" in answer["answer"]
        for cit in answer["citations"]:
            doc_id = next(d["id"] for d in c.get("/api/documents").json() if d["source"] == cit["source"])
            text = c.get(f"/api/documents/{doc_id}").json()["text"]
            assert text[cit["start"]:cit["end"]] == cit["quote"]


def test_chat_streams_tokens_then_a_final_verified_answer(server):
    with server.client() as c, c.stream("POST", "/api/chat", json={"question": SEED_QUESTION}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        events = sse_events(r)
    kinds = [e for e, _ in events]
    assert kinds[0] == "conversation" and kinds[-1] == "final" and kinds.count("token") > 1
    final = events[-1][1]
    assert final["citations"][0]["n"] == 1 and "Ismail Shukri" in final["answer"]


def test_chat_follow_up_is_stored_in_the_same_conversation(server):
    with server.client() as c:
        with c.stream("POST", "/api/chat", json={"question": SEED_QUESTION}) as r:
            cid = sse_events(r)[0][1]["conversation_id"]
        with c.stream("POST", "/api/chat", json={"question": "where is he head of intelligence?",
                                                 "conversation_id": cid}) as r:
            assert sse_events(r)[-1][0] == "final"
        conv = c.get(f"/api/conversations/{cid}").json()
        assert [m["question"] for m in conv["messages"]] == [SEED_QUESTION, "where is he head of intelligence?"]
        assert cid in [x["id"] for x in c.get("/api/conversations").json()]


def test_chat_in_an_unknown_conversation_is_404(server):
    with server.client() as c:
        assert c.post("/api/chat", json={"question": "hi", "conversation_id": "nope"}).status_code == 404


# ---- documents -------------------------------------------------------------------------------------
def test_uploaded_file_is_indexed_and_answers_questions(server, tmp_path):
    (tmp_path / "otters.md").write_text("# Otters\n\nThe otter Pemberton keeps his favourite pebble in Lake Wobegone.\n")
    with server.client() as c:
        with open(tmp_path / "otters.md", "rb") as fh:
            result = c.post("/api/documents", headers=UPLOAD, files=[("files", ("otters.md", fh, "text/markdown"))]).json()
        assert result["results"][0]["status"] == "added"
        answer = c.post("/api/ask", json={"question": "Where does Pemberton keep his pebble?"}).json()
        assert "Lake Wobegone" in answer["answer"]


def test_office_ebook_email_and_scanned_uploads_are_indexed_and_ocr_pages_listed(server, tmp_path):
    from support import make_eml, make_epub, make_odt, make_pptx, make_scanned_pdf

    files = [make_pptx(tmp_path / "deck.pptx", [("Kelp", ["Sea otters wrap themselves in kelp to sleep."], "")]),
             make_odt(tmp_path / "memo.odt", [("p", "The boathouse key hangs behind the blue door.")]),
             make_epub(tmp_path / "book.epub", [("Chapter One", ["The burn rises on the moor."])]),
             make_eml(tmp_path / "note.eml", "Dates", "ann@example.org", "The survey starts on the fourth of May."),
             make_scanned_pdf(tmp_path / "scan.pdf", [["The ferry timetable changes in winter."]])]
    with server.client() as c:
        results = c.post("/api/documents", headers=UPLOAD,
                         files=[("files", (f.name, f.read_bytes(), "application/octet-stream")) for f in files]).json()
        assert [r["status"] for r in results["results"]] == ["added"] * 5, results
        listed = {d["name"]: d for d in c.get("/api/documents").json()}
        assert listed["scan.pdf"]["ocr_pages"] == [1] and listed["deck.pptx"]["ocr_pages"] == []
        assert listed["scan.pdf"]["page_count"] == 1 and listed["deck.pptx"]["page_count"] == 1
        assert listed["memo.odt"]["page_count"] is None
        answer = c.post("/api/ask", json={"question": "Why do sea otters wrap themselves in kelp?"}).json()
        assert any(cit["source"].endswith("deck.pptx") and cit["page"] == 1 for cit in answer["citations"]), answer


def test_upload_reports_each_file_on_its_own(server):
    files = [("files", ("fine.txt", b"Grelmish weavers dye wool with saffron.", "text/plain")),
             ("files", ("tool.exe", b"MZ\x90\x00\x03\x00\x00\x00" + bytes(range(256)), "application/octet-stream"))]
    with server.client() as c:
        results = c.post("/api/documents", headers=UPLOAD, files=files).json()["results"]
    assert [r["status"] for r in results] == ["added", "failed"]
    assert "binary" in results[1]["reason"]


def test_upload_takes_every_file_rag_ingest_reads(server):
    """Issue 18: uploads refused .csv though `rag ingest` indexes it; the content decides, as for ingest."""
    files = [("files", ("harbour-fees.csv", b"vessel,fee\nferry,120 euros\nyacht,35 euros\n", "text/csv")),
             ("files", ("tide_tool.py", b"def high_tide():\n    return 'at noon in Kilbrannan'\n", "text/x-python")),
             ("files", ("README", b"Kilbrannan harbour notes, kept by the harbour master.\n", "application/octet-stream"))]
    with server.client() as c:
        results = c.post("/api/documents", headers=UPLOAD, files=files).json()["results"]
        assert [r["status"] for r in results] == ["added", "added", "added"], results
        listed = {d["name"] for d in c.get("/api/documents").json()}
    assert {"harbour-fees.csv", "tide_tool.py", "README"} <= listed


def test_upload_over_the_size_limit_is_refused_with_413(server):
    big = b"word " * int(MAX_UPLOAD_MB * 1_000_000 / 5 + 1000)
    with server.client() as c:
        r = c.post("/api/documents", headers=UPLOAD, files=[("files", ("big.txt", big, "text/plain"))])
        assert r.status_code == 413
    assert not (server.index_dir / "uploads" / "big.txt").exists()


@pytest.mark.parametrize("name", ["../../../escaped.txt", "..\\..\\escaped.txt", "/etc/escaped.txt"])
def test_path_traversal_file_name_is_stored_inside_the_uploads_folder(server, name):
    with server.client() as c:
        result = c.post("/api/documents", headers=UPLOAD, files=[("files", (name, b"Traversal test text here.", "text/plain"))]
                        ).json()["results"][0]
    assert result["stored_as"] == "escaped.txt"
    assert (server.index_dir / "uploads" / "escaped.txt").is_file()
    assert not (server.index_dir.parent.parent / "escaped.txt").exists()
    assert not (server.index_dir / "escaped.txt").exists()


def test_removed_document_is_gone_with_its_upload(server):
    with server.client() as c:
        doc_id = c.post("/api/documents", headers=UPLOAD, files=[("files", ("gone.txt", b"Ephemeral notes.", "text/plain"))]
                        ).json()["results"][0]["id"]
        assert c.delete(f"/api/documents/{doc_id}").status_code == 200
        assert c.get(f"/api/documents/{doc_id}").status_code == 404
        assert doc_id not in [d["id"] for d in c.get("/api/documents").json()]
    assert not (server.index_dir / "uploads" / "gone.txt").exists()


def test_unknown_document_id_is_404(server):
    with server.client() as c:
        assert c.get("/api/documents/bm90LWluZGV4ZWQ").status_code == 404
        assert c.delete("/api/documents/%%%").status_code in (404, 422)


# ---- robustness --------------------------------------------------------------------------------------
@pytest.mark.parametrize("body", ['{"question":', '{"question": 7}', '{}', '{"question": ""}', '[1, 2]'])
def test_malformed_request_is_422_and_the_server_keeps_serving(server, body):
    with server.client() as c:
        bad = c.post("/api/ask", content=body, headers={"Content-Type": "application/json"})
        assert bad.status_code == 422
        assert c.post("/v1/chat/completions", json={"messages": []}).status_code == 422
        assert c.get("/api/documents").status_code == 200


def test_openapi_describes_the_api(server):
    with server.client() as c:
        paths = c.get("/openapi.json").json()["paths"]
        assert c.get("/docs").status_code == 200
    assert {"/api/ask", "/api/chat", "/api/documents", "/v1/chat/completions", "/healthz"} <= set(paths)


def test_cors_is_off_by_default(server):
    with server.client() as c:
        r = c.options("/api/ask", headers={"Origin": "https://evil.example",
                                            "Access-Control-Request-Method": "POST"})
    assert "access-control-allow-origin" not in r.headers


# ---- security ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("method, path", [("GET", "/api/documents"), ("GET", "/api/conversations"),
                                          ("POST", "/api/ask"), ("POST", "/api/chat"), ("POST", "/api/documents"),
                                          ("GET", "/api/documents/L3gucGRm/file"),  # /x.pdf's
                                          ("GET", "/v1/models"), ("POST", "/v1/chat/completions")])
def test_with_an_api_key_every_endpoint_refuses_requests_without_it(secured_server, method, path):
    with secured_server.client() as c:
        assert c.request(method, path, headers=UPLOAD).status_code == 401
        assert c.request(method, path, headers={**UPLOAD, "Authorization": "Bearer wrong"}).status_code == 401


def test_with_an_api_key_the_right_key_is_accepted(secured_server):
    with secured_server.client(headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        assert c.get("/api/documents").status_code == 200
        assert c.get("/v1/models").json()["data"][0]["id"] == "rag"


def test_with_an_api_key_health_and_page_need_no_key(secured_server):
    with secured_server.client() as c:
        assert c.get("/healthz").status_code == 200
        assert "<title>" in c.get("/").text
        assert c.get("/static/app.js").status_code == 200


def test_without_an_api_key_the_api_is_open(server):
    with server.client() as c:
        assert c.get("/api/conversations").status_code == 200


def test_serve_refuses_a_non_loopback_address_without_a_key(tmp_path):
    proc = subprocess.run([sys.executable, "-m", "rag.cli", "serve", "--index", str(tmp_path / "index"),
                           "--host", "0.0.0.0", "--port", str(free_port())],
                          env=server_env(), cwd=REPO, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 4 and "RAG_API_KEY" in proc.stderr


def serve_process(tmp_path, *args: str, **popen) -> subprocess.CompletedProcess | subprocess.Popen:
    cmd = [sys.executable, "-m", "rag.cli", "serve", "--index", str(tmp_path / "index"), *args]
    if popen:
        return subprocess.Popen(cmd, env=server_env(), cwd=tmp_path, **popen)
    return subprocess.run(cmd, env=server_env(), cwd=tmp_path, capture_output=True, text=True, timeout=60)


def test_serve_refuses_a_port_out_of_range_before_serving(tmp_path):
    done = serve_process(tmp_path, "--port", "99999")
    assert done.returncode == 2 and "--port" in done.stderr and "65535" in done.stderr, done.stderr
    assert "serving on" not in done.stdout


def test_serve_on_a_busy_port_fails_without_claiming_to_serve(tmp_path):
    import socket

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = serve_process(tmp_path, "--port", str(port))
    assert done.returncode == 4, done.stderr
    assert f"cannot serve on 127.0.0.1:{port}" in done.stderr and "--port" in done.stderr
    assert "serving on" not in done.stdout + done.stderr


def test_serve_on_port_0_prints_the_port_it_bound(tmp_path):
    import re
    import time

    import httpx

    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = serve_process(tmp_path, "--port", "0", stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 300
        while not (m := re.search(r"serving on http://127\.0\.0\.1:(\d+)/", log.read_text())):
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        port = int(m.group(1))
        assert port != 0
        while True:  # the printed port is the one answering
            try:
                assert httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200
                break
            except httpx.TransportError:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                time.sleep(0.3)
    finally:
        proc.send_signal(2)
        proc.wait(timeout=30)


def test_serve_prints_one_access_line_per_request_without_the_question(server):
    import re
    import time

    with server.client() as c:
        c.get("/api/documents?probe=access-log")
        c.post("/api/ask", json={"question": "Which zeppelin did Ismail Shukri fly?"})
    deadline = time.monotonic() + 5
    while "POST /api/ask 200" not in server.log.read_text() and time.monotonic() < deadline:
        time.sleep(0.1)
    log = server.log.read_text()
    assert re.search(r"GET /api/documents 200 \d+ms", log) and re.search(r"POST /api/ask 200 \d+ms", log)
    assert "zeppelin" not in log and "probe" not in log
