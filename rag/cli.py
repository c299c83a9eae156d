"""The `rag` command: parse arguments, call Assistant, print. No pipeline logic lives here.

Heavy libraries (torch, chromadb) are imported by the commands that need them, so `rag --help`
answers at once.

Exit status, the same for every command (README, "Exit status"):
  0  everything asked was done
  2  the command line is wrong (an unknown option, a missing argument: click's usage errors)
  3  partly done: some files failed, each listed with its reason
  4  nothing done: every file failed, the index is missing or empty, a setting is invalid, or
     the index cannot be read or written

Text that comes from documents or file names is printed through `_safe`, so an escape sequence
hidden in a file cannot drive the terminal.
"""

from __future__ import annotations

import json
import os
import re
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Ask your documents. Every answer cites the passages it came from.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

IndexOpt = Annotated[Optional[Path], typer.Option(
    "--index", help="Index folder (default: RAG_INDEX_DIR, else ./index if it exists, else the user data dir's).")]
LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="none | local | ollama:MODEL | openai:MODEL (RAG_LLM).")]

DONE, USAGE_ERROR, PARTLY_DONE, NOTHING_DONE = 0, 2, 3, 4

# C0 and C1 control characters (ESC, BEL, CSI...), the bidirectional overrides that reorder what a
# terminal shows, and lone surrogates (the undecodable bytes of a file name, which stdout cannot
# encode): printed as \x1b, \u202e, \udce9. Newlines and tabs are kept in running text.
_SPECIAL = r"\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff"
_UNSAFE = re.compile(rf"[\x00-\x08\x0b-\x1f{_SPECIAL}]")
_UNSAFE_IN_LINE = re.compile(rf"[\x00-\x1f{_SPECIAL}]")


def _safe(text: str, *, one_line: bool = False) -> str:
    r"""`text` with control characters and escape sequences shown escaped (ESC as \x1b), never
    raw. `one_line` escapes newlines and tabs too (file names, quotes in a list)."""
    def escape(m: re.Match) -> str:
        code = ord(m.group())
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"

    return (_UNSAFE_IN_LINE if one_line else _UNSAFE).sub(escape, text)


def _name(path: str) -> str:
    """A file's name for the terminal."""
    return _safe(Path(path).name, one_line=True)


def _json(data) -> str:
    """JSON for the terminal: json escapes C0 controls itself (ESC as \\u001b); C1 controls, bidi
    overrides and lone surrogates are escaped the same way (they can only occur inside strings)."""
    text = json.dumps(data, ensure_ascii=False, indent=2)
    return re.sub(rf"[{_SPECIAL}]", lambda m: f"\\u{ord(m.group()):04x}", text)


def _assistant(index: Path | None, llm: str | None = None, **overrides):
    from .assistant import Assistant
    from .errors import RagError

    try:
        assistant = Assistant(index_dir=index, llm=llm, **overrides)
    except RagError as e:
        _fail(str(e))
    if index is None and not os.environ.get("RAG_INDEX_DIR"):
        _name_the_index_when_two_could_be_meant(assistant)
    return assistant


def _documents(assistant) -> str:
    count = len(assistant.sources()) if assistant.index_exists() else 0
    return f"{count} document{'' if count == 1 else 's'}"


def _name_the_index_when_two_could_be_meant(assistant) -> None:
    """A folder with ./index (a clone of rag has one) reads that index, while the same command
    elsewhere reads the user data dir's: when both exist, say which one this is and how to choose."""
    other = assistant.other_index()
    if other is not None:
        typer.echo(f"rag: using the index in this folder, {_safe(assistant.location, one_line=True)} "
                   f"({_documents(assistant)}); another is in your user data dir: pass --index "
                   f"{_safe(str(other), one_line=True)} (or set RAG_INDEX_DIR) to use that one", err=True)


def _fail(message: str, code: int = NOTHING_DONE) -> None:
    typer.echo(f"rag: {_safe(message)}", err=True)
    raise typer.Exit(code)


def _progress_bar(label: str):
    """Ingestion progress: files, chunks, chunks/s and time left. A rich progress bar on a terminal;
    otherwise a quiet log line at every tenth of the files (and at most every 30 s)."""
    import time

    started = time.monotonic()

    def figures(done: int, total: int, chunks: int) -> tuple[float, float | None]:
        elapsed = max(time.monotonic() - started, 1e-6)
        left = elapsed / done * (total - done) if done and total > done else (0.0 if done >= total else None)
        return chunks / elapsed, left

    if not sys.stderr.isatty():
        last = {"step": -1, "at": 0.0}

        def log(path: str, done: int, total: int, chunks: int = 0) -> None:
            step = (10 * done) // max(total, 1)
            now = time.monotonic()
            if step != last["step"] or now - last["at"] >= 30:
                last.update(step=step, at=now)
                rate, left = figures(done, total, chunks)
                eta = f", ~{_duration(left)} left" if left else ""
                typer.echo(f"{label}: {done}/{total} files, {chunks} chunks, {rate:.0f} chunks/s{eta}", err=True)

        return _nullcontext(log)

    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TextColumn("files"),
                        TextColumn("{task.fields[chunks]} chunks, {task.fields[rate]:.0f}/s"),
                        TimeRemainingColumn(), TextColumn("{task.fields[file]}"),
                        transient=True, console=_stderr_console())
    task = progress.add_task(label, total=None, file="", chunks=0, rate=0.0)

    def update(path: str, done: int, total: int, chunks: int = 0) -> None:
        rate, _ = figures(done, total, chunks)
        from rich.markup import escape

        progress.update(task, completed=done, total=total, file=escape(_name(path)) if path else "", chunks=chunks,
                        rate=rate)

    class _Ctx:
        def __enter__(self):
            progress.start()
            return update

        def __exit__(self, *exc):
            progress.stop()

    return _Ctx()


def _duration(seconds: float) -> str:
    seconds = int(seconds)
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else (
        f"{seconds // 60}m{seconds % 60:02d}s" if seconds >= 60 else f"{seconds}s")


class _nullcontext:
    def __init__(self, value):
        self.value = value

    def __enter__(self):
        return self.value

    def __exit__(self, *exc):
        return None


def _stderr_console():
    from rich.console import Console

    return Console(stderr=True)


def _ensure_seeded(assistant) -> None:
    with _progress_bar("Building the index from the seed documents") as progress:
        assistant.ensure_seeded(progress=progress)


def _index_hint(assistant) -> str:
    """What to add to a suggested `rag ingest` so that it writes to this index."""
    index_dir = assistant.settings.index_dir
    return "" if assistant.settings.chroma_url or assistant.uses_default_index() else f" --index {index_dir}"


def _require_index(assistant) -> None:
    """Stop (exit 4) when there is no index at all, without creating its folder."""
    if not assistant.index_exists():
        _fail(f"there is no index at {assistant.location}: run `rag ingest PATH{_index_hint(assistant)}` "
              "to build it")


def _open_for_questions(assistant) -> None:
    """`ask` and `chat`: the project's default index is built from the seeds on first use; any
    other index must exist and hold documents (exit 4 otherwise), and is never created by a read."""
    if assistant.seeds_on_first_use():
        _ensure_seeded(assistant)
    _require_index(assistant)
    if assistant.store.is_empty():
        _fail(f"the index at {assistant.location} is empty: run `rag ingest PATH{_index_hint(assistant)}` "
              "to add documents")


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive).")],
           index: IndexOpt = None,
           prune: Annotated[bool, typer.Option(help="Drop indexed files that no longer exist.")] = False,
           follow_symlinks: Annotated[bool, typer.Option(
               "--follow-symlinks", help="Also index what symlinks inside a folder lead to outside it.")] = False,
           as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Index PDF (OCR for scans), DOCX, PPTX, ODT, EPUB, EML, HTML and every text file (any
    encoding); binaries are skipped and listed, unchanged files cost nothing. Exit 3 when some files failed, 4 when all did."""
    from .errors import RagError

    assistant = _assistant(index)
    try:
        with _progress_bar("Indexing") as progress:
            report = assistant.ingest(paths, prune=prune, progress=progress, follow_symlinks=follow_symlinks)
    except RagError as e:
        _fail(str(e))
    if as_json:
        typer.echo(_json(report.to_dict()))
    else:
        for name in ("added", "updated", "unchanged", "moved", "removed"):
            if name != "moved" or report.moved:
                typer.echo(f"{name:>9}: {len(getattr(report, name))}")
        typer.echo(f"{'failed':>9}: {len(report.failed)}")
        for f in report.failed:
            typer.echo(f"  '{_safe(f.path, one_line=True)}': {_safe(f.reason, one_line=True)}")
        if report.skipped:
            typer.echo(f"{'skipped':>9}: {len(report.skipped)} (not text: photos, archives, programs)")
            for f in report.skipped[:_LISTED_SKIPPED]:
                typer.echo(f"  '{_safe(f.path, one_line=True)}': {_safe(f.reason, one_line=True)}")
            if len(report.skipped) > _LISTED_SKIPPED:
                typer.echo(f"  ... and {len(report.skipped) - _LISTED_SKIPPED} more (--json lists them all)")
        typer.echo(f"chunks embedded: {report.chunks_embedded}")
        if report.notices:
            typer.echo(f"{'notices':>9}: {len(report.notices)} (the rest of each file is indexed)")
        for f in report.notices:
            typer.echo(f"  '{_safe(f.path, one_line=True)}': {_safe(f.reason, one_line=True)}")
    if report.failed:
        done_something = report.added or report.updated or report.unchanged or report.removed
        raise typer.Exit(PARTLY_DONE if done_something else NOTHING_DONE)


# A folder of photos would bury the report's other lines: the first few skipped files are named.
_LISTED_SKIPPED = 10


def _sync_line(report) -> str:
    parts = [f"{len(getattr(report, name))} {name}" for name in ("added", "updated", "moved", "removed", "failed")]
    parts += [f"{len(report.skipped)} skipped"] if report.skipped else []
    return f"synced: {', '.join(parts)}; {report.chunks_embedded} chunks embedded"


def _stop_on_signals():
    """An Event set by SIGINT or SIGTERM, so a watcher finishes its sync and returns."""
    import signal
    import threading

    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    return stop


@app.command()
def watch(paths: Annotated[list[Path], typer.Argument(help="Folders or files to keep the index in step with.")],
          index: IndexOpt = None,
          follow_symlinks: Annotated[bool, typer.Option(
              "--follow-symlinks", help="Also index what symlinks inside a folder lead to outside it.")] = False,
          as_json: Annotated[bool, typer.Option("--json", help="Print each sync's report as a JSON line.")] = False,
          ) -> None:
    """Ingest PATHs, then keep the index in step with them until Ctrl-C: added, changed, deleted,
    renamed and moved files reach the index within about 2 s of settling (renames embed nothing)."""
    from .errors import RagError

    assistant = _assistant(index)
    missing = [str(p) for p in paths if not os.path.exists(p)]  # never raises (an unreadable parent)
    if missing:
        _fail(f"no such file or folder: {', '.join(missing)}")
    stop = _stop_on_signals()

    def show(report) -> None:
        if as_json:
            typer.echo(json.dumps(report.to_dict(), ensure_ascii=False))
        else:
            typer.echo(_sync_line(report))
            for old, new in zip(report.moved_from, report.moved):
                typer.echo(f"  moved '{_safe(old, one_line=True)}' -> '{_safe(new, one_line=True)}'")
            for f in report.failed + report.skipped + report.notices:
                typer.echo(f"  '{_safe(f.path, one_line=True)}': {_safe(f.reason, one_line=True)}")

    if not as_json:
        typer.echo(f"watching {', '.join(_safe(str(p), one_line=True) for p in paths)} "
                   f"into {_safe(assistant.location, one_line=True)}; Ctrl-C stops", err=True)
    try:
        assistant.watch(paths, stop, follow_symlinks=follow_symlinks, on_sync=show)
    except RagError as e:
        _fail(f"watching stopped: {e}")
    except Exception as e:  # noqa: BLE001 - not a file's problem (those are reported): say why, exit non-zero
        _fail(f"watching stopped: {e.__class__.__name__}: {e}")


@app.command()
def remove(path: Annotated[Path, typer.Argument(help="The file to remove from the index.")],
           index: IndexOpt = None) -> None:
    """Remove one document from the index."""
    assistant = _assistant(index)
    _require_index(assistant)
    if not assistant.remove(path):
        _fail(f"{path} is not in the index at {assistant.location} (see `rag sources`)")
    typer.echo(f"removed {_safe(str(path), one_line=True)}")


@app.command()
def sources(index: IndexOpt = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the indexed documents: chunks, when indexed, text encoding, path; the index location first.
    A "!" marks a document holding text phrased as instructions to an assistant, with the phrase;
    "OCR:" names the PDF pages whose text was read from images."""
    assistant = _assistant(index)
    _require_index(assistant)
    items = assistant.sources()
    if as_json:
        typer.echo(_json([s.__dict__ for s in items]))
        return
    typer.echo(f"index: {_safe(assistant.location, one_line=True)} ({len(items)} documents)")
    if not items:
        typer.echo(f"The index is empty: run `rag ingest PATH{_index_hint(assistant)}`.")
    for s in items:
        mark = "!" if s.suspicious else " "
        typer.echo(f"{mark}{s.chunks:>6} chunks  {s.indexed_at}  {s.encoding or '-':<10}  {_safe(s.source, one_line=True)}")
        if s.suspicious:
            typer.echo(f"        ! suspicious: {_safe(s.suspicious_reason, one_line=True)}")
        if s.ocr_pages:
            typer.echo(f"          OCR: text of page{'s' if len(s.ocr_pages) > 1 else ''} "
                       f"{', '.join(map(str, s.ocr_pages))} read from images; it may hold misread words")
    if any(s.suspicious for s in items):
        typer.echo("(! marks documents holding text phrased as instructions to an assistant: "
                   "they may be there to steer answers; check them)")


def _print_answer(answer, text: bool = True, names: dict[str, str] | None = None) -> None:
    """The answer, its notice and its citations, each source by its shortest unique path (`names`)."""
    names = names or {}

    def shown(source: str) -> str:
        return _safe(names[source], one_line=True) if source in names else _name(source)

    if text:
        typer.echo(_safe(answer.text))
    if answer.notice:
        typer.echo(f"\n({_safe(answer.notice)})")
    if answer.citations:
        typer.echo("")
        for c in answer.citations:
            where = f"{c.start}-{c.end}" + (f", page {c.page}" if c.page else "")
            where += f", line {c.line}" if c.line else ""
            where += f", section {_safe(c.section, one_line=True)!r}" if c.section else ""
            typer.echo(f"[{c.n}] {shown(c.source)} ({where}): \"{_safe(c.quote)}\"")
    if answer.abstained and answer.see_also:
        typer.echo("\nSee also (nearest passages, not answers):")
        for p in answer.see_also:
            snippet = _safe(" ".join(p.text.split())[:160], one_line=True)
            typer.echo(f"  - {shown(p.source)} ({p.start}-{p.end}): {snippet}...")


def _stream_answer(assistant, question: str, history: list[tuple[str, str]], **kwargs):
    """Print the answer as it is verified (every piece has passed verification: nothing shown is
    taken back), then its citations. Returns the final Answer."""
    if assistant.settings.uses_llm:
        typer.secho("checking the evidence...", dim=True, err=True)
    reply = assistant.stream(question, history, **kwargs)
    for piece in reply:
        typer.echo(_safe(piece), nl=False)
    answer = reply.answer()
    typer.echo("")
    _print_answer(answer, text=False, names=assistant.display_names())
    if answer.abstained:  # which index was searched, so "not found" is never a riddle
        typer.echo(f"\n(searched the index at {_safe(assistant.location, one_line=True)}: {_documents(assistant)}; "
                   "`rag sources` lists them, --index chooses another)")
    return answer


@app.command()
def ask(question: Annotated[str, typer.Argument(help="The question.")],
        index: IndexOpt = None, llm: LlmOpt = None,
        k: Annotated[Optional[int], typer.Option("-k", help="Passages to retrieve (1 to RAG_MAX_K; default RAG_TOP_K).")] = None,
        source: Annotated[Optional[str], typer.Option(help="Only search this document.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False) -> None:
    """Answer a question from the indexed documents, with citations."""
    assistant = _assistant(index, llm)
    _check_k(k, assistant.settings.max_k)
    _open_for_questions(assistant)
    if as_json:
        answer = assistant.ask(question, [], k=k, source=source)
        typer.echo(_json(answer.to_dict()))
    else:
        _stream_answer(assistant, question, [], k=k, source=source)


def _check_k(k: int | None, max_k: int) -> None:
    """`-k` within the bounds the HTTP API holds it to (1 to RAG_MAX_K): a usage error (exit 2) otherwise."""
    if k is not None and not 1 <= k <= max_k:
        raise typer.BadParameter(f"k must be a whole number from 1 to {max_k} (RAG_MAX_K), not {k}", param_hint="'-k'")


def _whole_document(assistant, as_json: bool, task, *names) -> None:
    """Run `summarize` or `compare` on indexed documents and print the cited answer (exit 4 when a
    document is not in the index)."""
    from .errors import RagError

    _open_for_questions(assistant)
    try:
        answer = task(*names)
    except RagError as e:
        _fail(str(e))
    if as_json:
        typer.echo(_json(answer.to_dict()))
    else:
        _print_answer(answer, names=assistant.display_names())


@app.command()
def summarize(file: Annotated[str, typer.Argument(help="An indexed document: its path, the last parts of its path (zlib/README), file name or title.")],
              index: IndexOpt = None, llm: LlmOpt = None,
              as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False) -> None:
    """Summarize a whole document; every sentence is cited (quoted, or written by the LLM and checked)."""
    assistant = _assistant(index, llm)
    _whole_document(assistant, as_json, assistant.summarize, file)


@app.command()
def compare(a: Annotated[str, typer.Argument(help="An indexed document.")],
            b: Annotated[str, typer.Argument(help="Another indexed document.")],
            index: IndexOpt = None,
            as_json: Annotated[bool, typer.Option("--json", help="Print the comparison as JSON.")] = False) -> None:
    """What two documents say differently about the same points, cited on both sides."""
    assistant = _assistant(index)
    _whole_document(assistant, as_json, assistant.compare, a, b)


@app.command()
def chat(index: IndexOpt = None, llm: LlmOpt = None) -> None:
    """A conversation in the terminal; follow-up questions use the earlier turns. Ctrl-D quits."""
    assistant = _assistant(index, llm)
    _open_for_questions(assistant)
    history: list[tuple[str, str]] = []
    while True:
        try:
            question = input("you> ").strip()
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        if not question:
            continue
        answer = _stream_answer(assistant, question, history)
        typer.echo("")
        history.append((question, answer.text))


@app.command(name="eval")
def evaluate(file: Annotated[Optional[Path], typer.Argument(
                 help="A QA set: a .jsonl file, one question a line ({\"q\", \"all\": [[answer, ...]], \"support\"} "
                      "or {\"q\", \"abstain\": true}; README, 'Evaluation'), or a SQuAD 2.0, HotpotQA or "
                      "news2023 folder.")] = None,
             example: Annotated[bool, typer.Option(
                 "--example", help="Run the small QA set shipped with rag, over the seed article.")] = False,
             index: IndexOpt = None, llm: LlmOpt = None,
             limit: Annotated[Optional[int], typer.Option(help="Only the first N questions.")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run a QA set and print accuracy, citation correctness, abstention and retrieval figures."""
    from .config import package_data
    from .evaluation import load_qa_set, run_eval

    if (file is None) == (not example):
        raise typer.BadParameter("give a QA set FILE, or --example for the one shipped with rag (not both)",
                                 param_hint="'FILE'")
    file = file or package_data("examples") / "seed_questions.jsonl"
    try:
        qa = load_qa_set(file)
    except (OSError, ValueError) as e:
        _fail(f"cannot read QA set {file}: {e}")
    assistant = _assistant(index, llm)
    with _progress_bar(f"Indexing {qa.name} corpus") as progress:
        assistant.ingest(qa.corpus_paths(Path(assistant.settings.index_dir)), progress=progress)
    result = run_eval(assistant, qa, limit=limit)
    typer.echo(json.dumps(result.to_dict(), indent=2) if as_json else result.summary())


@app.command()
def serve(index: IndexOpt = None, llm: LlmOpt = None,
          host: Annotated[str, typer.Option(help="Address to bind.")] = "127.0.0.1",
          port: Annotated[int, typer.Option(help="Port (0: any free port; the one bound is printed).",
                                            min=0, max=65535)] = 8000,
          insecure: Annotated[bool, typer.Option(help="Allow a non-loopback address without RAG_API_KEY.")] = False,
          watch: Annotated[Optional[list[Path]], typer.Option(
              "--watch", help="Keep the index in step with this folder while serving (repeatable).")] = None,
          log_questions: Annotated[bool, typer.Option(
              help="Also log each question's text (the access log never holds it otherwise).")] = False,
          ) -> None:
    """Serve the chat page and the HTTP API."""
    from .errors import RagError

    try:
        from .server import run
    except ImportError as e:
        _fail(f"the web server is not available: {e}")
    try:
        run(index=index, llm=llm, host=host, port=port, insecure=insecure, log_questions=log_questions,
            watch=watch, on_sync=lambda report: typer.echo(_sync_line(report), err=True),
            on_stop=lambda error: typer.echo(f"rag: watching stopped: {_safe(error)}", err=True))
    except RagError as e:
        _fail(str(e))


def _show_library_logs() -> None:
    """Library code logs (`logging`); the command shows rag's own warnings on stderr, as
    "rag: another ingest is writing to index; waiting...", and nothing from other libraries."""
    import logging

    logger = logging.getLogger("rag")
    if not any(getattr(h, "rag_cli", False) for h in logger.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("rag: %(message)s"))
        handler.rag_cli = True
        logger.addHandler(handler)
        logger.setLevel(logging.WARNING)


def main() -> None:
    from .errors import RagError

    _show_library_logs()
    try:
        app()
    except RagError as e:  # e.g. the index cannot be opened: the message says what to do
        typer.echo(f"rag: {_safe(str(e))}", err=True)
        sys.exit(NOTHING_DONE)


if __name__ == "__main__":
    main()
