"""The proxy's serving and admission (vLLM's ``serving`` beside its ``api_router``, which is
:mod:`deepprune.proxy.routes`): one request from its body to its answer.

- ``n = 1`` is forwarded to the upstream unchanged (streaming included; a ``deepprune`` field is
  dropped); so is a request the vote cannot honour (``response_format``, ``tools``, ``logprobs``,
  penalties, ``max_tokens`` below DeepPrune's cut), saying ``pruned: false`` and why
  (``--on-unprunable reject``: a 400 instead). ``n > 1`` runs the method through the live engine
  (:mod:`deepprune.proxy.core` reads the request and writes the response; ``stream: true``: the
  response as server-sent events once the vote is in).
- Admission: at most ``max_running`` requests run at once and ``max_queued`` wait; one more is
  answered 429 with ``Retry-After``. Upstream calls are bounded too (``upstream_concurrency``
  traces at once, as many probes, in separate slots). Every request has a deadline
  (``request_timeout``: 504); a body has a size limit (413) and a time limit (408).
- Upstream credentials are per request (:meth:`Proxy._client_key`): never cached for another.
- Every failure is OpenAI's error JSON with one line saying what happened (400 bad request, 401/403
  the upstream refused the key, 404 unknown model, 429, 502 the upstream failed, 503 shutting down,
  504 deadline).
- Shutdown (Ctrl-C, SIGTERM): no new request is admitted, the running ones get
  ``shutdown_grace`` seconds, then they are cancelled and their upstream streams closed.
- One JSON line per request on the access log (``--log FILE``, else stderr), with its request id.
"""

import asyncio
import json
import logging
import sys
import time

from deepprune.engine.backends import get_backend
from deepprune.engine.live import prepare, solve_one
from deepprune.errors import ConfigError, DeepPruneError, UpstreamRefused
from deepprune.problems import Problem
from deepprune.proxy.core import (
    ProxyError,
    Unprunable,
    bad,
    parse_request,
    respond,
    said_headers,
    sse_events,
)
from deepprune.proxy.metrics import Counters
from deepprune.proxy.upstream import Bounded


async def _disconnected(request, every: float = 0.25) -> None:
    """Returns once the client of ``request`` has hung up (polled every ``every`` s); never, for no
    request."""
    if request is None:
        await asyncio.Event().wait()
    while not await request.is_disconnected():
        await asyncio.sleep(every)


class Proxy(Counters):
    """The app and its state: backends per model, judges per spec, admission, counters;
    ``job`` a :class:`deepprune.proxy.job.ProxyJob`."""

    def __init__(self, job):
        self.job = job
        self.backends: dict[tuple[str, bool], Bounded] = {}
        self.judges: dict[str, object] = {}
        Counters.__init__(self)
        self.closing = False
        self.closed: asyncio.Event | None = None  # set when shutdown begins
        self.slots: asyncio.Semaphore | None = None
        self.http = None
        self.pool_ids: dict[str, str] = {}
        self.log = logging.getLogger(f"deepprune.proxy.{id(self)}")
        self.log.propagate = False
        handler = logging.FileHandler(job.log) if job.log else logging.StreamHandler(sys.stderr)
        self.log.addHandler(handler)
        self.log.setLevel(logging.INFO)
        if job.pool is not None:
            replay = get_backend("replay", pool=job.pool, rate=job.rate)
            self.pool_ids = {q.question: q.id for q in replay.questions.values()}
            self.backends[("replay", False)] = Bounded(replay, job.upstream_concurrency)
        from deepprune.proxy.routes import build_app

        self.app = build_app(self)

    async def ready(self, request):
        """Readiness (``GET /ready``): the upstream answers /models (a replayed pool is always ready)."""
        from fastapi.responses import JSONResponse

        if self.closing:
            return JSONResponse({"status": "shutting down"}, status_code=503)
        if self.job.pool is not None:
            return JSONResponse({"status": "ready"})
        try:
            r = await self.http.get(
                self.job.upstream.rstrip("/") + "/models", headers=self._auth(request), timeout=5.0
            )
            ok = r.status_code == 200
        except Exception:  # noqa: BLE001 - any failure: not ready
            ok = False
        return JSONResponse(
            {"status": "ready" if ok else "upstream unavailable"}, status_code=200 if ok else 503
        )

    def client_ok(self, request) -> bool:
        """Whether the request carries the proxy's own key (compared in constant time)."""
        import hmac

        got = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return hmac.compare_digest(got.encode(), self.job.api_key.encode())

    def _client_key(self, request) -> str | None:
        """The key this request's upstream calls send: the operator's upstream key; else the client's
        own header, unless that header is the proxy's key (never forwarded)."""
        if self.job.upstream_api_key or self.job.api_key:
            return self.job.upstream_api_key
        got = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
        return got or None

    def _auth(self, request) -> dict:
        key = self._client_key(request)
        return {"Authorization": f"Bearer {key}"} if key else {}

    # ---- one request ------------------------------------------------------------------------
    async def handle(self, request, chat: bool):
        from fastapi.responses import JSONResponse

        t0, route = time.perf_counter(), "chat" if chat else "completions"
        info = {"route": route, "kind": "pruned"}
        try:
            body = await self._body(request)
            if self.closing:
                raise ProxyError(503, "the proxy is shutting down", kind="service_unavailable")
            if self.running + self.waiting >= self.job.max_running + self.job.max_queued:
                self.count("rejected_total")
                raise ProxyError(429, f"{self.running} requests running and {self.waiting} waiting "
                                      "(--max-running, --max-queued): retry later")  # fmt: skip
            out = await self._admitted(request, body, chat, info)
        except asyncio.TimeoutError:
            out = ProxyError(
                504, f"no answer within {self.job.request_timeout:g} s (--request-timeout)"
            )
        except ProxyError as e:
            out = e
        except UpstreamRefused as e:  # the credentials: the client's to fix, not a retryable 502
            out = ProxyError(e.status, str(e), kind="authentication_error")
        except DeepPruneError as e:  # the upstream failed: its one line
            out = ProxyError(502, str(e))
        except Exception as e:  # noqa: BLE001 - never a traceback to the client
            self.log.exception("internal error")
            out = ProxyError(500, f"internal error: {type(e).__name__}: {e}", kind="internal_error")
        status = out.status if isinstance(out, ProxyError) else getattr(out, "status_code", 200)
        self.count("requests_total", route=route, kind=info["kind"], status=str(status))
        self.log.info(json.dumps({"ts": round(time.time(), 3), "request_id": getattr(request.state, "request_id", None),
                                  "route": route, "status": status,
                                  "ms": round(1000 * (time.perf_counter() - t0), 1), **info.get("log", {}),
                                  **({"error": out.message} if isinstance(out, ProxyError) else {})}))  # fmt: skip
        if isinstance(out, ProxyError):
            headers = {"Retry-After": "1"} if out.status in (429, 503) else None
            return JSONResponse(out.body(), status_code=out.status, headers=headers)
        return out

    async def _admitted(self, request, body, chat: bool, info: dict):
        """The request run in an admission slot (waiting for one counts as queued), under the
        deadline; a stream it answers with (an n = 1 stream passed through) keeps the slot and the
        deadline until it ends."""
        from starlette.responses import StreamingResponse

        self.waiting += 1
        queued = True
        try:
            await self.slots.acquire()
            self.waiting, self.running, queued = self.waiting - 1, self.running + 1, False
        finally:
            if queued:  # cancelled while waiting (shutdown, a client gone)
                self.waiting -= 1
        deadline = asyncio.get_running_loop().time() + self.job.request_timeout
        held = True
        try:
            serve = asyncio.wait_for(
                self._serve(request, body, chat, info), self.job.request_timeout
            )
            out = await self._until_shutdown(asyncio.ensure_future(serve), request)
            if isinstance(out, StreamingResponse):
                out.body_iterator, held = self._held(out.body_iterator, deadline), False
            return out
        finally:
            if held:
                self._release()

    def _release(self) -> None:
        self.running -= 1
        self.slots.release()

    async def _held(self, chunks, deadline: float):
        """A streamed answer that holds its admission slot until it ends, each chunk awaited only
        until the request's deadline (then an SSE error event naming --request-timeout)."""
        loop = asyncio.get_running_loop()
        try:
            while True:
                try:
                    chunk = await asyncio.wait_for(anext(chunks), max(deadline - loop.time(), 0))
                except StopAsyncIteration:
                    return
                except asyncio.TimeoutError:
                    err = ProxyError(504, f"no answer within {self.job.request_timeout:g} s "
                                          "(--request-timeout)")  # fmt: skip
                    yield f"data: {json.dumps(err.body())}\n\n"
                    return
                yield chunk
        finally:
            await chunks.aclose()
            self._release()

    async def _body(self, request):
        """The request's JSON body: at most ``max_body_bytes`` (413), sent within ``body_timeout``
        seconds (408), valid JSON (400)."""
        limit = self.job.max_body_bytes
        too_big = ProxyError(413, f"the request body is over {limit} bytes (--max-body-bytes)")
        if int(request.headers.get("content-length") or 0) > limit:
            raise too_big

        async def read() -> bytes:
            chunks, size = [], 0
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise too_big
                chunks.append(chunk)
            return b"".join(chunks)

        try:
            raw = await asyncio.wait_for(read(), self.job.body_timeout)
        except asyncio.TimeoutError:
            raise ProxyError(
                408, f"the request body took over {self.job.body_timeout:g} s (--body-timeout)"
            ) from None
        try:
            body = json.loads(raw)
        except (json.JSONDecodeError, UnicodeError, RecursionError, ValueError) as e:
            raise bad(
                f"the request body is not valid JSON ({type(e).__name__}: {str(e)[:200]})"
            ) from None
        try:  # a lone surrogate (valid JSON, not valid text): no upstream takes it
            json.dumps(body, ensure_ascii=False).encode("utf-8")
        except UnicodeError:
            raise bad(
                "the request body holds text that is not valid Unicode (a lone surrogate)"
            ) from None
        return body

    def begin_shutdown(self) -> None:
        self.closing = True
        if self.closed is not None:
            self.closed.set()

    async def _until_shutdown(self, task: asyncio.Future, request=None):
        """The request's result; once shutdown begins it has ``shutdown_grace`` seconds, then it is
        cancelled (its upstream streams closed) and answered 503. A client gone cancels it at once
        (its upstream traces closed: the server stops generating for nobody)."""
        closing = asyncio.ensure_future(self.closed.wait())
        gone = asyncio.ensure_future(_disconnected(request))
        try:
            await asyncio.wait({task, closing, gone}, return_when=asyncio.FIRST_COMPLETED)
            if gone.done() and not task.done():
                self.count("disconnected_total")
                raise ProxyError(499, "the client closed the request", kind="client_closed")
            if not task.done():
                await asyncio.wait({task}, timeout=self.job.shutdown_grace)
            if not task.done():
                raise ProxyError(503, f"the proxy shut down before this request finished "
                                      f"({self.job.shutdown_grace:g} s, --shutdown-grace)", kind="service_unavailable")  # fmt: skip
            return task.result()
        finally:
            closing.cancel()
            gone.cancel()
            task.cancel()  # a no-op when it is done
            await asyncio.gather(task, closing, gone, return_exceptions=True)

    async def _serve(self, request, body, chat: bool, info: dict):
        """One admitted request: passed through (n = 1, or not prunable), or parsed and solved
        through the live engine's front door (:mod:`deepprune.engine.live`)."""
        n = body.get("n") if isinstance(body, dict) else 0
        if n in (1, None) and self.job.upstream is not None:
            info["kind"] = "passthrough"
            return await self._pass(request, body, chat, info)
        job = self.job
        try:
            parsed = parse_request(body, job.config, job.method, job.returns, job.answer_type, chat,
                                   job.judges, job.auto)  # fmt: skip
        except (
            Unprunable
        ) as u:  # a valid request the vote cannot honour: served as the upstream would
            if job.on_unprunable == "reject" or job.upstream is None:
                raise bad(f"not prunable: {u.reason}", u.param) from None
            info["kind"] = "unpruned"
            return await self._pass(request, body, chat, info, unpruned=u.reason)
        info["log"] = {
            "n": parsed.cfg.n,
            "method": parsed.method,
            "model": parsed.model,
            "seed": parsed.cfg.seed,
        }
        backend = await self._backend(parsed.model, chat, request)
        if job.pool is not None:  # a replayed pool serves only its own questions, by their text
            parsed.problem = self._pool_problem(parsed, backend)
        try:  # a replayed pool without probes (or with another spacing), or without text: said first
            setup = prepare(parsed.cfg, backend, self._judge)
        except ConfigError as e:
            raise bad(str(e)) from None
        live = await solve_one(
            setup, backend, parsed.problem, setup.methods[0], messages=parsed.messages
        )
        return self._answer(parsed, live, body, chat, info)

    def _pool_problem(self, parsed, backend) -> Problem:
        """The replayed pool's question the prompt is (a 400 otherwise, or when n is above its traces:
        never a silent n = its traces, never a cons@N estimate of traces not made)."""
        p = parsed.problem
        qid = self.pool_ids.get(p.question)
        if qid is None:
            raise bad("the prompt is not a question of the replayed pool (--pool)", "prompt")
        have = len(backend.pool_question(qid).traces)
        if parsed.cfg.n > have:
            raise bad(
                f"n = {parsed.cfg.n}: the replayed pool has {have} traces of this question", "n"
            )
        return Problem(qid, p.question, None, p.answer_type)

    def _answer(self, parsed, live, body, chat: bool, info: dict):
        """The OpenAI response (JSON, or server-sent events for ``stream``), its counters and log."""
        from fastapi.responses import JSONResponse, StreamingResponse

        resp = respond(parsed, live)
        dp = resp["deepprune"]
        for name, v in (("generated_tokens_total", dp["tokens"]), ("probe_tokens_total", dp["probe_tokens"]),
                        ("prompt_tokens_total", resp["usage"]["prompt_tokens"]),
                        ("judge_tokens_total", dp["judge_tokens"]),
                        ("cons_n_estimate_tokens_total", dp["cons_n_estimate"])):  # fmt: skip
            self.count(name, v)
        if parsed.stream:  # the vote is in: the choices as server-sent events (its_hub's choice)
            opts = body.get("stream_options") or {}
            usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
            out = StreamingResponse(
                iter(sse_events(resp, chat, usage)), media_type="text/event-stream"
            )
        else:
            out = JSONResponse(resp)
        info["log"].update(problem_id=parsed.problem.id, answer=dp["answer"], tokens=dp["tokens"],
                           probe_tokens=dp["probe_tokens"], cons_n_estimate=dp["cons_n_estimate"])  # fmt: skip
        return out

    async def _backend(self, model: str, chat: bool, request) -> Bounded:
        """The upstream for (model, api), its slots shared by every request, sending this request's
        own key (:meth:`_client_key`): a key is never cached for, or sent by, another request."""
        if self.job.pool is not None:
            return self.backends[("replay", False)]
        key, client_key = (model, chat), self._client_key(request)
        b = self.backends.get(key)
        if b is None:
            b = get_backend("openai", base_url=self.job.upstream, model=model, api="chat" if chat else "completions",
                            api_key=self.job.upstream_api_key or "EMPTY", timeout=self.job.timeout,
                            retries=self.job.retries)  # fmt: skip
            try:
                await b.with_api_key(client_key or "EMPTY").check()
            except UpstreamRefused:
                await b.close()
                raise
            except DeepPruneError as e:
                await b.close()
                raise ProxyError(
                    404 if "unknown model" in str(e) else 502, str(e), "model"
                ) from None
            b = self.backends.setdefault(key, Bounded(b, self.job.upstream_concurrency))
        return b if self.job.upstream_api_key else b.keyed(client_key or "EMPTY")

    def _judge(self, spec: str):
        if spec not in self.judges:
            from deepprune.judges import get_judge

            try:
                self.judges[spec] = get_judge(spec)
            except (ConfigError, FileNotFoundError) as e:
                raise bad(f"judge {spec!r}: {e}", "deepprune.judge") from None
        return self.judges[spec]

    async def _pass(self, request, body, chat: bool, info: dict, unpruned: str | None = None):
        """n = 1 (or a request the vote cannot honour, ``unpruned`` saying why): the request as it
        came (less our ``deepprune`` field), the upstream's answer as it is; an unpruned one says so
        in ``deepprune`` (``pruned: false`` and the reason) and in the ``X-DeepPrune-Pruned`` header."""
        import httpx
        from fastapi.responses import JSONResponse, StreamingResponse

        if isinstance(body, dict):
            body.pop("deepprune", None)
        url = self.job.upstream.rstrip("/") + ("/chat/completions" if chat else "/completions")
        req = self.http.build_request("POST", url, json=body, headers=self._auth(request))
        try:
            r = await self.http.send(req, stream=True)
        except httpx.HTTPError as e:
            raise DeepPruneError(
                f"{self.job.upstream}: {type(e).__name__}: {e or 'no answer'}"
            ) from None
        if not (isinstance(body, dict) and body.get("stream")):
            try:
                data = json.loads(await r.aread())
            except (json.JSONDecodeError, httpx.HTTPError) as e:
                raise DeepPruneError(
                    f"{self.job.upstream}: not a JSON answer ({type(e).__name__})"
                ) from None
            finally:
                await r.aclose()
            usage = (data.get("usage") or {}) if isinstance(data, dict) else {}
            usage = usage if isinstance(usage, dict) else {}
            self.count("generated_tokens_total", usage.get("completion_tokens") or 0)
            self.count("prompt_tokens_total", usage.get("prompt_tokens") or 0)
            if unpruned is not None and isinstance(data, dict) and r.status_code == 200:
                data["deepprune"] = {"pruned": False, "reason": unpruned}
            return JSONResponse(data, status_code=r.status_code, headers=said_headers(unpruned))

        return StreamingResponse(self._relay(r), status_code=r.status_code, media_type="text/event-stream",
                                 headers=said_headers(unpruned))  # fmt: skip

    async def _relay(self, r):
        """A streamed upstream answer relayed line by line, its tokens counted; a stream that breaks (or ends
        without ``[DONE]``) ends with an error event, never silently."""
        import httpx

        tokens, usage, prompt, done = 0, None, 0, False
        try:
            async for line in r.aiter_lines():
                done = done or line.strip() == "data: [DONE]"
                if line.startswith("data: ") and line != "data: [DONE]":
                    try:
                        chunk = json.loads(line[6:])
                        usage = (chunk.get("usage") or {}).get("completion_tokens", usage)
                        prompt = (chunk.get("usage") or {}).get("prompt_tokens") or prompt
                        tokens += any(c.get("text") or (c.get("delta") or {}).get("content")
                                      for c in chunk.get("choices") or [])  # fmt: skip
                    except (json.JSONDecodeError, AttributeError):
                        pass
                yield line + "\n"
            if not done and r.status_code == 200:
                raise httpx.RemoteProtocolError("the stream ended without [DONE]")
        except httpx.HTTPError as e:  # a broken upstream stream: an error event, never a silent end
            err = ProxyError(
                502, f"{self.job.upstream}: the stream broke ({type(e).__name__}: {e})"
            )
            yield f"data: {json.dumps(err.body())}\n\n"
        finally:
            await r.aclose()
            self.count("generated_tokens_total", usage if usage is not None else tokens)
            self.count("prompt_tokens_total", prompt)  # where the stream's usage chunk says it
