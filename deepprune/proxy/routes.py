"""The proxy's routes (vLLM's ``api_router``): what each URL does, the inbound-key and request-id
middleware, and OpenAI's error shape for unknown routes and methods. Serving lives in
:mod:`deepprune.proxy.app`, the pure translation in :mod:`deepprune.proxy.core`.

- ``POST /v1/completions``, ``POST /v1/chat/completions``: admission, then serving.
- ``GET /v1/models`` (the upstream's), ``GET /health`` (liveness), ``GET /ready`` (the upstream
  answers), ``GET /metrics`` (Prometheus text).
"""

import asyncio

from deepprune.proxy.core import ProxyError


def build_app(proxy):
    """The FastAPI app of ``proxy`` (a :class:`deepprune.proxy.app.Proxy`): its routes, its auth and
    request-id middleware, and OpenAI-shaped errors for unknown routes."""
    from contextlib import asynccontextmanager

    from fastapi import FastAPI

    @asynccontextmanager
    async def lifespan(_app):
        import httpx

        proxy.slots = asyncio.Semaphore(proxy.job.max_running)
        proxy.closed = asyncio.Event()
        proxy.http = httpx.AsyncClient(timeout=proxy.job.timeout)
        yield
        proxy.closing = True
        for b in proxy.backends.values():
            await b.close()
        await proxy.http.aclose()

    app = FastAPI(title="deepprune proxy", lifespan=lifespan)

    _middleware(app, proxy)
    _routes(app, proxy)
    return app


def _middleware(app, proxy) -> None:
    """The inbound key (--api-key) and X-Request-Id, around every route."""
    app.add_middleware(_Edge, proxy=proxy)


class _Edge:
    """--api-key and X-Request-Id around every route, as plain ASGI: Starlette's BaseHTTPMiddleware
    (``@app.middleware``) would hide a client's disconnect from the routes, and a request whose
    client hung up would run on upstream."""

    def __init__(self, app, proxy):
        self.app, self.proxy = app, proxy

    async def __call__(self, scope, receive, send):
        import re
        import uuid

        from fastapi.responses import JSONResponse
        from starlette.requests import Request

        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        request = Request(scope, receive)
        # X-Request-Id: the client's (a safe one) or a new one; returned and in the log line
        rid = request.headers.get("x-request-id", "")
        if not re.fullmatch(r"[\w.:-]{1,128}", rid):
            rid = uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid

        async def send_with_id(message):
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        # --api-key: every /v1 route needs it (as `vllm serve --api-key`); /health, /metrics do not
        if (
            self.proxy.job.api_key
            and scope["path"].startswith("/v1")
            and not self.proxy.client_ok(request)
        ):
            err = ProxyError(401, "a missing or wrong API key (Authorization: Bearer KEY)",
                             kind="invalid_request_error")  # fmt: skip
            return await JSONResponse(err.body(), status_code=401)(scope, receive, send_with_id)
        await self.app(scope, receive, send_with_id)


def _routes(app, proxy) -> None:
    """The OpenAI routes, liveness, readiness, metrics, and OpenAI-shaped 404/405."""
    from fastapi import Request
    from fastapi.responses import JSONResponse, PlainTextResponse
    from starlette.exceptions import HTTPException as StarletteHTTPException

    @app.post("/v1/completions")
    async def completions(request: Request):
        return await proxy.handle(request, chat=False)

    @app.post("/v1/chat/completions")
    async def chat(request: Request):
        return await proxy.handle(request, chat=True)

    @app.get("/v1/models")
    async def models(request: Request):
        if proxy.job.pool is not None:
            return {
                "object": "list",
                "data": [{"id": "replay", "object": "model", "owned_by": "deepprune"}],
            }
        try:
            r = await proxy.http.get(
                proxy.job.upstream.rstrip("/") + "/models", headers=proxy._auth(request)
            )
            return JSONResponse(r.json(), status_code=r.status_code)
        except Exception as e:  # noqa: BLE001 - the upstream's failure, in one line
            err = ProxyError(502, f"{proxy.job.upstream}: /models: {type(e).__name__}: {e}")
            return JSONResponse(err.body(), status_code=502)

    @app.get("/health")
    async def health():
        if proxy.closing:
            return JSONResponse({"status": "shutting down"}, status_code=503)
        return {"status": "ok", "running": proxy.running, "waiting": proxy.waiting}

    @app.get("/ready")
    async def ready(request: Request):
        return await proxy.ready(request)

    @app.get("/metrics")
    async def metrics():
        return PlainTextResponse(proxy.metrics_text())

    @app.exception_handler(StarletteHTTPException)
    async def not_found(request, exc):  # 404, 405: OpenAI's error shape too, naming the route
        what = {404: "no route", 405: "method not allowed on"}.get(exc.status_code, str(exc.detail))
        err = ProxyError(exc.status_code, f"{what} {request.method} {request.url.path}",
                         kind="invalid_request_error")  # fmt: skip
        return JSONResponse(err.body(), status_code=exc.status_code)
