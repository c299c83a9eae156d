"""The `rag` command: parse arguments, call Assistant, print. No pipeline logic lives here.

Heavy libraries (torch, chromadb) are imported by the commands that need them, so `rag --help`
answers at once.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(help="Ask your documents. Every answer cites the passages it came from.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)

IndexOpt = Annotated[Optional[Path], typer.Option("--index", help="Index folder (default: RAG_INDEX_DIR or ./index).")]
LlmOpt = Annotated[Optional[str], typer.Option("--llm", help="none | local | ollama:MODEL | openai:MODEL (RAG_LLM).")]


def _assistant(index: Path | None, llm: str | None = None, **overrides):
    from .assistant import Assistant
    from .errors import RagError

    try:
        return Assistant(index_dir=index, llm=llm, **overrides)
    except RagError as e:
        _fail(str(e))


def _fail(message: str) -> None:
    typer.echo(f"rag: {message}", err=True)
    raise typer.Exit(2)


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
        progress.update(task, completed=done, total=total, file=Path(path).name if path else "", chunks=chunks,
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
    with _progress_bar("Building the index from seeds/") as progress:
        assistant.ensure_seeded(progress=progress)


@app.command()
def ingest(paths: Annotated[list[Path], typer.Argument(help="Files or folders (recursive).")],
           index: IndexOpt = None,
           prune: Annotated[bool, typer.Option(help="Drop indexed files that no longer exist.")] = False,
           as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False) -> None:
    """Index .txt, .md, .html, .pdf and .docx files; unchanged files are skipped."""
    from .errors import RagError

    assistant = _assistant(index)
    try:
        with _progress_bar("Indexing") as progress:
            report = assistant.ingest(paths, prune=prune, progress=progress)
    except RagError as e:
        _fail(str(e))
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        for name in ("added", "updated", "unchanged", "removed"):
            typer.echo(f"{name:>9}: {len(getattr(report, name))}")
        typer.echo(f"{'failed':>9}: {len(report.failed)}")
        for f in report.failed:
            typer.echo(f"  {f.path!r}: {f.reason}")
        typer.echo(f"chunks embedded: {report.chunks_embedded}")
    if report.failed and not (report.added or report.updated or report.unchanged):
        raise typer.Exit(1)


@app.command()
def remove(path: Annotated[Path, typer.Argument(help="The file to remove from the index.")],
           index: IndexOpt = None) -> None:
    """Remove one document from the index."""
    if not _assistant(index).remove(path):
        _fail(f"{path} is not in the index (see `rag sources`)")
    typer.echo(f"removed {path}")


@app.command()
def sources(index: IndexOpt = None,
            as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """List the indexed documents."""
    items = _assistant(index).sources()
    if as_json:
        typer.echo(json.dumps([s.__dict__ for s in items], indent=2))
        return
    if not items:
        typer.echo("The index is empty: run `rag ingest PATH`.")
    for s in items:
        typer.echo(f"{s.chunks:>6} chunks  {s.indexed_at}  {s.source}")


def _print_answer(answer, text: bool = True) -> None:
    if text:
        typer.echo(answer.text)
    if answer.notice:
        typer.echo(f"\n({answer.notice})")
    if answer.citations:
        typer.echo("")
        for c in answer.citations:
            where = f"{c.start}-{c.end}" + (f", page {c.page}" if c.page else "")
            typer.echo(f"[{c.n}] {Path(c.source).name} ({where}): \"{c.quote}\"")
    if answer.abstained and answer.see_also:
        typer.echo("\nSee also (nearest passages, not answers):")
        for p in answer.see_also:
            snippet = " ".join(p.text.split())[:160]
            typer.echo(f"  - {Path(p.source).name} ({p.start}-{p.end}): {snippet}...")


def _stream_answer(assistant, question: str, history: list[tuple[str, str]], **kwargs):
    """Print the answer as it is verified (every piece has passed verification: nothing shown is
    taken back), then its citations. Returns the final Answer."""
    if assistant.settings.uses_llm:
        typer.secho("checking the evidence...", dim=True, err=True)
    reply = assistant.stream(question, history, **kwargs)
    for piece in reply:
        typer.echo(piece, nl=False)
    answer = reply.answer()
    typer.echo("")
    _print_answer(answer, text=False)
    return answer


@app.command()
def ask(question: Annotated[str, typer.Argument(help="The question.")],
        index: IndexOpt = None, llm: LlmOpt = None,
        k: Annotated[Optional[int], typer.Option("-k", help="Passages to retrieve.")] = None,
        source: Annotated[Optional[str], typer.Option(help="Only search this document.")] = None,
        as_json: Annotated[bool, typer.Option("--json", help="Print the answer as JSON.")] = False) -> None:
    """Answer a question from the indexed documents, with citations."""
    assistant = _assistant(index, llm)
    _ensure_seeded(assistant)
    if as_json:
        answer = assistant.ask(question, [], k=k, source=source)
        typer.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=2))
    else:
        _stream_answer(assistant, question, [], k=k, source=source)


@app.command()
def chat(index: IndexOpt = None, llm: LlmOpt = None) -> None:
    """A conversation in the terminal; follow-up questions use the earlier turns. Ctrl-D quits."""
    assistant = _assistant(index, llm)
    _ensure_seeded(assistant)
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
def evaluate(file: Annotated[Path, typer.Argument(help="seed_dev.jsonl, squad2/, hotpotqa/ or news2023/ (see eval/README.md).")],
             index: IndexOpt = None, llm: LlmOpt = None,
             limit: Annotated[Optional[int], typer.Option(help="Only the first N questions.")] = None,
             as_json: Annotated[bool, typer.Option("--json")] = False) -> None:
    """Run a QA set and print accuracy, citation correctness, abstention and retrieval figures."""
    from .evaluation import load_qa_set, run_eval

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
          port: Annotated[int, typer.Option(help="Port.")] = 8000,
          insecure: Annotated[bool, typer.Option(help="Allow a non-loopback address without RAG_API_KEY.")] = False,
          ) -> None:
    """Serve the chat page and the HTTP API."""
    from .errors import RagError

    try:
        from .server import run
    except ImportError as e:
        _fail(f"the web server is not available: {e}")
    try:
        run(index=index, llm=llm, host=host, port=port, insecure=insecure)
    except RagError as e:
        _fail(str(e))


def main() -> None:
    from .errors import RagError

    try:
        app()
    except RagError as e:  # e.g. the index cannot be opened: the message says what to do
        typer.echo(f"rag: {e}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
