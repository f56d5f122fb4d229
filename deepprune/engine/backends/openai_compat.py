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
import json

from deepprune.engine.backends.base import Backend, Delta, Finish, Request
from deepprune.errors import ConfigError, DeepPruneError, UpstreamRefused


def completion_kwargs(req: Request, model: str, stream: bool = True) -> dict:
    """The ``completions.create`` arguments of one trace (pure: unit-tested without a server)."""
    kw = {"model": model, "prompt": req.text, "max_tokens": req.max_tokens, "n": 1, "seed": req.seed,
          "temperature": req.temperature, "top_p": req.top_p, "stream": stream}  # fmt: skip
    if req.stop:
        kw["stop"] = list(req.stop)
    if req.logprobs:
        kw["logprobs"] = req.logprobs
    if stream:
        kw["stream_options"] = {"include_usage": True}
    return kw


def chat_kwargs(req: Request, model: str, stream: bool = True) -> dict:
    """The ``chat.completions.create`` arguments of one trace (pure): the prompt is the user's
    message (or ``req.messages``, a whole conversation), formatted by the server's chat template; a continuation (a prefix to resume from, a
    partial trace + answer cue) is a partial assistant message that the server continues in place
    (``continue_final_message``, ``add_generation_prompt`` off: vLLM's and SGLang's extension)."""
    messages = [dict(m) for m in req.messages] or [{"role": "user", "content": req.prompt}]
    kw = {"model": model, "messages": messages, "max_tokens": req.max_tokens, "n": 1, "seed": req.seed,
          "temperature": req.temperature, "top_p": req.top_p, "stream": stream}  # fmt: skip
    if req.continuation:
        messages.append({"role": "assistant", "content": req.continuation})
        kw["extra_body"] = {"continue_final_message": True, "add_generation_prompt": False}
    if req.stop:
        kw["stop"] = list(req.stop)
    if req.logprobs:
        kw["logprobs"], kw["top_logprobs"] = True, req.logprobs
    if stream:
        kw["stream_options"] = {"include_usage": True}
    return kw


class _ChatChoice:
    """A chat choice read as a completions choice (``text``, top log-probabilities per token)."""

    def __init__(self, ch):
        self.finish_reason = getattr(ch, "finish_reason", None)
        # the server's extras: vLLM's stop_reason, SGLang's matched_stop
        self.model_extra = getattr(ch, "model_extra", None)
        msg = getattr(ch, "delta", None) or getattr(ch, "message", None)
        self.text = getattr(msg, "content", None) if msg is not None else None
        rows = getattr(getattr(ch, "logprobs", None), "content", None)
        self.logprobs = None
        if rows is not None:
            tops = [{t.token: t.logprob for t in (r.top_logprobs or [])} for r in rows]
            self.logprobs = type("LP", (), {"top_logprobs": tops})()


def as_completion(chunk):
    """A chat response or chunk with its choices read as completions choices (pure)."""
    choices = getattr(chunk, "choices", None)
    if not choices:
        return chunk
    read = [_ChatChoice(c) for c in choices]
    # the opening {"role"} delta
    role_only = all(c.text is None and c.finish_reason is None for c in read)
    return type("Chunk", (), {"choices": [] if role_only else read, "usage": getattr(chunk, "usage", None),
                              "role_only": role_only})()  # fmt: skip


def read_chunk(chunk, want_logprobs: int) -> tuple[Delta | None, str | None, object]:
    """(delta, finish_reason, usage) of one streamed chunk (pure: unit-tested with plain objects)."""
    usage = getattr(chunk, "usage", None)
    if not getattr(chunk, "choices", None):
        if usage is None and not getattr(chunk, "role_only", False):
            raise ValueError("a chunk with neither choices nor usage")
        return None, None, usage
    ch = chunk.choices[0]
    if not isinstance(getattr(ch, "text", None), (str, type(None))):
        raise ValueError("a chunk whose choice has no text")
    top = None
    if want_logprobs:
        lp = getattr(ch, "logprobs", None)
        rows = getattr(lp, "top_logprobs", None) if lp is not None else None
        if rows is not None:
            top = [sorted(r.values(), reverse=True)[:want_logprobs] for r in rows if r]
    n_tok = len(top) if top is not None else (0 if ch.finish_reason and not ch.text else 1)
    return Delta(ch.text or "", n_tok, top), ch.finish_reason, usage


def stopped_by(ch) -> str | None:
    """Which stop ended a choice, where the server says (pure): the stop string, or "eos" (an end
    of text or a stop token: vLLM's ``stop_reason`` None or a token id, SGLang's ``matched_stop``
    a token id); None where the server does not say (llama.cpp)."""
    extra = getattr(ch, "model_extra", None) or {}
    for key in ("stop_reason", "matched_stop"):
        if key in extra:
            return extra[key] if isinstance(extra[key], str) else "eos"
    return None


# the longest an auxiliary call (a prompt count, the context, a counter, an abort) may wait (our
# choice): the server's slowness on them never holds a trace up for --timeout
AUX_TIMEOUT = 10.0

# the generated-token counters of the servers we know (Prometheus names; label sets summed)
GENERATED_COUNTERS = ("vllm:generation_tokens_total", "sglang:generation_tokens_total",
                      "llamacpp:tokens_predicted_total")  # fmt: skip


def parse_generated_counter(text: str) -> tuple[str, float] | None:
    """(name, total) of the first known generated-token counter in a Prometheus text (pure): each
    sample's value is the first field after its name and labels (a timestamp may follow)."""
    for name in GENERATED_COUNTERS:
        vals = []
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in (" ", "\t", "{"):
                try:
                    vals.append(float(line[len(name) :].rpartition("}")[2].split()[0]))
                except (IndexError, ValueError):  # a sample that is no number: no count
                    return None
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


def check_usage(
    usage: object, text: str, max_tokens: int, counted: int | None = None, exact: bool = False
) -> str | None:
    """What is wrong with a server's ``usage.completion_tokens`` for a completion of ``text`` asked
    with ``max_tokens`` (``counted``: the tokens the client saw streamed, ``exact`` when that count
    is exact, i.e. one logprob row per token); None when it is plausible (pure)."""
    if usage is None:
        return "no usage reported"
    if not isinstance(usage, int) or isinstance(usage, bool):
        return f"usage.completion_tokens is not an integer ({usage!r})"
    if usage < 0:
        return f"negative usage ({usage})"
    if usage == 0 and text:
        return "usage 0 for a non-empty text"
    if usage > max_tokens:
        return f"usage {usage} above max_tokens={max_tokens}"
    if counted is not None and (usage < counted or (exact and usage != counted)):
        return f"usage {usage} but {counted} tokens streamed"
    return None


def explain(e: BaseException, timeout: float) -> str:
    """What happened to a request, in words (timed out, refused, cut, HTTP status + the server's
    message, an invalid body) rather than one "is the server running?" for all (pure)."""
    import openai

    names = lambda x: {c.__name__ for c in type(x).__mro__}  # noqa: E731 - httpx or its vendored twin
    if isinstance(e, openai.APIStatusError):
        return f"HTTP {e.status_code}: {e.message}"
    if isinstance(e, openai.APIConnectionError) and not isinstance(e, openai.APITimeoutError):
        e = e.__cause__ or e.__context__ or e
    if names(e) & {"APITimeoutError", "TimeoutException", "TimeoutError"}:
        return f"timed out: no answer for {timeout:g} s (--timeout)"
    if names(e) & {"ConnectError", "ConnectionRefusedError"}:
        return "connection refused (is the server running?)"
    if names(e) & {"RemoteProtocolError", "ReadError", "IncompleteRead"}:
        return "the response was cut (the server closed the connection mid-response)"
    if isinstance(e, json.JSONDecodeError):
        return f"a body or stream chunk that is not valid JSON ({e.msg})"
    if isinstance(e, openai.APIResponseValidationError):
        return "a response that does not have the completions format"
    return f"{type(e).__module__}.{type(e).__name__}: {e}"


class OpenAIBackend(Backend):
    """Streams completions from ``base_url`` (e.g. ``http://127.0.0.1:8000/v1``) for ``model``.

    ``timeout``: seconds a request may wait for the server's next bytes (a stalled stream fails
    then); ``retries``: how often a refused connection, a timeout or an HTTP 5xx/429 is retried
    (the openai client's back-off). The server's usage is checked (:func:`check_usage`); an
    implausible one is replaced by the streamed count and flagged on the request's :class:`Finish`.
    The client enforces ``max_tokens`` itself: a stream that runs past it is closed and flagged."""

    name = "openai"

    def __init__(self, base_url: str, model: str, api_key: str = "EMPTY", timeout: float = 600.0,
                 extra_body: dict | None = None, abort_url: str | None = None,
                 metrics_url: tuple[str, ...] = (), retries: int = 2, api: str = "completions"):  # fmt: skip
        self.root = base_url.rstrip("/").removesuffix("/v1")  # the server's own routes hang here
        self.metrics_urls = tuple(metrics_url) or (f"{self.root}/metrics",)
        try:
            import openai
        except ImportError:
            raise ConfigError(
                "the openai backend needs the serve extra: pip install -e '.[serve]'"
            ) from None
        self.base_url, self.model = base_url, model
        self.extra_body, self.abort_url = extra_body, abort_url
        if api not in ("completions", "chat"):
            raise ConfigError(f"--api must be completions or chat, got {api!r}")
        self.timeout, self.api = timeout, api
        self._prompt_counts: dict[str, int | None] = {}  # prompt_tokens' memo, per text
        self.client = openai.AsyncOpenAI(
            base_url=base_url, api_key=api_key, timeout=timeout, max_retries=retries
        )

    def _aux(self):
        """An HTTP client for one auxiliary call, with the key (a server may guard every route)."""
        import httpx

        key = {"Authorization": f"Bearer {self.client.api_key}"}
        return httpx.AsyncClient(timeout=min(self.timeout, AUX_TIMEOUT), headers=key)

    def with_api_key(self, api_key: str) -> OpenAIBackend:
        """This backend sending ``api_key`` instead (one request's own credentials; the HTTP
        connections are shared, the key is not)."""
        import copy

        other = copy.copy(self)
        other.client = self.client.with_options(api_key=api_key)
        return other

    async def generated_counter(self) -> tuple[str, float] | None:
        """The servers' Prometheus generated-token counters (vLLM, SGLang, llama.cpp with ``--metrics``
        and ``deepprune serve``) summed over ``metrics_url`` (default ``ROOT/metrics``: behind a router,
        name every replica's), or None where one has none."""
        import httpx

        total, name = 0.0, None
        async with self._aux() as c:
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
            listed = [m async for m in self.client.models.list()]
            models = [m.id for m in listed]
        except openai.APIStatusError as e:
            what = f"{self.base_url}: the server refused /models ({e.status_code})"
            if e.status_code in (401, 403):
                raise UpstreamRefused(what, e.status_code) from None
            raise DeepPruneError(what) from None
        except Exception as e:  # noqa: BLE001 - every failure is one line naming the server
            raise DeepPruneError(f"{self.base_url}: /models: {explain(e, self.timeout)}") from None
        if self.model not in models:
            raise DeepPruneError(
                f"{self.base_url}: unknown model {self.model!r}; served: {', '.join(models)}"
            )
        entry = listed[models.index(self.model)]
        self.context = await self._context(getattr(entry, "model_extra", None) or {})

    async def prompt_tokens(self, req: Request) -> int | None:
        """The completions API's prompt (prompt + continuation) counted by the server's tokenizer:
        vLLM's ``/tokenize``, else llama-cpp-python's ``/extras/tokenize/count`` (which tokenizes
        as its completions do); remembered per text. None for a chat request (the server's chat
        template decides its tokens) or a server with neither route."""
        import httpx

        if req.messages or self.api == "chat":
            return None
        text = req.prompt + req.continuation
        memo = self._prompt_counts
        if text in memo:
            return memo[text]
        routes = [(f"{self.root}/tokenize", {"model": self.model, "prompt": text}),
                  (f"{self.root}/extras/tokenize/count", {"model": self.model, "input": text})]  # fmt: skip
        count = None
        try:
            async with self._aux() as c:
                for url, body in routes:
                    r = await c.post(url, json=body)
                    got = r.json().get("count") if r.status_code == 200 else None
                    if isinstance(got, int) and not isinstance(got, bool) and got >= 0:
                        count = got
                        break
        except (httpx.HTTPError, ValueError, AttributeError):
            count = None
        if len(memo) > 4096:  # bounded: a long run's continuations are all different texts
            memo.clear()
        memo[text] = count
        return count

    async def _context(self, extra: dict) -> int | None:
        """The server's context length where it says it: vLLM's ``max_model_len`` in ``/models``,
        else ``deepprune serve``'s ``/health``; None where it does not (never an error)."""
        import httpx

        got = extra.get("max_model_len")
        if got is None:
            try:
                async with self._aux() as c:
                    r = await c.get(f"{self.root}/health")
                got = r.json().get("max_model_len") if r.status_code == 200 else None
            except (httpx.HTTPError, ValueError, AttributeError):
                return None
        return got if isinstance(got, int) and not isinstance(got, bool) and got > 0 else None

    def _fail(self, req: Request, what: str) -> DeepPruneError:
        return DeepPruneError(f"{self.base_url}: request {req.request_id}: {what}")

    async def _create(self, req: Request, kw: dict):
        """One completions call; every failure becomes a one-line error saying what happened."""
        extra = {**(self.extra_body or {}), **kw.pop("extra_body", {})}
        if self.abort_url:  # SGLang: our request id, so /abort_request can name it
            extra["rid"] = req.request_id
        if extra:
            kw["extra_body"] = extra
        try:
            if self.api == "chat":
                return await self.client.chat.completions.create(**kw)
            return await self.client.completions.create(**kw)
        except Exception as e:  # noqa: BLE001 - openai, httpx and JSON errors alike
            status = getattr(e, "status_code", None)
            if status in (401, 403):  # the credentials: no retry can help, and the client must know
                raise UpstreamRefused(
                    str(self._fail(req, explain(e, self.timeout))), status
                ) from None
            raise self._fail(req, explain(e, self.timeout)) from None

    def _kwargs(self, req: Request, stream: bool) -> dict:
        return (chat_kwargs if self.api == "chat" else completion_kwargs)(req, self.model, stream)

    async def stream(self, req: Request):
        # always a stream: the openai client reads any body of a streamed request as one
        stream = await self._create(req, self._kwargs(req, True))
        counted, reason, usage, done, text_seen = 0, None, None, False, False
        flag = None
        try:
            async for chunk in stream:
                try:
                    delta, fin, u = read_chunk(
                        as_completion(chunk) if self.api == "chat" else chunk, req.logprobs
                    )
                except (AttributeError, TypeError, ValueError) as e:
                    raise self._fail(req, f"a malformed stream chunk ({e})") from None
                usage = u or usage
                if delta is not None:
                    if req.logprobs and delta.top_logprobs is None and (delta.text or not fin):
                        raise self._fail(req, f"the server returned no logprobs although "
                                              f"logprobs={req.logprobs} was asked")  # fmt: skip
                    counted += delta.tokens
                    text_seen = text_seen or bool(delta.text)
                    if counted > req.max_tokens:  # the server ignores max_tokens: we stop it
                        flag = f"the server streamed past max_tokens={req.max_tokens}; the client stopped it"
                        break
                    if delta.text or delta.tokens:
                        yield delta
                reason = fin or reason
            else:
                done = True
        except DeepPruneError:
            raise
        except Exception as e:  # noqa: BLE001 - a cut, stalled or invalid stream
            raise self._fail(req, explain(e, self.timeout)) from None
        finally:
            # the consumer stopped this trace (or we did): close, abort where supported
            if not done:
                with contextlib.suppress(Exception):
                    await stream.close()
                await self._abort(req.request_id)
        if flag is not None:
            yield Finish(req.max_tokens, None, False, "stream", flags=(flag,))
            return
        if reason is None:
            raise self._fail(req, "the stream ended without a finish reason (response cut)")
        got = getattr(usage, "completion_tokens", None) if usage is not None else None
        if usage is None:
            yield Finish(counted, None, reason != "length", "stream")
            return
        bad = check_usage(
            got, "x" if text_seen else "", req.max_tokens, counted, exact=bool(req.logprobs)
        )
        if bad is not None:  # the streamed count, and why
            yield Finish(counted, None, reason != "length", "stream", flags=(bad,))
        else:
            yield Finish(
                got, usage.prompt_tokens, reason != "length", "usage", cached_tokens(usage)
            )

    async def complete(self, req: Request) -> tuple[str, Finish]:
        """One non-streamed completion: the server's own usage, checked."""
        r = await self._create(req, self._kwargs(req, False))
        if self.api == "chat" and not isinstance(r, str):
            r = as_completion(r)
        choices = getattr(r, "choices", None)
        if not isinstance(choices, list) or not choices:
            what = "an HTML or text page" if isinstance(r, str) else "a response with no choices"
            raise self._fail(req, f"{what} instead of a completion")
        ch = choices[0]
        if not isinstance(getattr(ch, "text", None), str):
            raise self._fail(req, "a completion choice without text")
        usage = getattr(r, "usage", None)
        got = getattr(usage, "completion_tokens", None)
        if usage is None or got is None:
            raise self._fail(req, "a completion without usage: its tokens cannot be counted")
        finished = ch.finish_reason not in ("length", None)
        bad = check_usage(got, ch.text, req.max_tokens)
        if bad is not None:  # clamped into what is possible, and flagged
            n = min(max(got if isinstance(got, int) else 0, 1 if ch.text else 0), req.max_tokens)
            return ch.text, Finish(n, usage.prompt_tokens, finished, "usage-clamped", flags=(bad,),
                                   stopped_by=stopped_by(ch))  # fmt: skip
        return ch.text, Finish(got, usage.prompt_tokens, finished, "usage", cached_tokens(usage),
                               stopped_by=stopped_by(ch))  # fmt: skip

    async def _abort(self, request_id: str) -> None:
        if not self.abort_url:
            return
        import httpx

        async with self._aux() as http:
            # best effort: closing the stream stops it too
            with contextlib.suppress(httpx.HTTPError):
                await http.post(self.abort_url, json={"rid": request_id})

    async def close(self) -> None:
        await self.client.close()
