"""The proxy in front of the real local llama.cpp server, driven by real clients: lm-evaluation-harness
(``lm_eval --model local-completions``, the repository's task over its live problem set) and the
``openai`` SDK. The harness's score through the proxy (``--returns vote``) equals the accuracy
``deepprune solve`` reports for the same problems, method and seeds, and the proxy's ``/metrics``
equal what the server itself counted."""

import json
import os
import subprocess
import sys
import urllib.request

import openai
import pytest

from deepprune.engine.backends.openai_compat import parse_generated_counter
from deepprune.engine.problems import Problem
from deepprune.engine.solve import SolveConfig, solve
from deepprune.greedy import ClusterConfig
from deepprune.proxy.core import problem_id
from deepprune.proxy.job import ProxyConfig, ProxyJob
from tests.conftest import ROOT
from tests.proxy.test_proxy import _metric, _port

# the real server, the harness; one test worker runs every llama.cpp server
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("llama")]

PROBLEMS = ROOT / "DeepPrune_data" / "problems" / "add24.jsonl"
SETTINGS = {
    "probe_every": 8,
    "cluster": ClusterConfig(K2=2, K3=2),
    "deterministic": True,
}  # as the README's command
LIMIT, N = 4, 4


def _counter(base_url: str) -> float:
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics") as r:
        return parse_generated_counter(r.read().decode())[1]


def _prompt_counter(base_url: str) -> int:
    """The server's own count of prompt tokens read (llamacpp:prompt_tokens_total)."""
    with urllib.request.urlopen(base_url.removesuffix("/v1") + "/metrics") as r:
        text = r.read().decode()
    return next(
        int(ln.split()[1])
        for ln in text.splitlines()
        if ln.startswith("llamacpp:prompt_tokens_total ")
    )


def test_lm_eval_through_the_proxy_scores_what_solve_reports(local_server, tmp_path):
    log = tmp_path / "access.jsonl"
    job = ProxyJob(upstream=local_server.base_url, port=_port(), method="deepprune", returns="vote",
                   log=str(log), config=ProxyConfig(**SETTINGS))  # fmt: skip
    before, read_before = _counter(local_server.base_url), _prompt_counter(local_server.base_url)
    with job.start() as h:
        args = f"base_url={h.url}/completions,model=gemma3-270m,tokenizer_backend=none,tokenized_requests=False,num_concurrent=1,max_retries=1"
        cmd = [sys.executable, "-m", "lm_eval", "--model", "local-completions", "--model_args", args,
               "--include_path", "Online/lm_eval", "--tasks", "deepprune_add24", "--limit", str(LIMIT),
               "--gen_kwargs", f"n={N},temperature=0.8,top_p=0.95", "--output_path", str(tmp_path / "out")]  # fmt: skip
        env = {
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "HF_DATASETS_OFFLINE": "1",
            "HF_HOME": str(tmp_path / "hf"),
        }
        done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=900)
        assert done.returncode == 0, done.stderr[-3000:]
        generated = _metric(h, "generated_tokens_total") + _metric(h, "probe_tokens_total")
        read = _metric(h, "prompt_tokens_total")
    assert (
        generated == _counter(local_server.base_url) - before
    )  # /metrics: what the server counted
    # usage.prompt_tokens: every prompt the server read (traces, continuations, probes), once
    assert read == _prompt_counter(local_server.base_url) - read_before > 0
    got = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())
    score = got["results"]["deepprune_add24"]["acc,none"]

    # the same problems, method and seeds through `deepprune solve`, in the order the harness sent
    # them (llama.cpp reuses the previous request's cached prefix: its numerics follow the order)
    seen = [json.loads(x) for x in log.read_text().splitlines()]
    assert [r["status"] for r in seen] == [200] * LIMIT and {r["seed"] for r in seen} == {1234}
    sys.path.insert(0, str(ROOT / "Online" / "lm_eval"))
    try:
        from utils import doc_to_text
    finally:
        sys.path.pop(0)
    docs = [json.loads(x) for x in PROBLEMS.read_text().splitlines()[:LIMIT]]
    by_id = {problem_id(doc_to_text(d)): d for d in docs}
    probs = [
        Problem(
            r["problem_id"], doc_to_text(by_id[r["problem_id"]]), by_id[r["problem_id"]]["gold"]
        )
        for r in seen
    ]
    cfg = SolveConfig(n=N, max_tokens=48, temperature=0.8, top_p=0.95, seed=1234, stop=("\n\nQuestion:",),
                      methods=("deepprune",), prompt="{question}", concurrent_problems=1, **SETTINGS)  # fmt: skip
    res = solve(probs, cfg, base_url=local_server.base_url, model="gemma3-270m", progress=False)
    recs = {r["question"]: r for r in res["records"]}
    assert [recs[r["problem_id"]]["answer"] for r in seen] == [r["answer"] for r in seen]
    assert [recs[r["problem_id"]]["tokens"] for r in seen] == [r["tokens"] for r in seen]
    assert score == pytest.approx(res["rows"][0]["accuracy"])


def test_the_openai_sdk_chat_and_n1_passthrough_on_the_real_server(local_server):
    with ProxyJob(upstream=local_server.base_url, port=_port(), method="short-m@k",
                  config=ProxyConfig(short_k=3, max_tokens=24)).start() as h:  # fmt: skip
        c = openai.OpenAI(base_url=h.url, api_key="none", max_retries=0)
        assert [m.id for m in c.models.list()] == ["gemma3-270m"]
        prompt = (
            (ROOT / "DeepPrune_data" / "prompts" / "fewshot_add.txt")
            .read_text()
            .replace(
                "{question}", "Sam has 3 cards and gets 6 more. How many cards does Sam have now?"
            )
        )
        one = c.completions.create(
            model="gemma3-270m", prompt=prompt, max_tokens=8, seed=2, temperature=0
        )
        direct = openai.OpenAI(base_url=local_server.base_url, api_key="none").completions.create(
            model="gemma3-270m", prompt=prompt, max_tokens=8, seed=2, temperature=0
        )
        assert (
            one.choices[0].text == direct.choices[0].text and one.usage == direct.usage
        )  # unchanged
        chunks = list(c.completions.create(model="gemma3-270m", prompt=prompt, max_tokens=8, seed=2, temperature=0,
                                           stream=True))  # fmt: skip
        assert "".join(ch.choices[0].text for ch in chunks if ch.choices) == one.choices[0].text
        read = _prompt_counter(local_server.base_url)
        r = c.completions.create(
            model="gemma3-270m", prompt=prompt, n=6, max_tokens=24, stop=["\n\nQuestion:"]
        )
        dp = r.model_extra["deepprune"]
        assert dp["k"] == 3 and dp["ended"] == 1 and len(r.choices) == 1
        assert r.usage.completion_tokens == dp["tokens"] > 0
        # the prompt tokens the server read for it (3 traces of one prompt), and the sum of both
        assert r.usage.prompt_tokens == _prompt_counter(local_server.base_url) - read > 0
        assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
