"""The proxy as a drop-in server: fresh samples without a seed, the same with one; requests the
vote cannot honour served unpruned and saying so; stream with n > 1 as server-sent events; the
routes and headers a client expects (OpenAI SDK against the fault server)."""

import json
import urllib.request

import httpx
import openai
import pytest

from deepprune.dev.fault_server import FaultServer
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.proxy.job import ProxyConfig, ProxyJob
from tests.conftest import DEMO_POOL, free_port

TEXT = {"judge": "lexical:jaccard", "trunc": "tokens:4"}


@pytest.fixture(scope="module")
def upstream():
    with FaultServer() as fs:
        yield fs


@pytest.fixture(scope="module")
def proxy(upstream):
    cfg = ProxyConfig(max_tokens=20, cluster=ClusterConfig(K2=2, K3=2), deterministic=True, **TEXT)
    with ProxyJob(
        upstream=upstream.url("ok"), port=free_port(), method="cons@N", config=cfg
    ).start() as h:
        yield h


def _client(h):
    return openai.OpenAI(base_url=h.url, api_key="none", max_retries=0)


def test_without_a_seed_each_request_samples_afresh_with_one_it_repeats(proxy):
    c = _client(proxy)

    def ask(**kw):
        return c.completions.create(model="fault-model", prompt="1+1?", n=8, max_tokens=20, **kw)

    a, b = ask(), ask()
    assert a.model_extra["deepprune"]["seed"] != b.model_extra["deepprune"]["seed"]
    assert [x.text for x in a.choices] != [x.text for x in b.choices]
    s1, s2 = ask(seed=11), ask(seed=11)
    assert [x.text for x in s1.choices] == [x.text for x in s2.choices]
    # a fresh request is reproducible from the seed its ledger gives
    again = ask(seed=a.model_extra["deepprune"]["seed"])
    assert [x.text for x in again.choices] == [x.text for x in a.choices]


@pytest.mark.parametrize("extra", [
    {"response_format": {"type": "json_object"}}, {"logprobs": 2}, {"presence_penalty": 0.5},
    {"best_of": 6}, {"max_tokens": 3, "deepprune": {"method": "deepprune", "trunc": "tokens:4"}},
])  # fmt: skip
def test_a_request_the_vote_cannot_honour_is_served_unpruned_and_says_why(proxy, extra):
    body = {"model": "fault-model", "prompt": "1+1?", "n": 4, "max_tokens": 20, **extra}
    r = httpx.post(proxy.url + "/completions", json=body, timeout=60)
    assert r.status_code == 200, r.text
    dp = r.json()["deepprune"]
    assert dp["pruned"] is False and dp["reason"] and r.headers["X-DeepPrune-Pruned"] == "false"
    assert len(r.json()["choices"]) == 4  # the upstream's n, as it answered


def test_on_unprunable_reject_is_a_400_naming_the_field(upstream):
    job = ProxyJob(upstream=upstream.url("ok"), port=free_port(), method="cons@N", on_unprunable="reject",
                   config=ProxyConfig(max_tokens=20))  # fmt: skip
    with job.start() as h:
        r = httpx.post(h.url + "/completions", json={"model": "fault-model", "prompt": "x", "n": 4,
                                                      "response_format": {"type": "json_object"}}, timeout=60)  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["param"] == "response_format"


def test_stream_with_n_above_one_is_server_sent_events_of_the_voted_choices(proxy):
    c = _client(proxy)
    chunks = list(c.completions.create(model="fault-model", prompt="1+1?", n=4, max_tokens=20, seed=3,
                                       stream=True, stream_options={"include_usage": True}))  # fmt: skip
    whole = c.completions.create(model="fault-model", prompt="1+1?", n=4, max_tokens=20, seed=3)
    texts = {ch.choices[0].index: ch.choices[0].text for ch in chunks if ch.choices}
    assert [texts[k] for k in sorted(texts)] == [x.text for x in whole.choices]
    assert chunks[-1].usage.completion_tokens == whole.usage.completion_tokens
    chat = list(c.chat.completions.create(model="fault-model", messages=[{"role": "user", "content": "1+1?"}],
                                          n=3, max_tokens=20, seed=3, stream=True))  # fmt: skip
    assert any(ch.choices and ch.choices[0].delta.content for ch in chat)


def test_request_ids_readiness_and_openai_shaped_404_405(proxy, upstream):
    r = httpx.post(proxy.url + "/completions", headers={"X-Request-Id": "abc-123"},
                   json={"model": "fault-model", "prompt": "1+1?", "n": 2, "max_tokens": 20}, timeout=60)  # fmt: skip
    assert r.headers["X-Request-Id"] == "abc-123"
    made = httpx.get(proxy.url.removesuffix("/v1") + "/health").headers["X-Request-Id"]
    assert len(made) == 32
    assert httpx.get(proxy.url.removesuffix("/v1") + "/ready").status_code == 200
    for method, path, code in (("GET", "/v1/nope", 404), ("GET", "/v1/completions", 405)):
        r = httpx.request(method, proxy.url.removesuffix("/v1") + path)
        assert r.status_code == code and r.json()["error"]["code"] == code
        assert r.json()["error"]["message"].endswith(f"GET {path}")  # the route it names
    bad = httpx.post(
        proxy.url + "/completions",
        content=b'{"model": "fault-model", "prompt": "x \\ud800", "n": 2}',
    )
    assert bad.status_code == 400 and "not valid Unicode" in bad.json()["error"]["message"]


def test_ready_follows_the_upstream():
    with FaultServer() as fs:
        port = fs.port
    job = ProxyJob(
        upstream=f"http://127.0.0.1:{port}/v1", port=free_port(), method="cons@N"
    )  # nothing listens
    with job.start() as h:
        base = h.url.removesuffix("/v1")
        assert httpx.get(base + "/health").status_code == 200  # alive
        assert httpx.get(base + "/ready").status_code == 503  # not ready: the upstream is down


def test_n_above_the_replayed_pools_traces_is_a_400():
    from deepprune.pools import read_pool

    q = read_pool(DEMO_POOL)[0]
    job = ProxyJob(pool=str(DEMO_POOL), port=free_port(), method="cons@N")
    with job.start() as h:
        r = httpx.post(h.url + "/completions", json={"model": "replay", "prompt": q.question,
                                                      "n": len(q.traces) + 1}, timeout=60)  # fmt: skip
    assert r.status_code == 400 and r.json()["error"]["param"] == "n"


@pytest.mark.parametrize("kw, says", [
    ({"upstream": "ftp://h/v1"}, "an http.s. URL"), ({"upstream": "http://h/v1", "timeout": 0}, "--timeout"),
    ({"upstream": "http://h/v1", "retries": -1}, "--retries"), ({"upstream": "http://h/v1", "port": 70000}, "--port"),
    ({"upstream": "http://h/v1", "log": "/tmp"}, "is a directory"),
    ({"pool": "NOPROBES", "method": "deepprune"}, "no answer probes"),
])  # fmt: skip
def test_bad_start_up_flags_fail_at_start_up(kw, says, tiny_pool):
    kw = {k: str(tiny_pool) if v == "NOPROBES" else v for k, v in kw.items()}
    with pytest.raises(ConfigError, match=says):
        ProxyJob(**kw)


def test_port_zero_prints_the_real_port(tmp_path):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "deepprune.cli", "proxy", "--pool", str(DEMO_POOL),
                             "--method", "cons@N", "--port", "0"], stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        line = proc.stdout.readline()
        port = int(line.split("http://127.0.0.1:")[1].split("/")[0])
        assert port > 0
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=10) as r:
            assert json.loads(r.read())["status"] == "ok"
    finally:
        proc.terminate()
        proc.wait(30)


def test_a_broken_upstream_stream_ends_with_an_error_event(upstream):
    job = ProxyJob(
        upstream=upstream.url("disconnect"), port=free_port(), method="cons@N", retries=0
    )
    body = {"model": "fault-model", "prompt": "x", "max_tokens": 20, "stream": True}
    with job.start() as h, httpx.stream("POST", h.url + "/completions", json=body, timeout=60) as r:
        body = r.read().decode()
    assert '"error"' in body and "stream broke" in body


def test_vllm_extension_fields_at_their_defaults_are_absent_and_otherwise_not_prunable(proxy):
    """vllm-router adds ignore_eos, skip_special_tokens, ... to every request it forwards."""
    body = {"model": "fault-model", "prompt": "1+1?", "n": 4, "max_tokens": 20, "seed": 2, "ignore_eos": False,
            "skip_special_tokens": True, "no_stop_trim": False, "return_hidden_states": False}  # fmt: skip
    r = httpx.post(proxy.url + "/completions", json=body, timeout=60)
    assert r.status_code == 200 and "method" in r.json()["deepprune"]  # pruned
    r = httpx.post(proxy.url + "/completions", json={**body, "ignore_eos": True}, timeout=60)
    assert r.status_code == 200 and r.json()["deepprune"] == {
        "pruned": False,
        "reason": r.json()["deepprune"]["reason"],
    }
    assert "ignore_eos" in r.json()["deepprune"]["reason"]


def test_the_proxys_deepprune_defaults_save_on_the_n_clients_send():
    """``--method deepprune`` with the proxy's defaults (K2 = K3 = 4) on ``n = 8`` requests over
    the replayed Qwen3-8B AIME24 probe pool (only ``--probe-every`` set to the pool's): probes
    included, it generates fewer tokens than cons@N over the same 8 traces (the same seed), and
    fewer than with the paper's K2 = K3 = 20, which completes more of so few traces."""
    from deepprune.pools import read_pool
    from tests.conftest import shared_pool

    path = shared_pool("probe-qwen3-8b-aime24-n128.jsonl")
    qs = read_pool(path)[:6]

    def spent(method: str, cfg: ProxyConfig) -> int:
        used = 0
        with ProxyJob(pool=str(path), port=free_port(), method=method, config=cfg).start() as h:
            for q in qs:
                r = httpx.post(h.url + "/completions", json={"model": "replay", "prompt": q.question, "n": 8,
                                                              "seed": 1}, timeout=120)  # fmt: skip
                assert r.status_code == 200, r.text
                used += r.json()["usage"]["completion_tokens"]  # traces + probes
        return used

    default = spent("deepprune", ProxyConfig(probe_every=500))
    paper = spent("deepprune", ProxyConfig(probe_every=500, cluster=ClusterConfig()))
    consn = spent("cons@N", ProxyConfig(probe_every=500))
    assert default < paper and default < consn


@pytest.mark.parametrize("chat", [False, True])
@pytest.mark.parametrize("include_usage", [False, True])
def test_the_server_sent_events_by_hand(chat, include_usage):
    """``sse_events`` over a response written out: one chunk per choice in order (its index, whole
    text, finish reason, the object a streamed OpenAI request gets), then one chunk with no choices
    holding the ledger (and usage only when asked), then ``[DONE]``."""
    from deepprune.proxy.core import sse_events

    def choice(k, text, why):
        if chat:
            return {"index": k, "message": {"role": "assistant", "content": text}, "logprobs": None,
                    "finish_reason": why}  # fmt: skip
        return {"index": k, "text": text, "logprobs": None, "finish_reason": why}

    usage = {"prompt_tokens": 5, "completion_tokens": 9, "total_tokens": 14}
    resp = {"id": "cmpl-x", "created": 123, "model": "m", "choices": [choice(0, "a \\boxed{2}", "stop"),
            choice(1, "b", "length")], "usage": usage, "deepprune": {"answer": "2"}}  # fmt: skip
    events = sse_events(resp, chat, include_usage)
    assert events[-1] == "data: [DONE]\n\n" and len(events) == 4
    assert all(e.startswith("data: ") and e.endswith("\n\n") for e in events)
    got = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    kind = "chat.completion.chunk" if chat else "text_completion"
    for e in got:
        assert {k: e[k] for k in ("id", "object", "created", "model")} == {
            "id": "cmpl-x",
            "object": kind,
            "created": 123,
            "model": "m",
        }
    for k, (text, why) in enumerate([("a \\boxed{2}", "stop"), ("b", "length")]):
        (c,) = got[k]["choices"]
        piece = {"delta": {"role": "assistant", "content": text}} if chat else {"text": text}
        assert c == {"index": k, **piece, "logprobs": None, "finish_reason": why}
        assert "usage" not in got[k] and "deepprune" not in got[k]
    tail = got[-1]
    assert tail["choices"] == [] and tail["deepprune"] == {"answer": "2"}
    assert tail.get("usage") == (usage if include_usage else None)


def test_what_an_unpruned_answer_says_and_what_the_ledger_keeps_by_hand():
    """The headers of a request served unpruned (its reason made ASCII, never an encoding error);
    an unprunable request's reason is its message; the ledger keeps a method's plain fields
    (numbers, strings, None, lists of those) and drops anything nested."""
    from deepprune.proxy.core import Unprunable, _plain, said_headers

    assert said_headers(None) is None
    assert said_headers("logprobs is set: ø") == {"X-DeepPrune-Pruned": "false",
                                                   "X-DeepPrune-Reason": "logprobs is set: ?"}  # fmt: skip
    e = Unprunable("best_of is set", "best_of")
    assert (str(e), e.reason, e.param) == ("best_of is set", "best_of is set", "best_of")
    assert all(map(_plain, [1, 0.5, "x", True, None, [1, 2.5, "a"], []]))
    assert not any(map(_plain, [{"a": 1}, [{"a": 1}], [[1]], [None], (1, 2)]))


def _parsed(returns="choices", chat=False, answer_type="math", method="deepprune"):
    from deepprune.engine.solve import SolveConfig
    from deepprune.problems import Problem
    from deepprune.proxy.core import Parsed

    cfg = SolveConfig(n=4, seed=9)
    return Parsed(Problem("p-1", "q?", None, answer_type), cfg, method, returns, "m", chat)


def _live(answer, completed, **result):
    from types import SimpleNamespace as NS

    led = NS(tokens=100, probe_tokens=7, probe_calls=3, judge_calls=5, judge_tokens=11, net_tokens=130,
             reread_tokens=2, sequential_tokens=60, prompt_tokens=40, probe_prompt_tokens=12, usage_flags=["f"])  # fmt: skip
    return NS(result={"answer": answer, "completed": "ignored", **result}, ledger=led, completed=completed,
              wall_s=1.234567, cons_n_estimate=210.5)  # fmt: skip


def test_a_pruned_response_by_hand():
    """``respond``: the completed traces as choices, those voting the answer first (then by index),
    finish "stop" for a finished trace and "length" for a cut one; usage is what the upstream
    generated (traces + probes) and read (prompts + probe prompts); the ledger says the rest,
    with the method's plain result fields and never a nested one."""
    from deepprune.proxy.core import respond

    done = {
        3: ("so \\boxed{7}", True),
        0: ("so \\boxed{1/2}", True),
        5: ("cut", False),
        1: ("\\boxed{0.5}", True),
    }
    live = _live("0.5", done, clusters=2, nested={"a": 1}, listed=[1, 2])
    r = respond(_parsed(), live)
    assert [c["text"] for c in r["choices"]] == [
        "so \\boxed{1/2}",
        "\\boxed{0.5}",
        "so \\boxed{7}",
        "cut",
    ]
    assert [c["index"] for c in r["choices"]] == [0, 1, 2, 3]
    assert [c["finish_reason"] for c in r["choices"]] == ["stop", "stop", "stop", "length"]
    assert all(
        c["logprobs"] is None and set(c) == {"index", "text", "logprobs", "finish_reason"}
        for c in r["choices"]
    )
    assert r["usage"] == {"prompt_tokens": 52, "completion_tokens": 107, "total_tokens": 159}
    assert r["object"] == "text_completion" and r["model"] == "m" and r["id"].startswith("cmpl-dp")
    assert r["deepprune"] == {
        "method": "deepprune", "n": 4, "answer": "0.5", "completed": [0, 1, 3, 5], "choices_from": "traces",
        "problem_id": "p-1", "seed": 9, "tokens": 100, "probe_tokens": 7, "probe_calls": 3, "judge_calls": 5,
        "judge_tokens": 11, "net_tokens": 130, "reread_tokens": 2, "sequential_tokens": 60,
        "cons_n_estimate": 210.5, "wall_s": 1.2346, "usage_flags": ["f"], "clusters": 2, "listed": [1, 2]}  # fmt: skip
    # the answer read under the question's own type: 1/2 is 0.5 in math; a choice question reads neither
    mixed = _live("0.5", {0: ("\\boxed{7}", True), 1: ("\\boxed{1/2}", True)})
    assert [c["text"] for c in respond(_parsed(answer_type="math"), mixed)["choices"]][
        0
    ] == "\\boxed{1/2}"
    assert [c["text"] for c in respond(_parsed(answer_type="choice"), mixed)["choices"]][
        0
    ] == "\\boxed{7}"

    # a text question: its own extraction (no boxed answer) and its own equality (1/2 is not 0.5)
    def text(ans, done):
        return [
            c["text"] for c in respond(_parsed(answer_type="text"), _live(ans, done))["choices"]
        ]

    assert text("1/2", {0: ("\\boxed{7}", True), 1: ("\\boxed{1/2}", True)}) == [
        "\\boxed{7}",
        "\\boxed{1/2}",
    ]
    assert text("0.5", {0: ("Answer: 7", True), 1: ("Answer: 1/2", True)}) == [
        "Answer: 7",
        "Answer: 1/2",
    ]
    assert text("1/2", {0: ("Answer: 7", True), 1: ("Answer: 1/2", True)}) == [
        "Answer: 1/2",
        "Answer: 7",
    ]
    # chat: the same choices as assistant messages; an id of 24 hex digits after its prefix
    chat = respond(_parsed(chat=True), live)
    assert chat["object"] == "chat.completion" and chat["id"].startswith("chatcmpl-dp")
    assert [c["finish_reason"] for c in chat["choices"]] == ["stop", "stop", "stop", "length"]
    assert len(chat["id"]) == len("chatcmpl-dp") + 24 and len(r["id"]) == len("cmpl-dp") + 24
    assert (
        int(r["id"].removeprefix("cmpl-dp"), 16) >= 0 and r["id"] != respond(_parsed(), live)["id"]
    )
    assert chat["choices"][3] == {"index": 3, "message": {"role": "assistant", "content": "cut"}, "logprobs": None,
                                  "finish_reason": "length"}  # fmt: skip


def test_return_vote_by_hand():
    """``return: vote``: the first trace that votes the answer, alone; where no completed trace does
    (Parallel-Probe's consensus can be a probed answer), the answer itself, from the probes; with no
    answer and nothing completed, one empty choice cut short."""
    from deepprune.proxy.core import respond

    done = {2: ("\\boxed{7}", True), 4: ("\\boxed{5}", True), 6: ("\\boxed{5}", False)}
    r = respond(_parsed("vote"), _live("5", done))
    assert [(c["text"], c["finish_reason"]) for c in r["choices"]] == [("\\boxed{5}", "stop")]
    assert r["deepprune"]["choices_from"] == "traces"
    r = respond(_parsed("vote"), _live("9", done))  # no completed trace says 9
    assert [(c["text"], c["finish_reason"]) for c in r["choices"]] == [("\\boxed{9}", "stop")]
    assert r["deepprune"]["choices_from"] == "probes"
    r = respond(_parsed("vote"), _live(None, done))  # no answer: the first trace, not a probe
    assert [c["text"] for c in r["choices"]] == ["\\boxed{7}"] and r["deepprune"][
        "choices_from"
    ] == "traces"
    r = respond(_parsed("choices"), _live("9", done))  # all choices: never a probe's answer
    assert len(r["choices"]) == 3 and r["deepprune"]["choices_from"] == "traces"
    for returns in ("vote", "choices"):
        r = respond(_parsed(returns), _live(None, {}))
        assert [(c["text"], c["finish_reason"]) for c in r["choices"]] == [("", "length")]
