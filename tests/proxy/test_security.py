"""The proxy as something exposed: who may use it (its own key), whose key goes upstream (each
request's, never cached for another), which judges a request may pick (the operator's, by name),
and how much a client can send (413 / 408). Against the fault server with a required key."""

import json
import urllib.error
import urllib.request

import openai
import pytest

from deepprune.dev.fault_server import FaultServer
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.proxy.job import ProxyConfig, ProxyJob, judge_allowlist
from tests.conftest import free_port

KEY = "upstream-key-0123456789"
BODY = {"model": "fault-model", "prompt": "1+1?", "n": 4, "max_tokens": 12,
        "deepprune": {"judge": "lexical:jaccard", "trunc": "tokens:4"}}  # fmt: skip


def _proxy(url, **kw):
    cfg = ProxyConfig(
        max_tokens=12,
        cluster=ClusterConfig(K2=2, K3=2),
        deterministic=True,
        judge="lexical:jaccard",
        trunc="tokens:4",
    )
    return ProxyJob(upstream=url, port=free_port(), method="deepprune", config=cfg, **kw).start()


def _post(url: str, body, key: str | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    headers = {"Content-Type": "application/json"} | (
        {"Authorization": f"Bearer {key}"} if key else {}
    )
    data = raw if raw is not None else json.dumps(body).encode()
    req = urllib.request.Request(url + "/completions", data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def locked():
    with FaultServer(api_key=KEY) as fs:
        yield fs


@pytest.fixture(autouse=True)
def _no_host_keys(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("DEEPPRUNE_PROXY_API_KEY", raising=False)


def test_each_requests_own_key_goes_upstream_and_is_never_reused(locked):
    """Without an upstream key of its own the proxy forwards each request's header: the right key
    is served, a missing or wrong one gets the upstream's 401 (not a retryable 502), in any order."""
    with _proxy(locked.url("ok")) as h:
        assert _post(h.url, BODY, "wrong")[0] == 401  # a wrong first key poisons nothing
        status, got = _post(h.url, BODY, KEY)
        assert status == 200 and len(got["choices"]) >= 1
        for key in (None, "wrong"):  # after a right key: still refused
            status, got = _post(h.url, BODY, key)
            assert status == 401 and got["error"]["type"] == "authentication_error", got
        assert _post(h.url, {**BODY, "n": 1}, None)[0] == 401  # passthrough: the upstream's own 401
        assert _post(h.url, BODY, KEY)[0] == 200


def test_the_proxys_own_key_guards_it_and_the_operators_key_goes_upstream(locked):
    with _proxy(locked.url("ok"), api_key="proxy-key", upstream_api_key=KEY) as h:
        refused = locked.refused
        for key in (None, "wrong", KEY):  # the upstream's key is not the proxy's
            status, got = _post(h.url, BODY, key)
            assert status == 401 and got["error"]["code"] == 401, got
        c = openai.OpenAI(base_url=h.url, api_key="proxy-key", max_retries=0)
        r = c.completions.create(model="fault-model", prompt="1+1?", n=4, max_tokens=12,
                                 extra_body={"deepprune": BODY["deepprune"]})  # fmt: skip
        assert len(r.choices) >= 1
        one = c.completions.create(model="fault-model", prompt="1+1?", max_tokens=12)  # passthrough
        assert one.choices[0].text
        assert locked.refused == refused  # every upstream call carried the operator's key
        with urllib.request.urlopen(h.url.removesuffix("/v1") + "/health", timeout=10) as r:
            assert r.status == 200  # liveness needs no key (as vllm serve --api-key)


def test_an_upstream_key_without_a_client_key_refuses_to_start(locked, monkeypatch):
    with pytest.raises(ConfigError, match="anyone reaching the proxy would spend it"):
        ProxyJob(upstream=locked.url("ok"), upstream_api_key=KEY)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)  # the host's key, picked up from the environment
    with pytest.raises(ConfigError, match="set --api-key"):
        ProxyJob(upstream=locked.url("ok"))
    monkeypatch.setenv("DEEPPRUNE_PROXY_API_KEY", "pk")
    job = ProxyJob(upstream=locked.url("ok"))
    assert (job.api_key, job.upstream_api_key) == ("pk", KEY)


@pytest.mark.parametrize("judge", [
    "llm:endpoint=http://127.0.0.1:9/v1,model=m", "sbert:/etc", "crossencoder:/tmp",
    "probe:calib=/etc/passwd", "lexical:jaccard,batch=2", 7, ["probe"], "x" * 5000,
])  # fmt: skip
def test_a_request_cannot_choose_a_judge_the_operator_did_not_allow(judge):
    with FaultServer() as fs, _proxy(fs.url("ok")) as h:
        status, got = _post(h.url, {**BODY, "deepprune": {**BODY["deepprune"], "judge": judge}})
        assert status == 400 and got["error"]["param"] == "deepprune.judge", got
        assert (
            "is not allowed here" in got["error"]["message"] and len(got["error"]["message"]) < 400
        )
        assert h.proxy.judges == {}  # nothing was loaded


def test_an_allowed_judge_is_picked_by_name():
    with FaultServer() as fs, _proxy(fs.url("ok"), allow_judges="fast=lexical:tfidf") as h:
        status, got = _post(h.url, {**BODY, "deepprune": {**BODY["deepprune"], "judge": "fast"}})
        assert status == 200, got
        assert set(h.proxy.judges) == {"lexical:tfidf"}


def test_the_allow_list_is_name_equals_spec():
    assert judge_allowlist("a=llm:endpoint=http://h/v1,model=m;b=probe", "probe")["a"] == (
        "llm:endpoint=http://h/v1,model=m"
    )
    for bad in ("nameonly", "=probe", "1x=probe", "a b=probe"):
        with pytest.raises(ConfigError, match="--allow-judges"):
            judge_allowlist(bad, "probe")


def test_a_body_over_the_limit_is_413_and_garbage_is_400_never_500():
    with FaultServer() as fs, _proxy(fs.url("ok"), max_body_bytes=2000) as h:
        status, got = _post(h.url, None, raw=json.dumps({**BODY, "prompt": "x" * 5000}).encode())
        assert status == 413 and "--max-body-bytes" in got["error"]["message"]
        assert got["error"]["type"] == "invalid_request_error"
        for raw in (b"[" * 900 + b"]" * 900, b'{"prompt": "\\ud800"}', b"\xff\xfe", b"1" * 1900):
            status, got = _post(h.url, None, raw=raw)
            assert status == 400 and "\n" not in got["error"]["message"], (raw[:20], got)
