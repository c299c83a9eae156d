"""`rag serve --watch` on the page: `GET /api/watch` (the watched folders, whether the watcher runs,
the last sync and its file counts), and stored conversations whose cited text has since changed
(`changed` on each citation when a conversation is read back), in-process with FastAPI's
TestClient; then the same in a real browser (Playwright, Debian's Chromium): the Documents panel
shows the watched folder and the last sync, and an answer whose cited file was edited under the
watcher is marked "source changed". Real model, Chroma and file-system watcher; no mocks."""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rag import Assistant
from rag.server import create_app
from rag.server.schemas import WatchStatus
from rag.server.watching import Watching
from server_support import live_server

PLANT = ("The Kessel filtration plant opened in March 2024 and now treats a third of the town's water. "
         "Harbour Engineering built the plant for twelve million euros.\n")
PLANT_EDITED = ("The Kessel filtration plant opened in October 2025 and now treats half of the town's water. "
                "Harbour Engineering built the plant for twelve million euros.\n")
QUESTION = "When did the Kessel filtration plant open?"


def wait_for(condition, what: str, timeout_s: float = 120):
    """Poll `condition()` until it is truthy (returned); fail naming `what` after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not seen within {timeout_s} s")
        time.sleep(0.3)


def final_answer(client, question: str, conversation_id: str | None = None) -> tuple[str, dict]:
    events, event = [], "message"
    body = {"question": question, **({"conversation_id": conversation_id} if conversation_id else {})}
    with client.stream("POST", "/api/chat", json=body) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:"):
                events.append((event, json.loads(line[5:])))
    first = next(d for e, d in events if e == "conversation")
    return first["conversation_id"], next(d for e, d in events if e == "final")


@pytest.fixture
def watched(tmp_path):
    """A folder holding plant.txt, and an Assistant over an empty index of its own (no seeds)."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plant.txt").write_text(PLANT, encoding="utf-8")
    assistant = Assistant(index_dir=tmp_path / "index", seed_dir=tmp_path / "no-seeds")
    return docs, assistant


def test_watch_status_says_not_watching_when_the_server_watches_nothing(tmp_path):
    assistant = Assistant(index_dir=tmp_path / "index", seed_dir=tmp_path / "no-seeds")
    with TestClient(create_app(assistant, warm_up=False)) as client:
        status = client.get("/api/watch").json()
    assert status == {"watching": False, "folders": [], "running": False, "syncs": 0, "last_sync": None, "error": "",
                      "restarts": 0}
    assert set(WatchStatus.model_fields) == set(status)


def test_watch_status_gives_the_folders_and_each_sync_with_its_file_count(watched):
    docs, assistant = watched
    watching = Watching([docs], assistant.settings)
    with TestClient(create_app(assistant, warm_up=False, watching=watching)) as client:
        first = wait_for(lambda: client.get("/api/watch").json()["last_sync"] and client.get("/api/watch").json(),
                         "the first sync")
        assert first["watching"] and first["running"] and first["folders"] == [str(docs.absolute())]
        assert first["syncs"] == 1 and first["error"] == ""
        assert (first["last_sync"]["indexed"], first["last_sync"]["failed"]) == (1, 0)
        (docs / "ferry.txt").write_text("The ferry to Gull Island leaves at nine every morning.\n", encoding="utf-8")
        (docs / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
        second = wait_for(lambda: (s := client.get("/api/watch").json())["syncs"] >= 2 and s, "the second sync")
        assert second["last_sync"]["indexed"] == 1 and second["last_sync"]["failed"] == 1
        assert second["last_sync"]["at"] >= first["last_sync"]["at"]
    assert not watching.status()["running"]  # stopped with the app


def test_a_watcher_that_stops_is_visible_and_started_again_with_backoff(tmp_path):
    """Issue 19, item 1: the watcher thread died while /healthz said ready and /api/watch said
    `running: false, error: ""`. Its index's disk fills up (a small tmpfs): the sync
    fails, /healthz says degraded with the reason, /api/watch gives the error text, and the watcher
    is started again with backoff; once there is room again it runs, syncs the edit it
    missed, and all is well again."""
    from support import fill, small_tmpfs

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plant.txt").write_text(PLANT, encoding="utf-8")
    with small_tmpfs(tmp_path / "disk") as disk:
        assistant = Assistant(index_dir=disk / "index", seed_dir=tmp_path / "no-seeds")
        stops: list[str] = []
        watching = Watching([docs], assistant.settings, on_stop=stops.append)
        try:
            with TestClient(create_app(assistant, warm_up=False, watching=watching)) as client:
                wait_for(lambda: client.get("/api/watch").json()["last_sync"], "the first sync")
                assert client.get("/healthz").json() == {"status": "ok", "ready": True}
                filler = fill(disk)
                (docs / "ferry.txt").write_text("The ferry to Gull Island leaves at nine every morning.\n")
                down = wait_for(lambda: (s := client.get("/api/watch").json())["error"] and not s["running"] and s,
                                "the watcher stopped", 60)
                health = client.get("/healthz").json()
                assert health["status"] == "degraded" and health["problems"] == [f"watching stopped: {down['error']}"]
                assert stops and "trying again in 1 s" in stops[0]
                wait_for(lambda: client.get("/api/watch").json()["restarts"] >= 2, "two tries again", 60)
                assert "trying again in 2 s" in stops[1]  # backoff: each wait twice the last
                filler.unlink()
                wait_for(lambda: (s := client.get("/api/watch").json())["running"] and not s["error"],
                         "the watcher running again", 120)
                assert client.get("/healthz").json()["status"] == "ok"
                wait_for(lambda: any(s.source.endswith("ferry.txt") for s in assistant.sources()), "ferry.txt", 60)
        finally:
            assistant.close()


def test_a_conversation_read_back_marks_citations_whose_source_changed_or_is_gone(watched):
    docs, assistant = watched
    watching = Watching([docs], assistant.settings)
    with TestClient(create_app(assistant, warm_up=False, watching=watching)) as client:
        wait_for(lambda: client.get("/api/watch").json()["last_sync"], "the first sync")
        cid, answer = final_answer(client, QUESTION)
        assert answer["citations"] and "March 2024" in answer["answer"]
        assert not any(c.get("changed") for c in answer["citations"])
        stored = client.get(f"/api/conversations/{cid}").json()["messages"][0]["answer"]["citations"]
        assert stored and not any(c["changed"] for c in stored)  # nothing edited yet

        cid2, _ = final_answer(client, QUESTION)  # a second conversation, for the removal below
        (docs / "plant.txt").write_text(PLANT_EDITED, encoding="utf-8")
        wait_for(lambda: client.get("/api/watch").json()["syncs"] >= 2, "the sync of the edit")
        text = assistant.document(str(docs / "plant.txt")).text
        assert text == PLANT_EDITED
        stored = client.get(f"/api/conversations/{cid}").json()["messages"][0]["answer"]["citations"]
        for c in stored:
            assert c["changed"] == (text[c["start"]:c["end"]] != c["quote"])
        assert any(c["changed"] for c in stored)

        (docs / "plant.txt").unlink()
        wait_for(lambda: client.get("/api/watch").json()["syncs"] >= 3, "the sync of the removal")
        stored = client.get(f"/api/conversations/{cid2}").json()["messages"][0]["answer"]["citations"]
        assert stored and all(c["changed"] for c in stored)  # the document is gone


# ---- the page ------------------------------------------------------------------------------------------
def test_page_shows_the_watched_folder_last_sync_and_source_changed_after_an_edit(browser, watched, artifacts):
    docs, assistant = watched
    watching = Watching([docs], assistant.settings)
    app = create_app(assistant, warm_up=False, watching=watching)
    with live_server(app) as (host, port):
        wait_for(lambda: watching.status()["last_sync"], "the first sync")
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(60_000)
        page.goto(f"http://{host}:{port}/")
        page.fill("#question", QUESTION)
        page.press("#question", "Enter")
        page.locator(".msg.assistant .meta .verified").wait_for()
        assert page.locator(".source-changed").count() == 0

        page.click("#docs-tab")
        status = page.locator("#watch-status")
        status.locator("#watched-folders li", has_text=str(docs.absolute())).wait_for()
        last = page.locator("#last-sync", has_text=re.compile(r"^last sync \d\d:\d\d:\d\d \(1 file\)$"))
        last.wait_for()
        assert status.is_visible()
        # Polled while the panel is open: a file added now is listed without reloading the page.
        (docs / "ferry.txt").write_text("The ferry to Gull Island leaves at nine every morning.\n", encoding="utf-8")
        page.locator("#documents li", has_text="ferry.txt").wait_for()
        page.screenshot(path=str(artifacts / "watch-documents-panel.png"))

        (docs / "plant.txt").write_text(PLANT_EDITED, encoding="utf-8")
        wait_for(lambda: watching.status()["syncs"] >= 3, "the sync of the edit")
        page.reload()  # the conversation is read back from the server
        mark = page.locator(".msg.assistant .cite-changed").first
        mark.wait_for()
        assert "source changed" in mark.text_content()
        assert "changed since" in page.locator(".msg.assistant .meta .badge.changed").text_content()
        mark.locator("button.cite").click()
        assert "source changed since this answer" in page.locator("#citation-body .source-where").text_content()
        assert "March 2024" in page.locator("#citation-body mark").text_content()  # the quote as it was
        page.screenshot(path=str(artifacts / "watch-source-changed.png"))
        page.context.close()


def test_page_says_when_watching_stopped_and_when_it_runs_again(browser, tmp_path, artifacts):
    """Issue 19, item 1: the Documents tab shows a watcher stopped on an error (here the index's
    disk is full) with its reason, and the last sync again once it runs."""
    from support import fill, small_tmpfs

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plant.txt").write_text(PLANT, encoding="utf-8")
    with small_tmpfs(tmp_path / "disk") as disk:
        assistant = Assistant(index_dir=disk / "index", seed_dir=tmp_path / "no-seeds")
        watching = Watching([docs], assistant.settings, on_stop=lambda message: None)
        try:
            with live_server(create_app(assistant, warm_up=False, watching=watching)) as (host, port):
                wait_for(lambda: watching.status()["last_sync"], "the first sync")
                page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
                page.set_default_timeout(60_000)
                page.goto(f"http://{host}:{port}/")
                page.click("#docs-tab")
                page.locator("#last-sync", has_text="last sync").wait_for()
                filler = fill(disk)
                (docs / "ferry.txt").write_text("The ferry to Gull Island leaves at nine every morning.\n")
                stopped = page.locator("#last-sync", has_text=re.compile(r"^Watching stopped: .+ \(it will be started again\)$"))
                stopped.wait_for()
                # the sync's error, or on a try again the index's: both name the full disk
                assert re.search("No space left on device|disk is full", stopped.text_content()), stopped.text_content()
                page.screenshot(path=str(artifacts / "watch-stopped.png"))
                filler.unlink()
                page.locator("#last-sync", has_text=re.compile(r"^last sync \d\d:\d\d:\d\d")).wait_for()
                page.locator("#documents li", has_text="ferry.txt").wait_for()
                page.context.close()
        finally:
            assistant.close()


def test_an_upload_does_not_wait_behind_the_watched_folders_slow_files(tmp_path):
    """Issue 19, item 3: under `rag serve --watch` an upload waited 239 s behind two slow files of the
    watched folder (one parser process for both). The watcher now parses in a process of its own:
    while it spends its 8 s on each of two PDFs, an uploaded HTML file is parsed and indexed at once."""
    from test_hostile_input import inflating_pdf

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "plant.txt").write_text(PLANT, encoding="utf-8")
    assistant = Assistant(index_dir=tmp_path / "index", seed_dir=tmp_path / "no-seeds", parse_timeout_s=8,
                          max_page_chars=100_000_000, max_text_mb=10_000)
    watching = Watching([docs], assistant.settings)
    with TestClient(create_app(assistant, warm_up=False, watching=watching),
                    headers={"X-Requested-With": "rag"}) as client:
        wait_for(lambda: client.get("/api/watch").json()["last_sync"], "the first sync")
        inflating_pdf(docs / "slow1.pdf")
        inflating_pdf(docs / "slow2.pdf")
        time.sleep(2)  # the watcher is parsing slow1.pdf
        started = time.monotonic()
        html = b"<html><body><p>The ferry to Gull Island leaves at nine every morning.</p></body></html>"
        result = client.post("/api/documents", files=[("files", ("ferry.html", html, "text/html"))]).json()
        took = time.monotonic() - started
        assert result["results"][0]["status"] == "added", result
        assert took < 6, took  # not the ~14 s left of the two slow files' parses
        last = wait_for(lambda: (s := client.get("/api/watch").json())["last_sync"]["failed"] == 2 and s,
                        "the slow files' report", 60)
        assert last["running"]
