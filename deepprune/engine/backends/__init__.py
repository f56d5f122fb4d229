"""Generation backends behind one interface (:class:`Backend`); selection by name is a plain dict."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

from deepprune.engine.backends.base import Backend, Delta, Finish, Request
from deepprune.errors import ConfigError, MissingInputError


def _openai(**kw):
    import os

    from deepprune.engine.backends.openai_compat import OpenAIBackend

    key = (
        kw.get("api_key") or os.environ.get("OPENAI_API_KEY") or "EMPTY"
    )  # vLLM's --api-key, or none
    return OpenAIBackend(kw["base_url"], kw["model"], api_key=key, extra_body=kw.get("extra_body"),
                         abort_url=kw.get("abort_url"), metrics_url=tuple(kw.get("metrics_url") or ()),
                         timeout=kw.get("timeout", 600.0), retries=kw.get("retries", 2),
                         api=kw.get("api", "completions"))  # fmt: skip


def _vllm(**kw):
    from deepprune.engine.backends.vllm_engine import VLLMBackend

    return VLLMBackend(kw["model"])


def _replay(**kw):
    from deepprune.engine.backends.replay import ReplayBackend

    return ReplayBackend(kw["pool"], rate=kw.get("rate", 0.0))


BACKENDS = {"openai": _openai, "vllm": _vllm, "replay": _replay}


def get_backend(name: str, **kw) -> Backend:
    """Build a backend by name (``openai``, ``vllm``, ``replay``)."""
    if name not in BACKENDS:
        raise ConfigError(f"unknown backend {name!r}; known: {', '.join(BACKENDS)}")
    need = {"openai": ("base_url", "model"), "vllm": ("model",), "replay": ("pool",)}[name]
    missing = [k for k in need if not kw.get(k)]
    if missing:
        raise ConfigError(
            f"backend {name!r} needs {', '.join('--' + k.replace('_', '-') for k in missing)}"
        )
    return BACKENDS[name](**kw)


@dataclass
class Server:
    """Which backend generates, and where it is: what ``generate`` and ``solve`` share."""

    # problems JSONL (id, question, gold, answer_type); with --backend replay: the pool's own
    problems: str | None = None
    limit: int = 0  # use only the first N problems (0: all)
    # openai (any OpenAI-compatible server), vllm (in-process), replay (a saved pool)
    backend: str = "openai"
    base_url: str | None = None  # OpenAI-compatible endpoint, e.g. http://127.0.0.1:8000/v1
    model: str | None = None  # served model name (openai) or local model path (vllm)
    pool: str | None = None  # the pool to stream (--backend replay)
    rate: float = 0.0  # replay speed, tokens/s per trace (0: as fast as possible)
    # SGLang: POST here to abort a stopped request (http://HOST:PORT/abort_request)
    abort_url: str | None = None
    # the servers' Prometheus /metrics URLs, e.g. every replica behind a router (default: the
    # /metrics beside --base-url); solve reports their generated-token counters beside its ledger
    metrics_url: tuple[str, ...] = ()
    # the server's API key (vllm serve --api-key); default $OPENAI_API_KEY, else none
    api_key: str | None = None
    # completions: a raw prompt (put the chat template in --prompt); chat: /v1/chat/completions with
    # the server's chat template, a continuation sent as a partial assistant message
    # (continue_final_message: vLLM, SGLang)
    api: str = "completions"
    # seconds a request may wait for the server's next bytes (a stalled stream fails then); our choice
    timeout: float = 600.0
    # retries of a refused connection, a timeout or an HTTP 5xx/429 (openai's back-off); our choice
    retries: int = 2
    progress: bool = True  # show a progress bar
    json: bool = False  # print the summary as JSON

    def __post_init__(self):
        if self.backend not in BACKENDS:
            raise ConfigError(f"unknown backend {self.backend!r}; known: {', '.join(BACKENDS)}")
        if self.api not in ("completions", "chat"):
            raise ConfigError(f"--api must be completions or chat, got {self.api!r}")
        if self.limit < 0:
            raise ConfigError(f"--limit must be >= 0, got {self.limit}")
        if not self.timeout > 0 or self.retries < 0:
            raise ConfigError(
                f"--timeout must be > 0 and --retries >= 0, got {self.timeout}, {self.retries}"
            )

    def args(self) -> dict:
        """The keyword arguments of :func:`get_backend` (and ``backend``); problems required but on replay."""
        if self.problems is None and self.backend != "replay":
            raise ConfigError("--problems is required (except with --backend replay)")
        keys = ("backend", "base_url", "model", "pool", "rate", "abort_url", "limit") + (
            ("metrics_url", "api_key", "timeout", "retries", "api")
            if self.backend == "openai"
            else ()
        )
        return {k: v for k, v in asdict(self).items() if k in keys}


def read_prompt(prompt: str) -> str:
    """A prompt template, or the text of FILE for ``@FILE``."""
    if not prompt.startswith("@"):
        return prompt
    path = Path(prompt[1:])
    if not path.is_file():
        raise MissingInputError(f"{path}: no such prompt file")
    return path.read_text(encoding="utf-8")


__all__ = [
    "Server",
    "read_prompt",
    "BACKENDS",
    "Backend",
    "Delta",
    "Finish",
    "Request",
    "get_backend",
]
