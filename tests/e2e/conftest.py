"""Fixtures for the end-to-end server tests: the real `rag serve` in a subprocess over a tmp index
seeded from seeds/, stopped at the end of the session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from server_support import API_KEY, ARGS, CHROMIUM, MAX_UPLOAD_MB, REPO, start_server, stop_server


def _seeded_server(tmp_path_factory, name: str):
    workdir = tmp_path_factory.mktemp(name)
    shutil.copytree(REPO / "seeds", workdir / "seeds")
    s = start_server(workdir, RAG_SEED_DIR=str(workdir / "seeds"), RAG_MAX_UPLOAD_MB=str(MAX_UPLOAD_MB))
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def server(tmp_path_factory):
    """An open server (no API key) over an index seeded from seeds/."""
    yield from _seeded_server(tmp_path_factory, "server")


@pytest.fixture(scope="module")
def scratch_server(tmp_path_factory):
    """Like `server`, but its own: for tests (fuzzing) that upload and delete at random."""
    yield from _seeded_server(tmp_path_factory, "scratch-server")


@pytest.fixture(scope="session")
def secured_server(tmp_path_factory):
    """A server with RAG_API_KEY set, over an empty index (no seeds)."""
    workdir = tmp_path_factory.mktemp("secured")
    s = start_server(workdir, RAG_SEED_DIR=str(workdir / "no-seeds"), RAG_API_KEY=API_KEY)
    yield s
    stop_server(s)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = REPO / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium driven by Playwright (`playwright install` cannot download here)."""
    sync_api = pytest.importorskip("playwright.sync_api")
    if not shutil.which(CHROMIUM):
        pytest.skip("chromium is not installed (apt-get install chromium)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield browser
        browser.close()
