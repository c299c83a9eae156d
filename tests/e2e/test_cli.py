"""The `rag` command in a subprocess, as a user runs it: ingest, sources, ask --json, remove, the
exit status rule (0 done, 3 partly, 4 nothing), and output that never passes on a document's
escape sequences to the terminal.

The index is built once for the module by `rag ingest`; each model-loading command costs a few
seconds, so the tests share it and only `remove` writes to it (on a file no other test needs)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SEED_FILE = next((ROOT / "seeds").glob("*.txt"))


def rag(*args: str, cwd: Path, check: bool = True, env_extra: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1",
           "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])), **(env_extra or {})}
    done = subprocess.run([sys.executable, "-m", "rag.cli", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)
    if check:
        assert done.returncode == 0, done.stderr
    return done


@pytest.fixture(scope="module")
def workspace(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("cli")
    (root / "docs").mkdir()
    (root / "docs" / "note.txt").write_text("The spare key is hidden under the blue flowerpot.")
    (root / "docs" / "empty.txt").write_text("")
    return root


@pytest.fixture(scope="module")
def ingested(workspace) -> subprocess.CompletedProcess:
    return rag("ingest", str(SEED_FILE), "docs", "--index", "index", cwd=workspace, check=False)


def test_help_lists_the_commands(tmp_path):
    out = rag("--help", cwd=tmp_path).stdout
    assert all(cmd in out for cmd in ("ingest", "remove", "sources", "ask", "chat", "eval"))


def test_ingest_reports_added_and_failed_files_with_reasons_and_exits_3(ingested):
    assert ingested.returncode == 3, ingested.stderr
    lines = ingested.stdout.splitlines()
    assert "added: 2" in [line.strip() for line in lines]
    assert "failed: 1" in [line.strip() for line in lines]
    assert any("empty.txt" in line and "empty file" in line for line in lines)


def test_reingest_json_reports_unchanged_and_embeds_nothing(workspace, ingested):
    report = json.loads(rag("ingest", str(SEED_FILE), "--index", "index", "--json", cwd=workspace).stdout)
    assert report["unchanged"] == [str(SEED_FILE)]
    assert report["added"] == [] and report["chunks_embedded"] == 0


def test_ingest_of_only_bad_input_exits_4(workspace, ingested):
    done = rag("ingest", "docs/empty.txt", "--index", "index", cwd=workspace, check=False)
    assert done.returncode == 4 and "empty file" in done.stdout


def test_sources_lists_indexed_documents_with_chunk_counts(workspace, ingested):
    listed = {s["source"]: s for s in json.loads(rag("sources", "--index", "index", "--json", cwd=workspace).stdout)}
    assert listed[str(SEED_FILE)]["chunks"] >= 3
    assert str(workspace / "docs" / "empty.txt") not in listed
    text = rag("sources", "--index", "index", cwd=workspace).stdout
    assert str(SEED_FILE) in text and "chunks" in text


def test_sources_prints_the_index_location_and_each_encoding(workspace, ingested):
    lines = rag("sources", "--index", "index", cwd=workspace).stdout.splitlines()
    assert lines[0].startswith(f"index: {workspace / 'index'} (")
    assert any(str(SEED_FILE) in line and " utf-8 " in line for line in lines)


def test_ask_json_answers_the_seed_question_with_citations(workspace, ingested):
    out = json.loads(rag("ask", "who is Ismail Shukri?", "--json", "--index", "index", cwd=workspace).stdout)
    assert out["abstained"] is False
    assert "head of intelligence" in out["answer"] and "Misrata" in out["answer"]
    assert out["citations"] and set(out["timings_ms"]) >= {"total"}
    for c in out["citations"]:
        assert set(c) >= {"n", "source", "start", "end", "quote", "score"}
        assert Path(c["source"]).read_text(encoding="utf-8")[c["start"]:c["end"]] == c["quote"]


def test_remove_drops_the_document_from_sources(workspace, ingested):
    note = workspace / "docs" / "note.txt"
    assert rag("remove", str(note), "--index", "index", cwd=workspace).stdout.strip() == f"removed {note}"
    listed = [s["source"] for s in json.loads(rag("sources", "--index", "index", "--json", cwd=workspace).stdout)]
    assert str(note) not in listed and str(SEED_FILE) in listed


def test_remove_of_an_unindexed_file_fails_with_a_message(workspace, ingested):
    done = rag("remove", "docs/never.txt", "--index", "index", cwd=workspace, check=False)
    assert done.returncode == 4 and "not in the index" in done.stderr


def test_ask_in_a_project_folder_builds_its_index_from_the_seeds_and_prints_citations(tmp_path):
    (tmp_path / "index").mkdir()  # a folder with ./index is a project: its index is that one
    out = rag("ask", "who is Ismail Shukri?", cwd=tmp_path).stdout
    assert "Misrata" in out and f"[1] {SEED_FILE.name} (" in out
    assert (tmp_path / "index" / "chroma").is_dir()


def test_ask_elsewhere_uses_the_user_data_dir_and_sources_names_it(tmp_path):
    data = tmp_path / "data"
    out = rag("ask", "who is Ismail Shukri?", cwd=tmp_path, env_extra={"XDG_DATA_HOME": str(data)}).stdout
    assert "Misrata" in out and (data / "rag" / "index" / "chroma").is_dir() and not (tmp_path / "index").exists()
    listed = rag("sources", cwd=tmp_path, env_extra={"XDG_DATA_HOME": str(data)}).stdout
    assert listed.startswith(f"index: {data / 'rag' / 'index'} (1 documents)")


def test_ingest_lists_a_pdf_page_without_text_layer_and_still_exits_0(tmp_path):
    from support import make_report_pdf

    make_report_pdf(tmp_path / "scan.pdf", [["Herons nest in the reeds."], [], ["Otters swim in the weir."]],
                    "Wetlands Survey")
    done = rag("ingest", "scan.pdf", "--index", "index", cwd=tmp_path)
    assert "page 2 has no text layer (scanned?)" in done.stdout and "added: 1" in done.stdout


# ---- a missing or empty index: said so, never created ----------------------------------------

@pytest.mark.parametrize("command", [["ask", "who is Ismail Shukri?"], ["chat"], ["sources"], ["remove", "x.txt"]])
def test_a_missing_index_is_named_with_what_to_run_and_not_created(tmp_path, command):
    done = rag(*command, "--index", "nowhere", cwd=tmp_path, check=False)
    assert done.returncode == 4, done.stderr
    assert f"no index at {tmp_path / 'nowhere'}" in done.stderr and "rag ingest PATH --index nowhere" in done.stderr
    assert not (tmp_path / "nowhere").exists()


def test_ask_on_an_empty_index_says_so_even_with_seeds_beside_it(tmp_path):
    (tmp_path / "seeds").mkdir()  # seeds fill the project's default index only, not this one
    (tmp_path / "seeds" / SEED_FILE.name).write_bytes(SEED_FILE.read_bytes())
    (tmp_path / "empty.txt").write_text("")
    assert rag("ingest", "empty.txt", "--index", "mine", cwd=tmp_path, check=False).returncode == 4
    done = rag("ask", "who is Ismail Shukri?", "--index", "mine", cwd=tmp_path, check=False)
    assert done.returncode == 4 and f"the index at {tmp_path / 'mine'} is empty" in done.stderr
    assert "rag ingest PATH --index mine" in done.stderr


# ---- symlinks --------------------------------------------------------------------------------

def test_ingest_skips_links_out_of_the_folder_unless_asked_to_follow_them(tmp_path):
    (tmp_path / "private").mkdir()
    (tmp_path / "private" / "diary.txt").write_text("The diary is private.")
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "own.txt").write_text("The heron came back to the mill.")
    os.symlink(tmp_path / "private" / "diary.txt", tmp_path / "notes" / "diary-link.txt")
    os.symlink(tmp_path / "private", tmp_path / "notes" / "private-link")

    done = rag("ingest", "notes", "--index", "index", cwd=tmp_path, check=False)
    assert done.returncode == 3
    assert done.stdout.count("symlink leads outside") == 2 and "--follow-symlinks" in done.stdout
    followed = rag("ingest", "notes", "--index", "index", "--follow-symlinks", "--json", cwd=tmp_path)
    assert json.loads(followed.stdout)["added"] == [str(tmp_path / "private" / "diary.txt")]


# ---- terminal-safe output --------------------------------------------------------------------

HOSTILE = "\x1b]0;pwned\x07\x1b[2J"


def test_escape_sequences_in_documents_and_names_are_printed_escaped(tmp_path):
    (tmp_path / "docs").mkdir()
    note = tmp_path / "docs" / f"key{HOSTILE}.txt"
    note.write_text(f"The lantern key is kept in the boathouse{HOSTILE} by the lake. Nobody else knows it.")
    (tmp_path / "docs" / f"empty{HOSTILE}.txt").write_text("")
    with open(os.fsencode(tmp_path / "docs") + b"/caf\xe9.txt", "wb") as fh:  # a name that is not UTF-8
        fh.write(b"Coffee.")

    runs = [rag("ingest", "docs", "--index", "index", cwd=tmp_path, check=False),
            rag("sources", "--index", "index", cwd=tmp_path),
            rag("ask", "where is the lantern key kept?", "--index", "index", cwd=tmp_path),
            rag("ask", "where is the lantern key kept?", "--index", "index", "--json", cwd=tmp_path)]

    assert runs[0].returncode == 3
    for done in runs:
        assert "\x1b" not in done.stdout + done.stderr and "\x07" not in done.stdout + done.stderr
    assert "empty\\x1b]0;pwned\\x07\\x1b[2J.txt" in runs[0].stdout
    assert "caf\\udce9.txt" in runs[0].stdout and "Traceback" not in runs[0].stderr
    assert f"key\\x1b]0;pwned\\x07\\x1b[2J.txt" in runs[1].stdout
    assert "boathouse\\x1b]0;pwned" in runs[2].stdout and "[1] key\\x1b]0;" in runs[2].stdout
    assert json.loads(runs[3].stdout)["citations"][0]["source"] == str(note)  # JSON keeps the exact name


# ---- rough edges (issue 18) --------------------------------------------------------------------

def test_a_folder_holding_photos_and_archives_is_ingested_with_them_skipped_and_exit_0(tmp_path):
    import gzip

    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "note.txt").write_text("The spare key is hidden under the blue flowerpot.")
    (docs / "photo.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)))
    (docs / "old-notes.txt.gz").write_bytes(gzip.compress(b"The spare key used to be under the mat.\n" * 50))
    done = rag("ingest", "docs", "--index", "index", cwd=tmp_path, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [line.strip() for line in done.stdout.splitlines()]
    assert "added: 1" in lines and "failed: 0" in lines
    assert any(line.startswith("skipped: 2") for line in lines), lines
    assert any("photo.png" in line and "binary" in line for line in lines)
    report = json.loads(rag("ingest", "docs", "--index", "index", "--json", cwd=tmp_path).stdout)
    assert sorted(Path(f["path"]).name for f in report["skipped"]) == ["old-notes.txt.gz", "photo.png"]
    assert report["failed"] == []


@pytest.mark.parametrize("k", ["0", "-3", "51"])
def test_ask_refuses_a_k_the_api_refuses(workspace, ingested, k):
    done = rag("ask", "who is Ismail Shukri?", "-k", k, "--index", "index", cwd=workspace, check=False)
    assert done.returncode == 2, done.stdout + done.stderr
    assert "k must be a whole number from 1 to 50 (RAG_MAX_K)" in done.stderr


def test_a_rename_is_reported_as_one_move():
    from rag.cli import _sync_line
    from rag.types import IngestReport

    line = _sync_line(IngestReport(moved=["/docs/new.txt"], moved_from=["/docs/old.txt"]))
    assert line.startswith("synced: 0 added, 0 updated, 1 moved, 0 removed, 0 failed;"), line


def test_eval_example_runs_the_qa_set_shipped_in_the_package(tmp_path):
    out = json.loads(rag("eval", "--example", "--json", "--index", "index", cwd=tmp_path).stdout)
    assert out["set"] == "seed_questions" and out["questions"] == 8
    assert out["answerable"] == 6 and out["unanswerable"] == 2
    assert out["accuracy"] >= 0.5 and out["abstention_accuracy"] is not None, out


def test_eval_needs_a_qa_set_or_example(tmp_path):
    done = rag("eval", cwd=tmp_path, check=False)
    assert done.returncode == 2 and "--example" in done.stderr


def test_a_question_not_answered_names_the_index_searched_and_its_documents(workspace, ingested):
    out = rag("ask", "What is the boiling point of mercury?", "--index", "index", cwd=workspace).stdout
    count = len(json.loads(rag("sources", "--index", "index", "--json", cwd=workspace).stdout))
    assert f"searched the index at {workspace / 'index'}: {count} document{'' if count == 1 else 's'}" in out, out


def test_when_this_folder_and_the_user_data_dir_both_hold_an_index_the_command_says_which_it_reads(tmp_path):
    data, project = tmp_path / "data", tmp_path / "project"
    project.mkdir()
    (tmp_path / "mine.txt").write_text("The boat shed key hangs behind the door.")
    elsewhere = {"XDG_DATA_HOME": str(data)}
    rag("ingest", str(tmp_path / "mine.txt"), cwd=tmp_path, env_extra=elsewhere)  # into the user data dir's index
    rag("ingest", str(SEED_FILE), "--index", "index", cwd=project, env_extra=elsewhere)
    done = rag("sources", cwd=project, env_extra=elsewhere)
    assert f"using the index in this folder, {project / 'index'} (1 document)" in done.stderr, done.stderr
    assert f"--index {data / 'rag' / 'index'}" in done.stderr
    assert "another" not in rag("sources", "--index", "index", cwd=project, env_extra=elsewhere).stderr
    assert "another" not in rag("sources", cwd=tmp_path, env_extra=elsewhere).stderr  # no ./index here: one meaning
