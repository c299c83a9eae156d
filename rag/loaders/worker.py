"""The sandboxed parser process: every format with a reader of its own is parsed in a separate
`python` process, killed at the time limit (RAG_PARSE_TIMEOUT_S), so a parser stuck in a hostile
file never holds the caller. It reads no files itself: it is sent the bytes."""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from ..errors import IngestError, NotText
from ..types import ParseLimits


def _parse(reader_name: str, path: Path, data: bytes, limits: ParseLimits) -> tuple:
    """Run one reader, every failure an IngestError with the reason."""
    from . import _BY_NAME

    reader = _BY_NAME[reader_name]
    try:
        return reader(path, data, limits)
    except IngestError:
        raise
    except RecursionError as e:
        raise IngestError("document is nested too deeply to parse") from e
    except MemoryError as e:
        raise IngestError("parsing it ran out of memory (a file that expands hugely?)") from e
    except Exception as e:  # parsers raise many types; the file is reported, never fatal
        kind = path.suffix[1:].upper() or "the file"
        raise IngestError(f"cannot parse {kind}: {e.__class__.__name__}: {e}"[:300]) from e


# A parser process may use this much address space beyond its text limit: pypdf and python-docx
# hold the file, their parsed objects and the text several times over. Judgement, not measured.
_WORKER_MEMORY = 2_000_000_000
_WORKER_MEMORY_PER_CHAR = 40


_READY = b"R"  # what the parser process writes once it is ready for files
_START_S = 60.0


class _ParserProcess:
    """One `python` process that parses files sent to it over a pipe, started on first use and
    killed when a parse passes its time limit (the next file starts a new one). A parser stuck in
    a hostile file (pypdf inflating a stream page after page, python-docx building a huge tree)
    cannot be interrupted from a thread; a process can. A fresh interpreter rather than a fork:
    this process runs the model's and Chroma's threads, and multiprocessing's spawn would import
    the caller's main module again. Parses are sent one at a time."""

    def __init__(self):
        self.proc = None
        self.lock = threading.Lock()

    def parse(self, request: tuple, timeout_s: float, budget: str = ""):
        import pickle
        import select
        import time

        # Waiting for a parse of another thread in this lane counts against the time limit too:
        # a file never takes longer than it may, waiting included.
        started = time.monotonic()
        if not self.lock.acquire(timeout=timeout_s):
            raise IngestError(f"the parser was busy with other files for {timeout_s:g} s: try again later "
                              "(or raise RAG_PARSE_TIMEOUT_S)")
        limit_s = timeout_s
        timeout_s = max(limit_s - (time.monotonic() - started), 0.001)
        try:
            if self.proc is None or self.proc.poll() is not None:
                self.proc = self._start()
            proc = self.proc
            try:
                try:
                    pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    proc.stdin.flush()
                except BrokenPipeError:  # it died while idle (killed from outside): once more, afresh
                    self._stop()
                    self.proc = proc = self._start()
                    pickle.dump(request, proc.stdin, protocol=pickle.HIGHEST_PROTOCOL)
                    proc.stdin.flush()
                # poll(), not select(): select() refuses a descriptor numbered 1024 or more, which
                # a long-running server with many open files reaches
                waiting = select.poll()
                waiting.register(proc.stdout, select.POLLIN)
                if not waiting.poll(timeout_s * 1000):
                    self._stop()
                    raise IngestError(f"parsing took longer than {limit_s:g} s and was stopped "
                                      + (f"({budget}: a hostile file?)" if budget
                                         else "(raise RAG_PARSE_TIMEOUT_S to allow more)"))
                ok, value, healthy = pickle.load(proc.stdout)
            except (EOFError, OSError, pickle.UnpicklingError):
                self._stop()
                raise IngestError("the parser process stopped without a result (out of memory?)") from None
            if not healthy:  # after MemoryError or the like, start afresh
                self._stop()
        finally:
            self.lock.release()
        return ok, value

    @staticmethod
    def _start():
        import select
        import subprocess
        import sys

        root = str(Path(__file__).resolve().parents[2])  # the rag this process runs
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
        # A process group of its own: the programs it runs (tesseract for OCR) are killed with it.
        proc = subprocess.Popen([sys.executable, "-c", "from rag.loaders import _serve; _serve()"],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, start_new_session=True)
        # Its start (an interpreter importing rag: ~1 s on a busy machine) is not the file's parse
        # time: a 1 s limit used to stop a small HTML file parsed right after a killed parse.
        started = select.poll()
        started.register(proc.stdout, select.POLLIN)
        if not started.poll(_START_S * 1000) or proc.stdout.read(len(_READY)) != _READY:
            proc.kill()
            proc.wait()
            raise IngestError(f"the parser process did not start within {_START_S:g} s")
        return proc

    def _stop(self) -> None:
        if self.proc is not None:
            import signal

            if self.proc.poll() is None:  # not reaped yet, so its group id is still its own
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    self.proc.kill()
            self.proc.wait()
            for pipe in (self.proc.stdin, self.proc.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.proc = None


_parser = _ParserProcess()
# One parser process per lane: `rag serve --watch` parses its folder's files in the "watch" lane and
# uploads in the main one, so neither waits behind the other's backlog (issue 19: an upload waited
# 239 s behind two slow files of a watched folder).
_parsers = {"main": _parser}
_parsers_lock = threading.Lock()
_lane = threading.local()


def _reset_parsers() -> None:
    global _parsers_lock
    _parser.__init__()
    _parsers.clear()
    _parsers["main"] = _parser
    _parsers_lock = threading.Lock()


# A forked child (a test harness, a pre-forking server) starts its own parsers: the parent's pipes are not its.
os.register_at_fork(after_in_child=_reset_parsers)


@contextlib.contextmanager
def parser_lane(name: str):
    """Files loaded by this thread inside the block are parsed by the parser process of lane
    `name`, not the main one (which uploads and `rag ingest` use)."""
    before = getattr(_lane, "name", "main")
    _lane.name = name
    try:
        yield
    finally:
        _lane.name = before


def _parse_in_worker(reader_name: str, path: Path, data: bytes, limits: ParseLimits,
                     budget: str = "") -> tuple:
    """`_parse` in the parser process, stopped after `limits.timeout_s` (see `_ParserProcess`);
    `budget`: what that time limit is, when it is a format's budget rather than RAG_PARSE_TIMEOUT_S."""
    name = getattr(_lane, "name", "main")
    with _parsers_lock:
        parser = _parser if name == "main" else _parsers.setdefault(name, _ParserProcess())
    ok, value = parser.parse((reader_name, path, data, limits), limits.timeout_s, budget)
    if not ok:
        reason, not_text = value
        raise (NotText if not_text else IngestError)(reason)
    return value


def _serve() -> None:
    """The parser process: read (reader, path, bytes, limits) requests from stdin, answer each
    with (ok, result or reason, healthy) on stdout, until stdin closes (its parent is gone)."""
    import pickle
    import resource
    import sys

    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    sys.stdout = sys.stderr  # a parser that prints must not break the replies
    parent = os.getppid()

    def orphaned() -> None:  # a parent killed mid-parse (SIGKILL) must not leave us parsing a bomb
        import time

        while os.getppid() == parent:
            time.sleep(1.0)
        if os.getpgrp() == os.getpid():  # and the tesseract it may be running
            import signal

            os.killpg(0, signal.SIGKILL)
        os._exit(0)

    threading.Thread(target=orphaned, daemon=True).start()
    stdout.write(_READY)  # started: the parent's time limits count from here, not from the fork
    stdout.flush()
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    while True:
        try:
            reader_name, path, data, limits = pickle.load(stdin)
        except EOFError:
            return
        if limits.max_chars is not None:  # a runaway parse fails with MemoryError, not the machine
            cap = _WORKER_MEMORY + _WORKER_MEMORY_PER_CHAR * limits.max_chars
            try:
                resource.setrlimit(resource.RLIMIT_AS, (cap if hard == resource.RLIM_INFINITY else min(cap, hard), hard))
            except (ValueError, OSError):
                pass
        healthy = True
        try:
            result = (True, _parse(reader_name, path, data, limits))
        except IngestError as e:
            result = (False, (str(e), isinstance(e, NotText)))
            healthy = not isinstance(e.__cause__, MemoryError)
        except BaseException as e:  # noqa: BLE001  (reported by the parent)
            result, healthy = (False, (f"cannot parse: {e.__class__.__name__}: {e}"[:300], False)), False
        del data
        pickle.dump((*result, healthy), stdout, protocol=pickle.HIGHEST_PROTOCOL)
        stdout.flush()
