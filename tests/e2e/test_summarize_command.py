"""`rag summarize` and `rag compare` in a subprocess, as a user runs them: the seed article and a
55-page PDF summarized with every sentence cited and every citation exact against the stored
text; a comparison cited on both sides; a document not in the index is exit 4."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rag import Assistant
from support import SEED_FILE, make_report_pdf
from test_cli import rag


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("summarize-cli")
    lines = ["The {kind} crew finished {n} repairs on the water mains of the old town this quarter.",
             "Complaints about brown tap water dropped to {n} after the {kind} pipes were flushed.",
             "A new pumping station on the {kind} bank was tested for {n} hours without a fault.",
             "Road closures for digging lasted {n} days on average in the {kind} district.",
             "The council approved a budget of {n} thousand euros for {kind} sewer upgrades."]
    bodies = [[line.format(kind=("north", "south", "river")[page % 3], n=page * 3 + i) for i, line in enumerate(lines)]
              for page in range(1, 56)]
    make_report_pdf(root / "repairs.pdf", bodies, "City Works Department - Repairs Log")
    (root / "a.txt").write_text("The ferry to Harn leaves at 9 every morning from the east pier.\n")
    (root / "b.txt").write_text("The ferry to Harn leaves at 11 every morning from the east pier.\n")
    rag("ingest", str(SEED_FILE), "repairs.pdf", "a.txt", "b.txt", "--index", "index", cwd=root)
    return root


def summary(workspace: Path, name: str) -> dict:
    done = rag("summarize", name, "--index", "index", "--json", cwd=workspace)
    return json.loads(done.stdout)


@pytest.mark.parametrize("name", [str(SEED_FILE), "repairs.pdf"])
def test_rag_summarize_cites_every_sentence_exactly(workspace, name):
    answer = summary(workspace, name)
    store = Assistant(index_dir=workspace / "index")
    assert not answer["abstained"] and 5 <= len(answer["sentences"]) <= 8
    assert all(s["citations"] and s["supported"] for s in answer["sentences"])
    for c in answer["citations"]:
        assert store.document(c["source"]).text[c["start"]:c["end"]] == c["quote"]
        assert "Repairs Log" not in c["quote"]  # the PDF's running header is never cited


def test_rag_summarize_prints_the_summary_then_its_sources(workspace):
    out = rag("summarize", "repairs", "--index", "index", cwd=workspace).stdout
    assert "[1]" in out.splitlines()[0] and "\n[1] repairs.pdf (" in out and ", page " in out


def test_rag_compare_cites_both_documents(workspace):
    done = rag("compare", "a.txt", "b.txt", "--index", "index", cwd=workspace)
    assert done.stdout.startswith("- a.txt: The ferry to Harn leaves at 9") and "— b.txt: " in done.stdout
    assert "\n[1] a.txt (" in done.stdout and "\n[2] b.txt (" in done.stdout and "differ on 1 point" in done.stdout


def test_a_document_not_in_the_index_exits_4_and_says_what_to_do(workspace):
    done = rag("summarize", "missing.txt", "--index", "index", cwd=workspace, check=False)
    assert done.returncode == 4 and "rag ingest missing.txt" in done.stderr
