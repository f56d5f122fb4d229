"""``deepprune proxy`` (:class:`ProxyJob`) and a proxy serving in a thread (:class:`ProxyHandle`, for
notebooks and tests): the settings, checked; uvicorn, told when its shutdown begins."""

import dataclasses
import os
import threading
import time
from dataclasses import dataclass, field

from deepprune.engine.solve_config import SolveConfig
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.greedy import ClusterConfig
from deepprune.proxy.app import Proxy
from deepprune.proxy.core import PROXY_METHODS, RETURNS


@dataclass
class ProxyConfig(SolveConfig):
    """The methods' settings (:class:`SolveConfig`); ``n``, the stop strings and the prompt come from each
    request, and ``methods`` from ``--method`` (checked together in :class:`ProxyJob`)."""

    methods: tuple[str, ...] = ("cons@N",)
    # a trace's token limit when a request sets no max_tokens (our choice: a reasoning model's budget)
    max_tokens: int = 32768
    # DeepPrune's tau, K, K1 as the paper's; K2 = K3 = 4 (our choice) for the n clients send (4-16):
    # the paper's 20 completes every trace of such a request, so it could save nothing
    cluster: ClusterConfig = field(default_factory=lambda: ClusterConfig(K2=4, K3=4))


# SolveConfig fields a proxy never reads from its command line: n, the methods, the stop strings,
# the prompt and the seed come from each request (a request without a seed gets a fresh one), cons@k's
# k is no proxy method's, and one request is one problem (concurrent_problems)
PROXY_FIXED = ("n", "methods", "stop", "prompt", "seed", "k", "concurrent_problems")


@dataclass
class ProxyJob:
    """``deepprune proxy``: an OpenAI-compatible server in front of yours; every n > 1 request is pruned."""

    upstream: str | None = (
        None  # your server's OpenAI base URL, e.g. http://127.0.0.1:8000/v1 (or a router's)
    )
    pool: str | None = None  # instead of an upstream: replay this saved pool (tests, benchmarks)
    rate: float = 0.0  # replay speed, tokens/s per trace (0: as fast as possible)
    port: int = 8788  # port to listen on (our choice)
    host: str = "127.0.0.1"  # address to listen on (our choice: this machine only)
    # what serves n > 1: auto (the recipe `make transfer` chose out of sample: Adaptive-Consistency in
    # waves; it needs no probes and no text), deepprune, parallel-probe, short-m@k, deepconf, asc,
    # consol, esc, cons@N
    method: str = "auto"
    # choices: every completed trace (the voted answer's first); vote: one choice, the voted trace
    returns: str = "choices"
    answer_type: str = "math"  # how answers are read for the vote: math, choice, text
    # the key clients must send (Authorization: Bearer KEY); default: $DEEPPRUNE_PROXY_API_KEY, else none
    api_key: str | None = None
    # the key the proxy sends upstream; default: $OPENAI_API_KEY, else each request's own Authorization
    # header (never cached, never sent for another request)
    upstream_api_key: str | None = None
    # the judges a request may pick by name ("deepprune": {"judge": NAME}), ';'-separated NAME=SPEC
    # (a spec holds commas): e.g. 'fast=lexical:jaccard;ce=crossencoder:/models/ce'. A request never
    # gives a spec, a path, a URL or a key. Always allowed: --judge (as "default" and by its spec), and
    # the judges that read no file and call no server (probe, lexical:jaccard, lexical:tfidf)
    allow_judges: str | None = None
    max_body_bytes: int = 8 * 2**20  # a larger request body is answered 413 (our choice: 8 MiB)
    body_timeout: float = 30.0  # seconds a client may take to send its body; then 408 (our choice)
    timeout: float = 600.0  # seconds an upstream request may wait for its next bytes (our choice)
    retries: int = 2  # upstream retries of a refused connection, a timeout, a 5xx (our choice)
    max_running: int = 16  # requests running at once (our choice)
    max_queued: int = 64  # requests waiting; one more is answered 429 (our choice)
    upstream_concurrency: int = (
        64  # traces in flight upstream at once, and as many probes (our choice)
    )
    request_timeout: float = 900.0  # seconds a request may take in all; then 504 (our choice)
    # seconds running requests get at shutdown (our choice: 180, as SMG drains: reasoning traces are long)
    shutdown_grace: float = 180.0
    # a valid request the vote cannot honour (response_format, tools, logprobs, penalties, a max_tokens
    # below DeepPrune's cut): passthrough (served unpruned, saying so) or reject (400)
    on_unprunable: str = "passthrough"
    log: str | None = None  # the access log (one JSON line per request); default: stderr
    config: ProxyConfig = field(
        default_factory=ProxyConfig
    )  # each method's settings; n etc. per request

    def __post_init__(self):
        self.api_key = self.api_key or os.environ.get("DEEPPRUNE_PROXY_API_KEY") or None
        self.upstream_api_key = self.upstream_api_key or os.environ.get("OPENAI_API_KEY") or None
        if self.upstream_api_key and not self.api_key and self.upstream is not None:
            raise ConfigError("an upstream key is set (--upstream-api-key or $OPENAI_API_KEY) but no key for "
                              "clients: anyone reaching the proxy would spend it; set --api-key (or "
                              "$DEEPPRUNE_PROXY_API_KEY), or unset the upstream key to forward each "
                              "client's own")  # fmt: skip
        if self.max_body_bytes < 1 or not self.body_timeout > 0:
            raise ConfigError("--max-body-bytes must be >= 1 and --body-timeout > 0")
        self.judges = judge_allowlist(self.allow_judges, self.config.judge)
        from deepprune.engine.live import load_recipe

        try:  # the recipe `auto` runs (a request may ask for it); required when it is the default
            self.auto = load_recipe(self.config.recipe)["live"]
        except DeepPruneError:
            if self.method == "auto":
                raise
            self.auto = None
        if (self.upstream is None) == (self.pool is None):
            raise ConfigError(
                "give --upstream URL (your server) or --pool POOL (a replay), exactly one"
            )
        if self.method not in PROXY_METHODS:
            raise ConfigError(
                f"unknown --method {self.method!r}; known: {', '.join(PROXY_METHODS)}"
            )
        if self.returns not in RETURNS:
            raise ConfigError(f"unknown --returns {self.returns!r}; known: {', '.join(RETURNS)}")
        for name in ("max_running", "upstream_concurrency"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"--{name.replace('_', '-')} must be >= 1, got {getattr(self, name)}"
                )
        if self.max_queued < 0 or not self.request_timeout > 0 or self.shutdown_grace < 0:
            raise ConfigError(
                "--max-queued and --shutdown-grace must be >= 0, --request-timeout > 0"
            )
        self.config = dataclasses.replace(
            self.config, methods=(self.method,)
        )  # the settings, checked for it
        self._check_startup()

    def _check_startup(self) -> None:
        """Flags that would fail every request fail now, one line each."""
        from urllib.parse import urlsplit

        if self.upstream is not None:
            u = urlsplit(self.upstream)
            if u.scheme not in ("http", "https") or not u.hostname:
                raise ConfigError(f"--upstream {self.upstream!r}: an http(s) URL of an OpenAI-compatible server, "
                                  "e.g. http://127.0.0.1:8000/v1")  # fmt: skip
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be in [0, 65535], got {self.port}")
        if not self.timeout > 0 or self.retries < 0:
            raise ConfigError(
                f"--timeout must be > 0 and --retries >= 0, got {self.timeout}, {self.retries}"
            )
        if self.on_unprunable not in ("passthrough", "reject"):
            raise ConfigError(
                f"--on-unprunable must be passthrough or reject, got {self.on_unprunable!r}"
            )
        if self.log is not None and os.path.isdir(self.log):
            raise ConfigError(f"--log {self.log}: is a directory; --log takes a file")
        if self.pool is not None:  # the default judge must work on the replayed pool
            from deepprune.engine.backends import get_backend

            cfg, b = self.config, get_backend("replay", pool=self.pool)
            if "parallel-probe" in cfg.methods or (
                "deepprune" in cfg.methods and cfg.judge.split(":")[0] == "probe"
            ):
                b.require_probes(cfg.probe_every)

    def app(self):
        return Proxy(self).app

    def run(self) -> int:
        server = make_server(Proxy(self), self, announce=True)
        server.run()
        return 0

    def start(self) -> "ProxyHandle":
        """Serve in a background thread (notebooks, tests); ``handle.stop()`` shuts down gracefully."""
        return ProxyHandle(self).start()


def make_server(proxy, job: ProxyJob, announce: bool = False):
    """A uvicorn server that tells the proxy when its shutdown begins (running requests then get
    ``shutdown_grace`` seconds, and a 503 if they need more; uvicorn waits a little longer); with
    ``announce``, it prints the address it really listens on (``--port 0``: the port it was given)."""
    import uvicorn

    class Server(uvicorn.Server):
        async def startup(self, sockets=None):
            await super().startup(sockets)
            if announce and self.servers:
                port = self.servers[0].sockets[0].getsockname()[1]
                where = job.upstream or f"replay of {job.pool}"
                print(f"deepprune proxy at http://{job.host}:{port}/v1 -> {where} ({job.method}); Ctrl-C stops",
                      flush=True)  # fmt: skip

        async def shutdown(self, sockets=None):
            proxy.begin_shutdown()
            await super().shutdown(sockets)

    config = uvicorn.Config(proxy.app, host=job.host, port=job.port, log_level="warning", access_log=False,
                            timeout_graceful_shutdown=job.shutdown_grace + 5, lifespan="on")  # fmt: skip
    return Server(config)


# judges that read no file and call no server: any request may pick them by their spec
SAFE_JUDGES = ("probe", "lexical:jaccard", "lexical:tfidf")


def judge_allowlist(allow: str | None, default: str) -> dict[str, str]:
    """The judges a request may name (name -> spec) from ``--allow-judges`` (``NAME=SPEC;...``) and
    ``--judge`` (pure).

    Example:
        >>> judge_allowlist("ce=crossencoder:/m", "probe")["ce"], judge_allowlist(None, "probe")["default"]
        ('crossencoder:/m', 'probe')
    """
    import re

    out = {s: s for s in SAFE_JUDGES} | {"default": default, default: default}
    for entry in (allow or "").split(";"):
        if not entry.strip():
            continue
        name, eq, spec = entry.strip().partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z][\w.-]*", name) or not spec:
            raise ConfigError(f"--allow-judges: {entry.strip()!r} is not NAME=SPEC (a name of letters, "
                              "digits, '.', '_', '-'; entries separated by ';')")  # fmt: skip
        out[name] = spec
    return out


class ProxyHandle:
    """A proxy serving in a thread of this process: ``url``, ``proxy`` (its counters), ``stop()``."""

    def __init__(self, job: ProxyJob):
        self.job, self.proxy = job, Proxy(job)
        self.server = make_server(self.proxy, job)
        self.server.install_signal_handlers = lambda: None  # a thread: the main thread owns signals
        self.url = f"http://{job.host}:{job.port}/v1"
        self.thread = threading.Thread(target=self.server.run, daemon=True, name="deepprune-proxy")

    def start(self, timeout: float = 30.0) -> "ProxyHandle":
        self.thread.start()
        deadline = time.monotonic() + timeout
        while not self.server.started:
            if not self.thread.is_alive() or time.monotonic() > deadline:
                raise DeepPruneError(f"the proxy did not start on {self.job.host}:{self.job.port}")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(self.job.shutdown_grace + 30)

    def __enter__(self) -> "ProxyHandle":
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
