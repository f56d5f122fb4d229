"""A fault-injecting OpenAI-compatible server (stdlib, 127.0.0.1) for tests and the bad-input bench.

    python -m deepprune.dev.fault_server --port 9000      # then --base-url http://127.0.0.1:9000/MODE/v1

One server answers every fault mode; the mode is the first path segment of the base URL
(``/ok/v1``, ``/http500/v1``, ...). Mode ``ok`` is a well-behaved server: deterministic text of one
token per word (a few reasoning words, then ``The answer is 42.``; the seed picks 42 or 7),
one streamed chunk per token, ``max_tokens`` and ``stop`` honoured (each choice says which stop
ended it, as vLLM's ``stop_reason``; ``FaultServer(stop_reason=False)``: it does not, as llama.cpp),
``usage`` exact; an answer probe (a prompt that ends inside ``\\boxed{``) is answered
:data:`~deepprune.dev.fault_text.PROBE_REPLY`, a nested answer and more text, as a model that goes on writing. Every other mode breaks
one thing (:data:`MODES`). ``GET /MODE/v1/models`` answers in every mode, so a client gets past
its start-up check and meets the fault on its first completion.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from deepprune.dev.fault_text import FILLER, apply_stop, reply_tokens

MODEL = "fault-model"
MODES = {
    "ok": "a well-behaved server",
    "http500": "HTTP 500 with an OpenAI-style error body",
    "html200": "HTTP 200 with an HTML page",
    "no-usage": "no usage field (non-streamed), no usage chunk (streamed)",
    "empty-choices": "choices: []",
    "no-choices": "a JSON object without choices",
    "cut-json": "the body ends before its Content-Length (non-streamed); a cut JSON chunk (streamed)",
    "disconnect": "the stream stops after a few tokens, without a finish reason or [DONE] (non-streamed: no response)",
    "bad-sse": "an SSE chunk that is not JSON (non-streamed: a body that is not JSON)",
    "stall": "a few tokens, then nothing, the connection open (non-streamed: no answer)",
    "ignore-max-tokens": "generates past max_tokens, without end",
    "negative-usage": "usage.completion_tokens = -5",
    "zero-usage": "usage.completion_tokens = 0 for a non-empty text",
    "usage-above-max": "usage.completion_tokens = max_tokens + 100",
    "usage-mismatch": "usage.completion_tokens = half the tokens streamed",
    "usage-not-int": "usage.completion_tokens = 7.5",
    "usage-no-count": "a usage without completion_tokens",
    "usage-plus-one": "usage.completion_tokens = the tokens streamed + 1 (one the client never saw)",
    "cached-prefix": "usage.prompt_tokens_details.cached_tokens = 6 (a prefix-cache hit)",
    "http403": "HTTP 403 (a key without the permission) with an OpenAI-style error body",
    "no-logprobs": "log-probabilities asked for, none returned",
    "bad-text": "each choice's text is a number",
    "empty-token": "a streamed chunk of empty text (a token that decodes to nothing) after the first token",
}
# the tokenizer routes a server may offer (FaultServer(tokenize=...)): vLLM's, llama-cpp-python's
TOKENIZE_ROUTES = {"/tokenize": "vllm", "/extras/tokenize/count": "llamacpp"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"  # close-delimited bodies: a cut is only visible from the content

    def log_message(self, *args):
        pass

    def _mode(self) -> tuple[str | None, str]:
        parts = self.path.strip("/").split("/", 1)
        if len(parts) < 2 or parts[0] not in MODES:  # no mode in the path: the server's current one
            return self.server.mode, self.path
        return parts[0], "/" + parts[1]

    def _send(
        self, code: int, body: bytes, ctype: str = "application/json", length: int | None = None
    ):
        if code == 200:  # a route a test broke (FaultServer.status): its usual body, that status
            code = self.server.status.get(self._mode()[1], 200)
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body) if length is None else length))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, obj, code: int = 200):
        self._send(code, json.dumps(obj).encode())

    def _refused(self) -> bool:
        """With a key set (``FaultServer(api_key=...)``): a request without it gets 401, as a
        key-protected vLLM answers; every refusal is counted (``FaultServer.refused``)."""
        key = self.server.api_key
        if key is None or self.headers.get("Authorization") == f"Bearer {key}":
            return False
        with self.server.lock:
            self.server.refused += 1
        self._json({"error": {"message": "Unauthorized", "type": "invalid_request_error"}}, 401)
        return True

    def _wait(self) -> None:
        """A route a test slowed (FaultServer.delay): it answers after that many seconds."""
        time.sleep(self.server.delay.get(self._mode()[1], 0))

    def do_GET(self):  # noqa: N802 (http.server's name)
        self._wait()
        if (
            self.path == "/health"
        ):  # a router's readiness check (and the context, as deepprune serve says it)
            said = (
                {"max_model_len": self.server.max_model_len}
                if self.server.context_route == "health"
                else {}
            )
            return self._json({"status": "ok", **said})
        if self.path == "/metrics":  # the generated-token counter, as deepprune serve exposes it
            text = f"llamacpp:tokens_predicted_total {self.server.generated}\n"
            return self._send(200, text.encode(), "text/plain")
        mode, rest = self._mode()
        if self._refused():
            return
        if mode is not None and rest == "/v1/models":
            entry = {"id": MODEL, "object": "model"}
            more = [{"id": m, "object": "model"} for m in self.server.more_models]
            if (
                self.server.max_model_len is not None and self.server.context_route == "models"
            ):  # as vLLM lists it
                entry["max_model_len"] = self.server.max_model_len
            return self._json({"object": "list", "data": [entry, *more]})
        self._json({"error": {"message": f"no route {self.path}"}}, 404)

    def do_POST(self):  # noqa: N802
        mode, rest = self._mode()
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        self._wait()
        if self._refused():
            return
        if (
            self.path == "/abort_request"
        ):  # SGLang's: stop the request whose id is ``rid`` (recorded)
            self.server.aborted.append(body.get("rid"))
            return self._json({"success": True})
        if rest in TOKENIZE_ROUTES and TOKENIZE_ROUTES[rest] in self.server.tokenize:
            return self._tokenize(rest, body)
        if mode is None or rest not in ("/v1/completions", "/v1/chat/completions"):
            return self._json({"error": {"message": f"no route {self.path}"}}, 404)
        self.chat = rest == "/v1/chat/completions"  # the same text, in the chat API's shapes
        if "rid" in body:  # SGLang's request id (a client that will abort by it)
            self.server.rids.append(body["rid"])
        if self.chat:
            self.server.chat_requests.append(body)
        with (
            self.server.lock
        ):  # the first ok_requests completions are healthy, the fault comes after
            self.server.served += 1
            if self.server.served <= self.server.ok_requests:
                mode = "ok"
        if body.get("model") != MODEL:  # as vLLM answers a model it does not serve
            return self._json(
                {"error": {"message": f"The model `{body.get('model')}` does not exist."}}, 404
            )
        if mode in ("http500", "http403"):
            code, what = (
                (500, "injected failure") if mode == "http500" else (403, "key lacks permission")
            )
            return self._json({"error": {"message": what, "type": "server_error"}}, code)
        if mode == "html200":
            return self._send(200, b"<html><body>502 Bad Gateway</body></html>", "text/html")
        if not body.get("stream") and mode in (
            "disconnect",
            "stall",
            "bad-sse",
        ):  # their non-streamed form
            if mode == "stall":
                time.sleep(3600)
            if mode == "bad-sse":
                self._send(200, b"{not json")
            return  # disconnect: the connection closes with no response at all
        cap = int(body.get("max_tokens") or 16)
        if mode == "ignore-max-tokens":
            toks = [f" {FILLER[i % len(FILLER)]}" for i in range(cap + 50)]
            return self._stream(mode, body, (toks, len(toks), "length", None), cap) if body.get(
                "stream") else self._complete(mode, body, [(toks, len(toks), "length", None)], cap)  # fmt: skip
        # n choices (a non-streamed request): choice i samples with seed + i, as a server's n would
        seed = body.get("seed") or 0
        samples = [
            self._sample(body, cap, seed + i) for i in range(max(int(body.get("n") or 1), 1))
        ]
        if mode == "empty-token":  # one more token, of no text (streamed as its own chunk)
            samples = [(t, n + 1, f, m) for t, n, f, m in samples]
        if body.get("stream"):
            return self._stream(mode, body, samples[0], cap)
        self._complete(mode, body, samples, cap)

    def _tokenize(self, route: str, body: dict) -> None:
        """vLLM's ``/tokenize`` (``prompt``) or llama-cpp-python's ``/extras/tokenize/count``
        (``input``): the text's whitespace-separated words as its tokens (our choice), or
        ``tokenize_reply`` verbatim where a test set one; every call recorded (``tokenized``)."""
        text = body.get("prompt" if route == "/tokenize" else "input")
        with self.server.lock:
            self.server.tokenized.append((route, body))
        if body.get("model") != MODEL or not isinstance(text, str):
            return self._json({"error": {"message": "bad tokenize request"}}, 400)
        reply = self.server.tokenize_reply
        self._json(reply if reply is not None else {"count": len(text.split())})

    def _sample(self, body: dict, cap: int, seed: int) -> tuple[list[str], int, str, str | None]:
        """(text tokens, tokens generated, finish reason, stop string matched) of one choice."""
        msgs = body.get("messages") or [{}]
        said = body.get("prompt", "") if not self.chat else str(msgs[-1].get("content") or "")
        full = reply_tokens(said if isinstance(said, str) else "", seed)
        toks, n, matched = apply_stop(full[:cap], body.get("stop"))
        return toks, n, "stop" if matched is not None or len(full) <= cap else "length", matched

    def _complete(self, mode: str, body: dict, samples: list, cap: int) -> None:
        usage = self._usage(mode, sum(n for _, n, _, _ in samples), cap * len(samples))
        self._generated(sum(n for _, n, _, _ in samples))

        def choice(i, text, finish, matched):
            c, text = {"index": i, "finish_reason": finish}, 7 if mode == "bad-text" else text
            if self.chat:
                c["message"] = {"role": "assistant", "content": text}
            else:
                c.update(text=text, logprobs=None)
            if self.server.stop_reason:  # as vLLM says it: the stop string, None for an end of text
                c["stop_reason"] = matched
            return c

        out = {"id": "cmpl-f", "object": "chat.completion" if self.chat else "text_completion", "created": 0,
               "model": MODEL, "choices": [choice(i, "".join(t), f, m) for i, (t, _, f, m) in enumerate(samples)]}  # fmt: skip
        if usage is not None:
            out["usage"] = usage
        if mode == "empty-choices":
            out["choices"] = []
        if mode == "no-choices":
            del out["choices"]
        data = json.dumps(out).encode()
        if mode == "cut-json":
            return self._send(200, data[: len(data) // 2], length=len(data))
        self._send(200, data)

    def _generated(self, n: int) -> None:
        with self.server.lock:
            self.server.generated += n

    @staticmethod
    def _usage(mode: str, n: int, cap: int) -> dict | None:
        completion = {"negative-usage": -5, "zero-usage": 0, "usage-above-max": cap + 100,
                      "usage-mismatch": n // 2, "usage-not-int": 7.5, "usage-plus-one": n + 1}.get(mode, n)  # fmt: skip
        if mode == "no-usage":
            return None
        usage = {
            "prompt_tokens": 10,
            "completion_tokens": completion,
            "total_tokens": 10 + completion,
        }
        if mode == "usage-no-count":
            del usage["completion_tokens"]
        if mode == "cached-prefix":
            usage["prompt_tokens_details"] = {"cached_tokens": 6}
        return usage

    def _chunk(self, obj) -> None:
        self.wfile.write(
            b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n"
        )
        self.wfile.flush()

    def _stream(self, mode: str, body: dict, sample: tuple, cap: int) -> None:
        toks, generated, finish, matched = sample
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()
        k = int(body.get("top_logprobs") or 0) if self.chat else int(body.get("logprobs") or 0)
        if self.chat:  # the chat API opens with the role
            self._chunk({"id": "chatcmpl-f", "object": "chat.completion.chunk", "created": 0, "model": MODEL,
                         "choices": [{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}]})  # fmt: skip

        def choice(text, fin=None):
            k_ = 0 if mode == "no-logprobs" else k
            text = 7 if mode == "bad-text" and text else text
            if self.chat:
                c = {
                    "index": 0,
                    "delta": {"content": text} if text or mode == "empty-token" else {},
                    "finish_reason": fin,
                    "logprobs": None,
                }
                if k_ and text:
                    top = [
                        {"token": f"t{j}", "logprob": -0.1 * (j + 1), "bytes": None}
                        for j in range(k)
                    ]
                    c["logprobs"] = {
                        "content": [
                            {"token": text, "logprob": -0.1, "bytes": None, "top_logprobs": top}
                        ]
                    }
                return c
            c = {"index": 0, "text": text, "finish_reason": fin, "logprobs": None}
            if k_ and text:
                c["logprobs"] = {"tokens": [text], "token_logprobs": [-0.1], "text_offset": [0],
                                 "top_logprobs": [{f"t{j}": -0.1 * (j + 1) for j in range(k)}]}  # fmt: skip
            return c

        def chunk(text, fin=None):
            return {"id": "cmpl-f", "object": "chat.completion.chunk" if self.chat else "text_completion", "created": 0, "model": MODEL,
                    "choices": [choice(text, fin)]}  # fmt: skip

        try:
            if mode == "ignore-max-tokens":
                for i in range(100_000):  # bounded, so a client that never stops ends some day
                    self._chunk(chunk(f" {FILLER[i % len(FILLER)]}"))
                return
            for i, t in enumerate(toks):
                if mode in ("disconnect", "stall") and i == 3:
                    if mode == "stall":
                        time.sleep(3600)
                    return
                if mode == "bad-sse" and i == 2:
                    return self._chunk(b"{not json")
                if mode == "cut-json" and i == 2:
                    return self._chunk(json.dumps(chunk(t)).encode()[:20])
                if mode == "empty-choices":
                    self._chunk({**chunk(t), "choices": []})
                    continue
                self._chunk(chunk(t))
                self._generated(1)
                if mode == "empty-token" and i == 0:  # a token of no text (counted in generated)
                    self._chunk(chunk(""))
            self._generated(generated - len(toks))  # the token that completed a stop string
            last = chunk("", finish)
            if self.server.stop_reason:  # as vLLM says it: the stop string, None for an end of text
                last["choices"][0]["stop_reason"] = matched
            self._chunk(last)
            usage = self._usage(mode, generated, cap)
            if (body.get("stream_options") or {}).get("include_usage") and usage is not None:
                self._chunk({"id": "cmpl-f", "object": "chat.completion.chunk" if self.chat else "text_completion", "created": 0, "model": MODEL,
                             "choices": [], "usage": usage})  # fmt: skip
            self._chunk(b"[DONE]")
        except (BrokenPipeError, ConnectionResetError):
            return  # the client closed the stream


class _Quiet(ThreadingHTTPServer):
    daemon_threads = True
    # the mode of a base URL without one (FaultServer.url(); switched by FaultServer.mode)
    mode = "ok"
    ok_requests = 0  # completions served healthy before the mode applies (a fault mid-run)
    stop_reason = True  # each choice says which stop ended it (FaultServer's stop_reason)
    chat_requests: list = []  # the bodies of chat requests (tests read how a continuation was asked)
    served = 0
    lock = threading.Lock()
    # the listen backlog (default 5): many concurrent traces must not be reset
    request_queue_size = 1024

    def handle_error(self, request, client_address):  # a client that hung up is not news here
        pass


class FaultServer:
    """The fault server on a free port of 127.0.0.1, in a thread (a context manager)."""

    def __init__(self, port: int = 0, api_key: str | None = None, max_model_len: int | None = None,
                 stop_reason: bool = True, tokenize: tuple[str, ...] = (), context_route: str = "models"):  # fmt: skip
        self.httpd = _Quiet(("127.0.0.1", port), _Handler)
        # each choice says which stop ended it, as vLLM does (False: it does not, as llama.cpp)
        self.httpd.stop_reason = stop_reason
        # listed in /models as vLLM does, or in /health as deepprune serve does (None: not said)
        self.httpd.max_model_len, self.httpd.context_route = max_model_len, context_route
        self.httpd.chat_requests = []
        # the tokenizer routes it answers ("vllm", "llamacpp"; none by default), what they were
        # asked, and a reply that replaces the count (None: the count)
        self.httpd.tokenize, self.httpd.tokenized, self.httpd.tokenize_reply = (
            tuple(tokenize),
            [],
            None,
        )
        self.httpd.rids, self.httpd.aborted = (
            [],
            [],
        )  # the requests' rids; those POSTed to /abort_request
        # a test breaks a route (the path after the mode: "/v1/models", "/metrics", "/tokenize", ...):
        # status[route] answers it with that HTTP status (its usual body), delay[route] after that many
        # seconds; more_models are listed in /models after MODEL (completions serve MODEL alone)
        self.status, self.delay, self.more_models = {}, {}, []
        self.httpd.status, self.httpd.delay = self.status, self.delay
        self.httpd.more_models = self.more_models
        self.httpd.api_key, self.httpd.refused = api_key, 0
        self.httpd.generated = 0  # tokens sent in completions (GET /metrics)
        self.port = self.httpd.server_address[1]

    def url(self, mode: str | None = None) -> str:
        """The base URL of ``mode`` (``http://127.0.0.1:PORT/MODE/v1``); without one, the URL whose
        mode is :attr:`mode` (one URL, so a run can resume against the same server once healthy)."""
        if mode is None:
            return f"http://127.0.0.1:{self.port}/v1"
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(MODES)}")
        return f"http://127.0.0.1:{self.port}/{mode}/v1"

    def fail_after(self, mode: str, ok_requests: int) -> None:
        """Serve ``ok_requests`` more completions healthily, then every one with ``mode``."""
        self.mode = mode
        with self.httpd.lock:
            self.httpd.served, self.httpd.ok_requests = 0, ok_requests

    @property
    def refused(self) -> int:
        """Requests refused for a missing or wrong key."""
        return self.httpd.refused

    @property
    def mode(self) -> str:
        return self.httpd.mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown fault mode {mode!r}; known: {', '.join(MODES)}")
        self.httpd.mode = mode

    def __enter__(self) -> FaultServer:
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=9000)
    port = ap.parse_args(argv).port
    with FaultServer(port):
        print(
            f"fault server on http://127.0.0.1:{port}/MODE/v1; modes: {', '.join(MODES)}",
            flush=True,
        )
        threading.Event().wait()


if __name__ == "__main__":
    main()
