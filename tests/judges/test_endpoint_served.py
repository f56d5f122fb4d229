"""The endpoint judge against our own OpenAI-compatible test server (stdlib, 127.0.0.1): what the live
ledger charges for it is exactly the usage that server reported."""

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from deepprune.engine.solve import SolveConfig, solve
from deepprune.judges import JudgePair, get_judge
from tests.conftest import DEMO_POOL

PROMPT_TOKENS, COMPLETION_TOKENS = 100, 1  # what this server reports per request


class _Judge(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server's name)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert body["max_tokens"] == 1 and body["logprobs"] == 20
        assert "### Trace A" in body["prompt"]  # every pair: "yes" at 0.8, "no" at 0.2
        out = {"id": "x", "object": "text_completion", "created": 0, "model": body["model"],
               "choices": [{"index": 0, "text": " yes", "finish_reason": "length",
                            "logprobs": {"tokens": [" yes"], "token_logprobs": [-0.22],
                                         "top_logprobs": [{" yes": -0.2231435513, " no": -1.6094379124}],
                                         "text_offset": [0]}}],
               "usage": {"prompt_tokens": PROMPT_TOKENS, "completion_tokens": COMPLETION_TOKENS,
                         "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS}}  # fmt: skip
        data = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def judge_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Judge)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{srv.server_address[1]}/v1"
    srv.shutdown()


def test_scores_and_served_tokens(judge_server):
    judge = get_judge(f"llm:endpoint={judge_server},model=j,concurrency=3")
    s = judge.score([JudgePair("a", "b")] * 5)
    assert s == pytest.approx([0.8] * 5, abs=1e-6)
    assert judge.requests == 5 and judge.served_tokens == 5 * (PROMPT_TOKENS + COMPLETION_TOKENS)
    both = get_judge(f"llm:endpoint={judge_server},model=j,both_orders=1")
    both.score([JudgePair("a", "b")])
    assert both.served_tokens == 2 * (
        PROMPT_TOKENS + COMPLETION_TOKENS
    )  # both orders: two requests


def test_the_live_ledger_charges_the_judge_servers_usage(judge_server):
    cfg = SolveConfig(n=8, methods=("deepprune",), judge=f"llm:endpoint={judge_server},model=j",
                      trunc="tokens:40", deterministic=True, max_tokens=10**7)  # fmt: skip
    res = solve(None, cfg, backend="replay", pool=str(DEMO_POOL), progress=False)
    recs = res["records"][:3]
    assert all(r["judge_calls"] > 0 for r in recs)
    for r in recs:  # every comparison is one request (no pair is scored twice within a problem)
        assert r["judge_tokens"] == r["judge_calls"] * (PROMPT_TOKENS + COMPLETION_TOKENS)


class _Locked(_Judge):
    """The same server behind an API key, as `vllm serve --api-key` runs it."""

    def do_GET(self):  # noqa: N802
        if self.headers.get("Authorization") != "Bearer sekret":
            return self._answer({"error": {"message": "bad key", "type": "auth"}}, 401)
        self._answer({"object": "list", "data": [{"id": "m", "object": "model"}]})

    def do_POST(self):  # noqa: N802
        if self.headers.get("Authorization") != "Bearer sekret":
            self.rfile.read(int(self.headers["Content-Length"]))
            return self._answer({"error": {"message": "bad key", "type": "auth"}}, 401)
        super().do_POST()

    def _answer(self, body, status=200):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def test_the_generation_backend_sends_the_api_key_from_the_flag_or_the_environment(monkeypatch):
    import asyncio

    from deepprune.engine.backends import Server, get_backend
    from deepprune.errors import DeepPruneError

    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Locked)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{srv.server_address[1]}/v1"
    try:
        monkeypatch.delenv("OPENAI_API_KEY", raising=False)

        def check(**kw):
            args = Server(problems="p", base_url=url, model="m", **kw).args()
            asyncio.run(get_backend(args.pop("backend"), **args).check())

        check(api_key="sekret")  # the key opens /models
        monkeypatch.setenv("OPENAI_API_KEY", "sekret")
        check()
        monkeypatch.delenv("OPENAI_API_KEY")
        with pytest.raises(DeepPruneError, match="401"):  # no key: refused, in one line
            check()
    finally:
        srv.shutdown()
