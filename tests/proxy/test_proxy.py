"""The pruning proxy with the real ``openai`` SDK as its client, in front of our fault-injecting
OpenAI-compatible server (a well-behaved upstream, and each fault) or a replayed pool: n = 1
passes through unchanged, n > 1 runs the method with the seeds and tokens ``solve`` gives the
same problem, every failure is OpenAI's error JSON, nothing hangs, ``/metrics`` adds up."""

import asyncio
import json
import socket
import threading
import urllib.error
import urllib.request

import numpy as np
import openai
import pytest

from deepprune.dev.fault_server import FaultServer
from deepprune.engine.problems import Problem
from deepprune.engine.solve import SolveConfig, solve
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.proxy.core import PROXY_METHODS, problem_id
from deepprune.proxy.job import ProxyConfig, ProxyJob
from tests.conftest import ROOT

TEXT = {
    "judge": "lexical:jaccard",
    "trunc": "tokens:4",
}  # a text judge: the fault server's probes mean nothing


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def upstream():
    with FaultServer() as fs:
        yield fs


def _proxy(upstream=None, mode="ok", **kw):
    cfg = ProxyConfig(
        **{
            "max_tokens": 20,
            "cluster": ClusterConfig(K2=2, K3=2),
            "deterministic": True,
            **kw.pop("config", {}),
        }
    )
    where = {"pool": kw.pop("pool")} if "pool" in kw else {"upstream": upstream.url(mode)}
    return ProxyJob(port=_port(), config=cfg, **where, **kw).start()


def _client(h, **kw):
    return openai.OpenAI(base_url=h.url, api_key="none", max_retries=0, **kw)


def _post(url: str, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def _wait_running(h, t: threading.Thread, limit: float = 30.0) -> None:
    """Until the proxy runs the request thread ``t`` sent (failing after ``limit`` s, not hanging)."""
    import time

    deadline = time.monotonic() + limit
    while h.proxy.running == 0:
        assert t.is_alive() and time.monotonic() < deadline, "the request never started running"
        t.join(0.02)


def test_n1_passes_through_and_n8_is_pruned_with_solves_seeds_and_tokens(upstream):
    with _proxy(upstream, method="deepprune", config=TEXT) as h:
        c = _client(h)
        one = c.completions.create(model="fault-model", prompt="1+1?", max_tokens=20, seed=3)
        direct = openai.OpenAI(base_url=upstream.url("ok"), api_key="x").completions.create(
            model="fault-model", prompt="1+1?", max_tokens=20, seed=3
        )
        assert one.choices[0].text == direct.choices[0].text and one.usage == direct.usage
        r = c.completions.create(
            model="fault-model",
            prompt="1+1?",
            n=8,
            max_tokens=20,
            seed=5,
            extra_body={"deepprune": {"method": "deepprune"}},
        )
        dp = r.model_extra["deepprune"]
        # the same problem through `deepprune solve`: its id is the prompt's, the request's seed
        cfg = SolveConfig(
            n=8,
            max_tokens=20,
            seed=5,
            cluster=ClusterConfig(K2=2, K3=2),
            deterministic=True,
            methods=("deepprune",),
            prompt="{question}",
            **TEXT,
        )
        ref = solve(
            [Problem(problem_id("1+1?"), "1+1?")],
            cfg,
            base_url=upstream.url("ok"),
            model="fault-model",
            progress=False,
        )["records"][0]
        assert dp["tokens"] == ref["tokens"] and dp["answer"] == ref["answer"]
        assert dp["completed"] == sorted(ref["completed"]) and len(r.choices) == len(
            ref["completed"]
        )
        assert r.usage.completion_tokens == ref["tokens"] + ref["probe_tokens"]
        assert all(
            ch.text.rstrip(".").endswith(dp["answer"]) for ch in r.choices[:1]
        )  # the vote's trace first
        assert dp["cons_n_estimate"] > dp["tokens"]  # 2 of 8 completed: the estimate is for 8
        assert _metric(h, "generated_tokens_total") == dp["tokens"] + one.usage.completion_tokens


def test_return_vote_gives_one_choice_and_chat_works(upstream):
    with _proxy(upstream, method="cons@N", returns="vote") as h:
        c = _client(h)
        r = c.chat.completions.create(
            model="fault-model",
            n=4,
            max_tokens=20,
            seed=1,
            messages=[{"role": "user", "content": "1+1?"}],
        )
        assert len(r.choices) == 1 and r.object == "chat.completion"
        assert (
            r.choices[0].message.content.rstrip(".").endswith(r.model_extra["deepprune"]["answer"])
        )
        assert upstream.httpd.chat_requests[-1]["messages"] == [{"role": "user", "content": "1+1?"}]
        r = c.completions.create(
            model="fault-model",
            prompt="1+1?",
            n=4,
            max_tokens=20,
            extra_body={"deepprune": {"return": "choices"}},
        )
        assert (
            len(r.choices) == 4
            and r.usage.completion_tokens == r.model_extra["deepprune"]["tokens"]
        )


@pytest.mark.parametrize("body, says", [
    (b"{not json", "not valid JSON"),
    (json.dumps({"model": "fault-model", "prompt": "x", "n": 0}).encode(), "n must be in [1, 512]"),
    (json.dumps({"model": "fault-model", "prompt": "x", "n": 10000}).encode(), "n must be in [1, 512]"),
    (json.dumps({"model": "fault-model", "prompt": "x", "n": 4, "deepprune": {"metod": "x"}}).encode(),
     "unknown deepprune option(s) metod"),
    (json.dumps({"model": "fault-model", "prompt": "x", "n": 4, "deepprune": {"method": "cons@k"}}).encode(),
     "cons@k is cons@N with n=k"),
    (json.dumps({"model": "fault-model", "prompt": "x", "n": 4, "deepprune": {"judge": "nope"}}).encode(),
     "is not allowed here"),
    (json.dumps({"model": "fault-model", "prompt": "x", "n": 4, "bogus": 1}).encode(), "unknown field(s) bogus"),
    (json.dumps({"model": "nope", "prompt": "x", "n": 4}).encode(), "unknown model"),
])  # fmt: skip
def test_a_bad_request_is_one_openai_error_line(upstream, body, says):
    with _proxy(upstream, config=TEXT) as h:
        status, got = _post(h.url + "/completions", body)
    assert status in (400, 404), got
    err = got["error"]
    assert says in err["message"] and "\n" not in err["message"] and err["code"] == status


@pytest.mark.parametrize("mode", ["http500", "disconnect", "stall", "bad-sse"])
def test_an_upstream_fault_is_a_502_never_a_hang(upstream, mode):
    with _proxy(upstream, mode, method="cons@N", timeout=2.0, retries=0) as h:
        status, got = _post(
            h.url + "/completions",
            json.dumps({"model": "fault-model", "prompt": "x", "n": 4, "max_tokens": 20}).encode(),
        )
    assert status == 502 and got["error"]["type"] == "upstream_error", got
    assert "request" in got["error"]["message"] and "\n" not in got["error"]["message"]


def test_the_deadline_is_a_504_and_the_upstream_stream_is_closed(upstream):
    with _proxy(upstream, "stall", method="cons@N", timeout=30.0, request_timeout=1.0) as h:
        status, got = _post(
            h.url + "/completions",
            json.dumps({"model": "fault-model", "prompt": "x", "n": 2, "max_tokens": 20}).encode(),
        )
        assert status == 504 and "--request-timeout" in got["error"]["message"]
        assert h.proxy.running == 0


@pytest.mark.slow  # ~5 s: it waits out a queue (the fast suite stays under 2 minutes)
def test_a_full_queue_is_a_429_with_retry_after(upstream):
    with _proxy(
        upstream, "stall", method="cons@N", timeout=5.0, retries=0, max_running=1, max_queued=0
    ) as h:
        body = json.dumps(
            {"model": "fault-model", "prompt": "x", "n": 2, "max_tokens": 20}
        ).encode()
        first = threading.Thread(target=_post, args=(h.url + "/completions", body))
        first.start()
        _wait_running(h, first)
        req = urllib.request.Request(
            h.url + "/completions", data=body, headers={"Content-Type": "application/json"}
        )
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(req, timeout=30)
        assert e.value.code == 429 and e.value.headers["Retry-After"] == "1"
        assert "retry later" in json.loads(e.value.read())["error"]["message"]
        first.join(30)
        assert h.proxy.total("rejected_total") == 1


def test_shutdown_cancels_running_requests_and_closes_their_upstream_calls(upstream):
    h = _proxy(upstream, "stall", method="cons@N", timeout=60.0, shutdown_grace=0.5)
    box = {}
    t = threading.Thread(
        target=lambda: box.update(
            r=_post(
                h.url + "/completions",
                json.dumps(
                    {"model": "fault-model", "prompt": "x", "n": 2, "max_tokens": 20}
                ).encode(),
            )
        ),
        daemon=True,
    )
    t.start()
    _wait_running(h, t)
    h.stop()
    assert not h.thread.is_alive()  # stopped within the grace, not after the 60 s upstream timeout
    assert h.proxy.running == 0
    t.join(10)
    status, got = box["r"]
    assert status == 503 and "--shutdown-grace" in got["error"]["message"]


def test_the_replayed_pool_serves_its_own_questions_and_refuses_others():
    pool = ROOT / "deepprune" / "data" / "demo_pool.jsonl"
    first = json.loads(pool.read_text().splitlines()[0])
    with _proxy(pool=str(pool), method="short-m@k", config={"short_k": 4, "max_tokens": 4096}) as h:
        c = _client(h)
        r = c.completions.create(model="replay", prompt=first["question"], n=8, max_tokens=4096)
        dp = r.model_extra["deepprune"]
        assert dp["problem_id"] == first["id"] and dp["k"] == 4 and len(r.choices) == 1
        with pytest.raises(openai.BadRequestError, match="not a question of the replayed pool"):
            c.completions.create(model="replay", prompt="what?", n=8)


def test_a_replayed_pool_lacking_what_the_method_reads_is_a_400_not_a_stand_in(tmp_path):
    textless = tmp_path / "textless.jsonl"
    rows = [
        json.loads(x)
        for x in (ROOT / "deepprune" / "data" / "demo_pool.jsonl").read_text().splitlines()
    ]
    for q in rows:
        for t in q["traces"]:
            t.pop("text")
    textless.write_text("".join(json.dumps(q) + "\n" for q in rows))
    with _proxy(pool=str(textless), method="deepprune", config={**TEXT, "max_tokens": 10**6}) as h:
        c = _client(h)
        with pytest.raises(openai.BadRequestError, match="traces have no text"):
            c.completions.create(model="replay", prompt=rows[0]["question"], n=8)
        with pytest.raises(openai.BadRequestError, match="no answer probes"):
            c.completions.create(model="replay", prompt=rows[0]["question"], n=8,
                                 extra_body={"deepprune": {"method": "parallel-probe"}})  # fmt: skip


def test_the_job_refuses_bad_settings():
    with pytest.raises(ConfigError, match="exactly one"):
        ProxyJob()
    with pytest.raises(ConfigError, match="unknown --method"):
        ProxyJob(upstream="http://x/v1", method="cons@k")


def test_async_client_many_at_once(upstream):
    """16 clients at once, each n=4: every answer whole, the counters add up."""
    with _proxy(upstream, method="cons@N", max_running=4) as h:

        async def go():
            c = openai.AsyncOpenAI(base_url=h.url, api_key="none", max_retries=0)
            rs = await asyncio.gather(
                *(
                    c.completions.create(model="fault-model", prompt=f"q{i}", n=4, max_tokens=20)
                    for i in range(16)
                )
            )
            await c.close()
            return rs

        rs = asyncio.run(go())
        assert all(len(r.choices) == 4 for r in rs)
        assert h.proxy.total("generated_tokens_total") == sum(r.usage.completion_tokens for r in rs)


def test_usage_counts_probe_tokens_and_the_cons_n_estimate_is_n_times_the_completed_mean(upstream):
    """The probe judge: usage = traces + probes (as solve's ledger counts them on the same problem);
    the cons@N estimate = n x the mean whole length of the completed traces (prefix + continuation)."""
    probe = {"judge": "probe", "trunc": "probe:1", "probe_every": 4}
    with _proxy(upstream, method="deepprune", config=probe) as h:
        c = _client(h)
        r = c.completions.create(model="fault-model", prompt="2+2?", n=6, max_tokens=20, seed=9)
        dp = r.model_extra["deepprune"]
        cfg = SolveConfig(n=6, max_tokens=20, seed=9, cluster=ClusterConfig(K2=2, K3=2), deterministic=True, methods=("deepprune",),
                          prompt="{question}", **probe)  # fmt: skip
        ref = solve([Problem(problem_id("2+2?"), "2+2?")], cfg, base_url=upstream.url("ok"), model="fault-model",
                    progress=False)["records"][0]  # fmt: skip
        assert ref["probe_tokens"] > 0 and dp["probe_tokens"] == ref["probe_tokens"]
        assert r.usage.completion_tokens == ref["tokens"] + ref["probe_tokens"]
        per = {}
        for rid, tokens in ref["requests"]:
            parts = rid.split("/")
            if len(parts) == 2:  # a trace's prefix or continuation, not a probe
                i = int(parts[1].split("+")[0])
                per[i] = per.get(i, 0) + tokens
        lengths = [per[i] for i in ref["completed"]]
        assert dp["cons_n_estimate"] == round(6 * sum(lengths) / len(lengths))
        whole = c.completions.create(model="fault-model", prompt="2+2?", n=6, max_tokens=20, seed=9,
                                     extra_body={"deepprune": {"method": "cons@N"}})  # fmt: skip
        assert (
            whole.model_extra["deepprune"]["cons_n_estimate"]
            == whole.model_extra["deepprune"]["tokens"]
        )
        assert _metric(h, "probe_tokens_total") == dp["probe_tokens"]
        assert (
            _metric(h, "cons_n_estimate_tokens_total")
            == dp["cons_n_estimate"] + whole.model_extra["deepprune"]["tokens"]
        )


def _metric(h, name: str) -> float:
    text = urllib.request.urlopen(h.url.removesuffix("/v1") + "/metrics").read().decode()
    return sum(
        float(x.split()[-1]) for x in text.splitlines() if x.startswith(f"deepprune_proxy_{name}")
    )


def test_a_slow_judge_blocks_no_one_and_the_deadline_still_fires(upstream, monkeypatch):
    """A judge that takes seconds per call (a model, a judge server) runs off the event loop: the
    proxy's /health answers meanwhile and --request-timeout still ends the request (504)."""
    import time

    from deepprune.judges.lexical import JaccardJudge

    def slow(self, texts, i, j, question=None):
        time.sleep(1.5)
        return np.full(len(i), 0.9)

    monkeypatch.setattr(JaccardJudge, "inline", False)  # as a model judge: in a worker thread
    monkeypatch.setattr(JaccardJudge, "score_indexed", slow)
    with _proxy(upstream, method="deepprune", config=TEXT, request_timeout=2.0) as h:
        body = json.dumps(
            {"model": "fault-model", "prompt": "x", "n": 6, "max_tokens": 20}
        ).encode()
        got, t = (
            {},
            threading.Thread(target=lambda: got.update(r=_post(h.url + "/completions", body))),
        )
        t0 = time.monotonic()
        t.start()
        _wait_running(h, t)
        waits = []
        while t.is_alive() and time.monotonic() - t0 < 10:
            s = time.monotonic()
            with urllib.request.urlopen(h.url.removesuffix("/v1") + "/health", timeout=5) as r:
                assert r.status == 200
            waits.append(time.monotonic() - s)
            time.sleep(0.1)
        t.join(10)
        status, err = got["r"]
        assert status == 504 and "--request-timeout" in err["error"]["message"], err
        assert waits and max(waits) < 0.5, waits  # /health never waited on the judge
        assert time.monotonic() - t0 < 6  # the deadline (2 s) ended it, not the judge's 6 x 1.5 s


def test_an_n1_stream_holds_its_admission_slot_and_its_deadline(upstream):
    """An n = 1 stream passed through counts as running until it ends (a second request meets a full
    proxy: 429), and a stalled upstream stream ends at --request-timeout with an SSE error event."""
    import time

    import httpx

    with _proxy(upstream, "stall", method="cons@N", timeout=30.0, retries=0, max_running=1, max_queued=0,
                request_timeout=1.5) as h:  # fmt: skip
        body = {"model": "fault-model", "prompt": "x", "n": 1, "max_tokens": 20, "stream": True}
        t0 = time.monotonic()
        with (
            httpx.Client(timeout=30) as c,
            c.stream("POST", h.url + "/completions", json=body) as r,
        ):
            lines = r.iter_lines()
            first = next(lines)  # the stream has begun: its slot is held
            assert first.startswith("data: ") and h.proxy.running == 1
            busy = c.post(h.url + "/completions", json={**body, "stream": False})
            assert busy.status_code == 429 and busy.headers["retry-after"]
            rest = [ln for ln in lines if ln.startswith("data: ")]
        assert "--request-timeout" in rest[-1] and '"code": 504' in rest[-1], rest[-1]
        assert time.monotonic() - t0 < 10 and h.proxy.running == 0


def _read(body, method="cons@N", returns="choices", chat=False, **kw):
    from deepprune.engine.solve import SolveConfig
    from deepprune.proxy.core import parse_request

    return parse_request(
        body, SolveConfig(max_tokens=256, deepconf_warmup=4), method, returns, "math", chat, **kw
    )


def test_a_request_read_by_hand():
    """``parse_request``: every field a request sets lands in the run's settings; what it leaves
    out is the proxy's; the prompt names the problem (its seeds), the last user message in chat."""
    from deepprune.proxy.core import problem_id

    p = _read({"model": "m", "prompt": "Q?", "n": 4, "max_tokens": 50, "temperature": 0.5, "top_p": 0.9,
               "seed": 3, "stop": "X", "stream": True})  # fmt: skip
    assert (p.problem.id, p.problem.question, p.problem.answer_type) == (
        problem_id("Q?"),
        "Q?",
        "math",
    )
    assert (p.method, p.returns, p.model, p.chat, p.messages, p.stream) == (
        "cons@N",
        "choices",
        "m",
        False,
        (),
        True,
    )
    c = p.cfg
    assert (c.n, c.methods, c.max_tokens, c.stop, c.temperature, c.top_p, c.seed, c.prompt) == (
        4, ("cons@N",), 50, ("X",), 0.5, 0.9, 3, "{question}")  # fmt: skip
    assert (c.judge, c.trunc) == ("probe", "probe:1") and isinstance(c.temperature, float)
    assert problem_id("Q?") == "p-" + __import__("hashlib").sha256(b"Q?").hexdigest()[:16]
    d = _read({"model": "m", "prompt": ["Q?"]})  # a batch of one; the proxy's defaults
    assert (d.problem.id, d.cfg.n, d.cfg.max_tokens, d.cfg.stop, d.cfg.temperature, d.stream) == (
        problem_id("Q?"), 1, 256, (), 0.8, False)  # fmt: skip
    assert 0 <= d.cfg.seed < 2**31 and isinstance(d.cfg.seed, int)  # fresh, said in the ledger
    assert (
        _read(
            {"model": "m", "prompt": "Q", "max_tokens": 50, "max_completion_tokens": 70}
        ).cfg.max_tokens
        == 70
    )
    assert _read({"model": "m", "prompt": "Q", "stop": ["a", "b"], "temperature": 0}).cfg.stop == (
        "a",
        "b",
    )
    msgs = [{"role": "system", "content": "S", "name": "x"}, {"role": "user", "content": "U?"}]
    ch = _read({"model": "m", "messages": msgs}, chat=True)
    assert ch.problem.question == "U?" and ch.chat
    assert ch.messages == ({"role": "system", "content": "S"}, {"role": "user", "content": "U?"})
    assert ch.problem.id == problem_id(json.dumps([["system", "S"], ["user", "U?"]]))
    # per-request options: method, return, answer type, trunc, an allowed judge by name
    o = _read({"model": "m", "prompt": "Q", "n": 8, "max_tokens": 400, "deepprune": {
        "method": "deepprune", "return": "vote", "answer_type": "choice", "trunc": "tokens:100", "judge": "fast"}},
        judges={"fast": "lexical:jaccard"})  # fmt: skip
    assert (o.method, o.returns, o.problem.answer_type, o.cfg.trunc, o.cfg.judge) == (
        "deepprune", "vote", "choice", "tokens:100", "lexical:jaccard")  # fmt: skip
    assert (
        _read({"model": "m", "prompt": "Q", "deepprune": {"judge": "default"}}).cfg.judge == "probe"
    )
    # DeepConf's warm-up never takes every trace
    assert _read({"model": "m", "prompt": "Q", "n": 3}, method="deepconf").cfg.deepconf_warmup == 2
    assert _read({"model": "m", "prompt": "Q", "n": 9}, method="deepconf").cfg.deepconf_warmup == 4
    assert _read({"model": "m", "prompt": "Q", "n": 2}, method="deepconf").cfg.deepconf_warmup == 1
    # auto: the recipe's method and settings, its thinking budget never above the request's limit
    auto = {"methods": ["short-m@k", "cons@N"], "short_m": 2, "max_tokens": 100}
    a = _read(
        {"model": "m", "prompt": "Q", "n": 4, "max_tokens": 60, "deepprune": {"method": "auto"}},
        auto=auto,
    )
    assert (a.method, a.cfg.methods, a.cfg.short_m, a.cfg.max_tokens) == (
        "short-m@k",
        ("short-m@k",),
        2,
        60,
    )
    assert (
        _read(
            {"model": "m", "prompt": "Q", "max_tokens": 900}, method="auto", auto=auto
        ).cfg.max_tokens
        == 100
    )


@pytest.mark.parametrize("body, says, param", [
    ([1], "the request body must be a JSON object", None),
    ({"model": "m", "prompt": "x", "zz": 1, "aa": 2}, "unknown field(s) aa, zz; the proxy reads best_of, deepprune, echo, frequency_penalty, logprobs, max_completion_tokens, max_tokens, messages, model, n, presence_penalty, prompt, seed, stop, stream, stream_options, temperature, top_logprobs, top_p, user", "aa"),
    ({"prompt": "x"}, "model must be a non-empty string", "model"),
    ({"model": "", "prompt": "x"}, "model must be a non-empty string", "model"),
    ({"model": "m", "prompt": ""}, "prompt must be one non-empty string (token-id prompts and batches are not supported)", "prompt"),
    ({"model": "m", "prompt": ["a", "b"]}, "prompt must be one non-empty string", "prompt"),
    ({"model": "m", "prompt": [1, 2]}, "prompt must be one non-empty string", "prompt"),
    ({"model": "m", "prompt": "x", "n": True}, "n must be an integer, got True", "n"),
    ({"model": "m", "prompt": "x", "n": 2.0}, "n must be an integer, got 2.0", "n"),
    ({"model": "m", "prompt": "x", "n": 0}, "n must be in [1, 512], got 0", "n"),
    ({"model": "m", "prompt": "x", "n": 513}, "n must be in [1, 512], got 513", "n"),
    ({"model": "m", "prompt": "x", "temperature": "hot"}, "temperature must be a number, got 'hot'", "temperature"),
    ({"model": "m", "prompt": "x", "temperature": 2.5}, "temperature must be in [0, 2], got 2.5", "temperature"),
    ({"model": "m", "prompt": "x", "top_p": 1.5}, "top_p must be in [0, 1], got 1.5", "top_p"),
    ({"model": "m", "prompt": "x", "max_tokens": 0}, "max_tokens must be in [1, 1000000], got 0", "max_tokens"),
    ({"model": "m", "prompt": "x", "seed": 2**63}, "seed must be in [", "seed"),
    ({"model": "m", "prompt": "x", "stop": [1]}, "stop must be a string or a list of strings", "stop"),
    ({"model": "m", "prompt": "x", "stop": {"a": 1}}, "stop must be a string or a list of strings", "stop"),
    ({"model": "m", "prompt": "x", "deepprune": ["vote"]}, '"deepprune" must be an object', "deepprune"),
    ({"model": "m", "prompt": "x", "deepprune": {"metod": 1}}, "unknown deepprune option(s) metod; known: method, judge, trunc, return, answer_type", "deepprune"),
    ({"model": "m", "prompt": "x", "deepprune": {"metod": 1, "jduge": 2}}, "unknown deepprune option(s) jduge, metod; known: method, judge, trunc, return, answer_type", "deepprune"),
    ({"model": "m", "prompt": "x", "deepprune": {"method": "cons@k"}}, "unknown method 'cons@k' (cons@k is cons@N with n=k); known: " + ", ".join(PROXY_METHODS), "deepprune.method"),
    ({"model": "m", "prompt": "x", "deepprune": {"method": "best"}}, "unknown method 'best'; known: ", "deepprune.method"),
    ({"model": "m", "prompt": "x", "deepprune": {"method": "auto"}}, "method auto needs the proxy's recipe (start it with --method auto)", "deepprune.method"),
    ({"model": "m", "prompt": "x", "deepprune": {"return": "all"}}, "unknown return 'all'; known: choices, vote", "deepprune.return"),
    ({"model": "m", "prompt": "x", "deepprune": {"answer_type": "code"}}, "unknown answer_type 'code'; known: math, choice, text", "deepprune.answer_type"),
    ({"model": "m", "prompt": "x", "deepprune": {"judge": "sbert"}}, "judge 'sbert' is not allowed here; this proxy allows: default, probe (the operator's --allow-judges)", "deepprune.judge"),
    ({"model": "m", "prompt": "x", "deepprune": {"trunc": "nope:1"}}, "bad truncation spec 'nope:1': expected ", "deepprune"),
    ({"model": "m", "messages": []}, "messages must be a non-empty list", "messages"),
    ({"model": "m", "messages": ["hi"]}, "each message needs a role and a string content", "messages"),
    ({"model": "m", "messages": [{"role": 1, "content": "a"}]}, "each message needs a role and a string content", "messages"),
    ({"model": "m", "prompt": "x", "seed": -(2**63) - 1}, f"seed must be in [{-(2**63)}, {2**63 - 1}], got {-(2**63) - 1}", "seed"),
    ({"model": "m", "prompt": "x", "seed": 2**63}, f"seed must be in [{-(2**63)}, {2**63 - 1}], got {2**63}", "seed"),
    ({"model": "m", "prompt": "x", "max_completion_tokens": 0}, "max_completion_tokens must be in [1, 1000000], got 0", "max_completion_tokens"),
    ({"model": "m", "prompt": "x", "max_completion_tokens": 10**6 + 1}, "max_completion_tokens must be in [1, 1000000], got 1000001", "max_completion_tokens"),
    ({"model": "m", "prompt": "x", "max_tokens": 10**6 + 1}, "max_tokens must be in [1, 1000000], got 1000001", "max_tokens"),
    ({"model": "m", "prompt": "x", "deepprune": {"judge": "j" * 100}}, f"judge {'j' * 80!r} is not allowed here", "deepprune.judge"),
    ({"model": "m", "messages": [{"role": "user"}]}, "each message needs a role and a string content", "messages"),
    ({"model": "m", "messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]},
     "the last message must be the user's (the proxy samples the assistant's reply)", "messages"),
])  # fmt: skip
def test_a_bad_request_is_a_400_naming_the_field_by_hand(body, says, param):
    """Each refusal is a 400 naming the field, its message saying what is wrong and what is allowed."""
    from deepprune.proxy.core import ProxyError

    chat = isinstance(body, dict) and "messages" in body
    with pytest.raises(ProxyError) as e:
        _read(body, method="deepprune" if "trunc" in str(body) else "cons@N", chat=chat)
    assert e.value.status == 400 and e.value.param == param and e.value.message.startswith(says)
    assert e.value.body() == {"error": {"message": e.value.message, "type": "invalid_request_error",
                                        "param": param, "code": 400}}  # fmt: skip


def test_a_request_at_its_bounds_and_what_it_is_refused_for_by_hand():
    """The bounds are inclusive (temperature 2, top_p 1, 10^6 tokens); every answer type is one a
    request may ask for; a chat request's problem is named by its own characters (not JSON's
    escapes of them); an error's text is its message, a 408 an invalid request; a field the vote
    cannot honour set to true or 1 is unprunable; DeepPrune's cut at max_tokens is refused whole."""
    from deepprune.proxy.core import ProxyError, Unprunable, problem_id, unprunable_reason

    p = _read(
        {"model": "m", "prompt": "Q", "temperature": 2, "top_p": 1, "max_completion_tokens": 10**6}
    )
    assert (p.cfg.temperature, p.cfg.top_p, p.cfg.max_tokens) == (2.0, 1.0, 10**6)
    for kind in ("math", "choice", "text"):
        assert (
            _read(
                {"model": "m", "prompt": "Q", "deepprune": {"answer_type": kind}}
            ).problem.answer_type
            == kind
        )
    ch = _read({"model": "m", "messages": [{"role": "user", "content": "é?"}]}, chat=True)
    assert ch.problem.id == problem_id('[["user", "é?"]]')
    assert str(ProxyError(400, "bad thing")) == "bad thing"
    assert ProxyError(408, "a slow body").kind == "invalid_request_error"
    base = {"model": "m", "prompt": "x", "n": 4}
    for key, v in (("echo", True), ("logprobs", 1), ("top_logprobs", 1), ("presence_penalty", 1.0)):
        assert unprunable_reason({**base, key: v}).param == key, key
    assert (
        unprunable_reason({**base, "best_of": 4, "frequency_penalty": 0.5}).param
        == "frequency_penalty"
    )
    text_format = {
        "response_format": {"type": "text"}
    }  # changes nothing; the fields after it count
    assert unprunable_reason({**base, **text_format, "echo": True}).param == "echo"
    with pytest.raises(Unprunable) as e:
        _read({**base, "max_tokens": 32}, method="deepprune")
    assert str(e.value) == ("max_tokens 32 is at or below DeepPrune's cut (32 tokens): every trace "
                            "would end before it is judged")  # fmt: skip


def test_what_the_vote_cannot_honour_is_unprunable_by_hand():
    """A field the vote over traces cannot honour makes a request unprunable (served upstream as
    it is), naming the field; the same field at its default, or a value that changes nothing
    (``best_of`` = n, a text ``response_format``), does not; nor does DeepPrune's cut below max_tokens."""
    from deepprune.proxy.core import ProxyError, Unprunable, unprunable_reason

    base = {"model": "m", "prompt": "x", "n": 4}
    for quiet in ({"ignore_eos": False}, {"top_k": -1, "min_p": 0.0, "stop_token_ids": []}, {"best_of": 4},
                  {"response_format": {"type": "text"}}, {"logprobs": None, "echo": False, "presence_penalty": 0},
                  {"regex": None}):  # fmt: skip
        assert unprunable_reason({**base, **quiet}) is None, quiet
    assert (
        unprunable_reason({**base, "best_of": 4, "presence_penalty": 0.5}).param
        == "presence_penalty"
    )
    long = unprunable_reason({**base, "regex": "r" * 60})
    assert long.reason == f"regex = {'r' * 40} is set: the vote over traces cannot honour it"
    for loud, key, says in (({"ignore_eos": True}, "ignore_eos", "ignore_eos = True is set: the vote over traces cannot honour it"),
                            ({"best_of": 6}, "best_of", "best_of is set: the vote over traces cannot honour it"),
                            ({"response_format": {"type": "json_object"}}, "response_format", "response_format is set"),
                            ({"logprobs": 2}, "logprobs", "logprobs is set")):  # fmt: skip
        why = unprunable_reason({**base, **loud})
        assert isinstance(why, Unprunable) and why.param == key and why.reason.startswith(says)
    with pytest.raises(Unprunable) as e:
        _read({**base, "max_tokens": 32}, method="deepprune")  # the probe cut: 1 x 32 tokens
    assert e.value.param == "max_tokens" and str(e.value).startswith(
        "max_tokens 32 is at or below DeepPrune's cut (32 tokens)"
    )
    assert _read({**base, "max_tokens": 33}, method="deepprune").cfg.max_tokens == 33
    assert ProxyError(429, "busy").body()["error"]["type"] == "rate_limit_error"
    assert ProxyError(502, "down").body()["error"]["type"] == "upstream_error"
    assert (
        ProxyError(504, "late").kind == "timeout_error"
        and ProxyError(404, "x").kind == "not_found_error"
    )
