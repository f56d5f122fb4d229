"""Any OpenAI-compatible server (``vllm serve``, SGLang, llama.cpp's server, TGI) via the ``openai`` client.

    deepprune generate --problems P.jsonl --base-url http://127.0.0.1:8000/v1 --model M --n 16 --out pool.jsonl

The completions endpoint with a raw prompt (apply a chat template in ``--prompt``), one
streamed request per trace (``n=1``, its own ``seed``), ``logprobs=K`` for top-k
log-probabilities and ``stream_options.include_usage`` for the server's token count.
What each server does (as far as this client can see):

| server | usage in the stream | stopping a trace |
|---|---|---|
| vLLM (``vllm serve``) | yes (``include_usage``) | closing the stream aborts the request |
| SGLang | yes | closing the stream; also ``POST /abort_request`` (sent when ``abort_url`` is set) |
| llama.cpp (``llama-cpp-python[server]``) | no: one streamed chunk per token, counted | closing the stream stops generation |
| TGI | yes | closing the stream |
"""

from __future__ import annotations

import contextlib

from deepprune.engine.backends.base import Backend, Delta, Finish, Request
from deepprune.errors import ConfigError, DeepPruneError


def completion_kwargs(req: Request, model: str, stream: bool = True) -> dict:
    """The ``completions.create`` arguments of one trace (pure: unit-tested without a server)."""
    kw = {"model": model, "prompt": req.prompt, "max_tokens": req.max_tokens, "n": 1, "seed": req.seed,
          "temperature": req.temperature, "top_p": req.top_p, "stream": stream}  # fmt: skip
    if req.stop:
        kw["stop"] = list(req.stop)
    if req.logprobs:
        kw["logprobs"] = req.logprobs
    if stream:
        kw["stream_options"] = {"include_usage": True}
    return kw


def read_chunk(chunk, want_logprobs: int) -> tuple[Delta | None, str | None, object]:
    """(delta, finish_reason, usage) of one streamed chunk (pure: unit-tested with plain objects)."""
    usage = getattr(chunk, "usage", None)
    if not chunk.choices:
        return None, None, usage
    ch = chunk.choices[0]
    top = None
    if want_logprobs:
        lp = getattr(ch, "logprobs", None)
        rows = getattr(lp, "top_logprobs", None) if lp is not None else None
        if rows is not None:
            top = [sorted(r.values(), reverse=True)[:want_logprobs] for r in rows if r]
    n_tok = len(top) if top is not None else (0 if ch.finish_reason and not ch.text else 1)
    return Delta(ch.text or "", n_tok, top), ch.finish_reason, usage


# the generated-token counters of the servers we know (Prometheus names; label sets summed)
GENERATED_COUNTERS = ("vllm:generation_tokens_total", "sglang:generation_tokens_total",
                      "llamacpp:tokens_predicted_total")  # fmt: skip


def parse_generated_counter(text: str) -> tuple[str, float] | None:
    """(name, total) of the first known generated-token counter in a Prometheus text (pure)."""
    for name in GENERATED_COUNTERS:
        vals = [float(line.rsplit(" ", 1)[1]) for line in text.splitlines()
                if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "{")]  # fmt: skip
        if vals:
            return name, sum(vals)
    return None


def cached_tokens(usage) -> int | None:
    """Prompt tokens served from the prefix cache, where the server reports them (vLLM with
    ``--enable-prompt-tokens-details``, SGLang, OpenAI); None where it does not (llama.cpp)."""
    details = getattr(usage, "prompt_tokens_details", None)
    if isinstance(details, dict):
        return details.get("cached_tokens")
    return getattr(details, "cached_tokens", None)


class OpenAIBackend(Backend):
    """Streams completions from ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``) for ``model``."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", timeout: float = 600.0,
                 extra_body: dict | None = None, abort_url: str | None = None,
                 metrics_url: tuple[str, ...] = ()):  # fmt: skip
        root = base_url.rstrip("/").removesuffix("/v1")
        self.metrics_urls = tuple(metrics_url) or (f"{root}/metrics",)
        try:
            import openai
        except ImportError:
            raise ConfigError(
                "the openai backend needs the serve extra: pip install -e '.[serve]'"
            ) from None
        self.base_url, self.model, self.extra_body, self.abort_url = (
            base_url,
            model,
            extra_body,
            abort_url,
        )
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=1
        )

    async def generated_counter(self) -> tuple[str, float] | None:
        """The servers' Prometheus generated-token counters (vLLM, SGLang, llama.cpp with ``--metrics``
        and ``deepprune serve``) summed over ``metrics_url`` (default ``ROOT/metrics``: behind a router,
        name every replica's), or None where one has none."""
        import httpx

        total, name = 0.0, None
        async with httpx.AsyncClient(timeout=5.0) as c:
            for url in self.metrics_urls:
                try:
                    r = await c.get(url)
                except httpx.HTTPError:
                    return None
                got = parse_generated_counter(r.text) if r.status_code == 200 else None
                if got is None:
                    return None
                name, total = got[0], total + got[1]
        return name, total

    async def check(self) -> None:
        import openai

        try:
            models = [m.id async for m in self.client.models.list()]
        except openai.APIConnectionError:
            raise DeepPruneError(
                f"{self.base_url}: no OpenAI-compatible server answers there"
            ) from None
        except openai.APIStatusError as e:
            raise DeepPruneError(
                f"{self.base_url}: the server refused /models ({e.status_code})"
            ) from None
        if self.model not in models:
            raise DeepPruneError(
                f"{self.base_url}: unknown model {self.model!r}; served: {', '.join(models)}"
            )

    async def _create(self, req: Request, kw: dict):
        """One completions call; connection and HTTP errors become one-line errors."""
        import openai

        extra = dict(self.extra_body or {})
        if self.abort_url:  # SGLang: our request id, so /abort_request can name it
            extra["rid"] = req.request_id
        if extra:
            kw["extra_body"] = extra
        try:
            return await self.client.completions.create(**kw)
        except openai.APIConnectionError:
            raise DeepPruneError(
                f"{self.base_url}: connection failed (is the server running?)"
            ) from None
        except openai.APIStatusError as e:
            msg = (
                f"{self.base_url}: request {req.request_id} refused ({e.status_code}): {e.message}"
            )
            raise DeepPruneError(msg) from None

    async def stream(self, req: Request):
        stream = await self._create(req, completion_kwargs(req, self.model))
        counted, reason, usage, done = 0, None, None, False
        try:
            async for chunk in stream:
                delta, fin, u = read_chunk(chunk, req.logprobs)
                usage = u or usage
                if delta is not None:
                    if req.logprobs and delta.top_logprobs is None and (delta.text or not fin):
                        raise DeepPruneError(f"{self.base_url}: the server returned no logprobs although "
                                             f"logprobs={req.logprobs} was asked")  # fmt: skip
                    counted += delta.tokens
                    if delta.text or delta.tokens:
                        yield delta
                reason = fin or reason
            done = True
        finally:
            if not done:  # the consumer stopped this trace: close the stream, abort where supported
                await stream.close()
                await self._abort(req.request_id)
        if usage is not None and getattr(usage, "completion_tokens", None) is not None:
            yield Finish(usage.completion_tokens, usage.prompt_tokens, reason != "length", "usage",
                         cached_tokens(usage))  # fmt: skip
        else:
            yield Finish(counted, None, reason != "length", "stream")

    async def complete(self, req: Request) -> tuple[str, Finish]:
        """One non-streamed completion: the server's own usage, exactly."""
        r = await self._create(req, completion_kwargs(req, self.model, stream=False))
        ch = r.choices[0]
        return ch.text, Finish(r.usage.completion_tokens, r.usage.prompt_tokens, ch.finish_reason != "length",
                               "usage", cached_tokens(r.usage))  # fmt: skip

    async def _abort(self, request_id: str) -> None:
        if not self.abort_url:
            return
        import httpx

        async with httpx.AsyncClient(timeout=5) as http:
            with contextlib.suppress(
                httpx.HTTPError
            ):  # best effort: closing the stream stops it too
                await http.post(self.abort_url, json={"rid": request_id})

    async def close(self) -> None:
        await self.client.close()
