"""`deepprune generate` against a real OpenAI-compatible server (llama.cpp, Gemma 3 270M on the CPU)."""

import asyncio
import json

import pytest

from deepprune.cli import main
from deepprune.engine.generate import GenerateConfig
from deepprune.engine.problems import trace_seed
from deepprune.engine.server import MODEL_ALIAS
from deepprune.greedy import ClusterConfig
from deepprune.pools import read_pool
from tests.conftest import ROOT

# a real server (~3 tokens/s with logprobs on 2 cores); one test worker runs every llama.cpp server
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("llama")]

PROMPT = ROOT / "DeepPrune_data" / "prompts" / "fewshot_math.txt"
PROBLEMS = ROOT / "DeepPrune_data" / "problems" / "arith24.jsonl"
# 4 traces of at most 16 tokens: llama.cpp computes logprobs at ~3.5 tokens/s on 2 cores
ARGS = ["--n", "4", "--max-tokens", "16", "--logprobs", "5", "--probe-every", "8", "--stop", "\nQuestion:",
        "--prompt", f"@{PROMPT}", "--concurrency", "4", "--no-progress"]  # fmt: skip


def _server_usage(base_url, prompt, seed, max_tokens):
    import openai

    async def go():
        c = openai.AsyncOpenAI(base_url=base_url, api_key="x")
        r = await c.completions.create(model=MODEL_ALIAS, prompt=prompt, max_tokens=max_tokens, seed=seed,
                                       temperature=0.8, top_p=0.95, stop=["\nQuestion:"])  # fmt: skip
        await c.close()
        return r.usage.completion_tokens, r.choices[0].text, r.choices[0].finish_reason

    return asyncio.run(go())


def test_generate_a_real_pool_then_prune_it(local_server, tmp_path, capsys):
    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(PROBLEMS.read_text().splitlines(keepends=True)[:2]))
    out = tmp_path / "pool.jsonl"
    common = [
        "generate",
        "--problems",
        str(probs),
        "--base-url",
        local_server.base_url,
        "--model",
        MODEL_ALIAS,
    ]
    # 48 tokens: room for the boxed answer (16-token traces rarely reach it, and whether any of 8
    # does follows llama.cpp's prompt cache; prune refuses a pool without one answer)
    # (2 traces a problem and a probe every 16 tokens here: top-5 log-probabilities over Gemma's
    # 262k-token vocabulary make each token slow on 2 CPU cores)
    args = ["--n", "2", "--max-tokens", "48", *ARGS[4:6], "--probe-every", "16", *ARGS[8:]]
    assert main([*common, *args, "--out", str(out), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["pools", "validate", str(out)]) == 0
    capsys.readouterr()
    pool = read_pool(out)
    assert len(pool) == 2 and all(len(q.traces) == 2 for q in pool)
    template = PROMPT.read_text()
    q = pool[0]
    for i, t in enumerate(q.traces[:2]):  # the server's own usage for the same seeded request
        n, text, finish = _server_usage(local_server.base_url, template.replace("{question}", q.question),
                                        trace_seed(GenerateConfig(), q.id, i), 48)  # fmt: skip
        assert t.text == text
        if finish == "length":
            assert t.num_tokens == n
        else:  # ended by the stop string: llama.cpp generates its tokens (usage counts them) but
            # holds them back from the stream, so a streamed count (logprobs, probes) misses them
            assert n - 4 <= t.num_tokens <= n
    for q in pool:
        assert q.extra["probe_every"] == 16
        for t in q.traces:
            assert len(t.confs) == t.num_tokens  # one confidence per generated token
            assert len(t.extra["probes"]) == t.num_tokens // 16  # a probe every 16 tokens
    # the same command again: nothing regenerated
    before = out.read_text()
    assert main([*common, *args, "--out", str(out), "--json"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert (
        again["generated_problems"] == 0
        and again["tokens_generated"] == 0
        and out.read_text() == before
    )
    assert first["tokens_generated"] == sum(t.num_tokens for q in pool for t in q.traces)
    # the pool feeds the replay: DeepConf rows run (the pool carries confs)
    assert main(["prune", "--pool", str(out), "--judge", "lexical:jaccard", "--trunc", "tokens:8", "--repeats", "2",
                 "--json", "--out", str(tmp_path / "prune")]) == 0  # fmt: skip
    rows = json.loads(capsys.readouterr().out)["rows"]
    deepconf = [r for r in rows if r["method"].startswith("deepconf")]
    assert deepconf and not any("skipped" in r for r in deepconf)


def test_server_errors_are_one_line(local_server, tmp_path, capsys):
    probs = tmp_path / "p.jsonl"
    probs.write_text(PROBLEMS.read_text().splitlines(keepends=True)[0])
    out = tmp_path / "pool.jsonl"
    for url, model, reason in [("http://127.0.0.1:9/v1", MODEL_ALIAS, "connection refused"),
                               (local_server.base_url, "no-such-model", "unknown model 'no-such-model'")]:  # fmt: skip
        rc = main(["generate", "--problems", str(probs), "--base-url", url, "--model", model, "--out", str(out),
                   "--no-progress"])  # fmt: skip
        err = capsys.readouterr().err.strip()
        assert rc == 2 and reason in err and err.count("\n") == 0 and not out.exists()


def test_solve_on_the_real_server_saves_tokens_and_counts_the_servers_usage(local_server, tmp_path):
    from deepprune.engine.solve import SolveConfig, solve

    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(PROBLEMS.read_text().splitlines(keepends=True)[:2]))
    cfg = SolveConfig(n=8, methods=("cons@N", "deepprune"), judge="lexical:jaccard", trunc="tokens:12", cluster=ClusterConfig(K2=3),
                      max_tokens=48, prompt=PROMPT.read_text(), stop=("\nQuestion:",), concurrent_problems=2)  # fmt: skip
    res = solve(str(probs), cfg, base_url=local_server.base_url, model=MODEL_ALIAS, out=tmp_path / "run",
                progress=False)  # fmt: skip
    by = {(r["question"], r["method"]): r for r in res["records"]}
    template = PROMPT.read_text()
    for qid in ("arith-00", "arith-01"):
        dp, cn = by[(qid, "deepprune")], by[(qid, "cons@N")]
        assert dp["tokens"] < cn["tokens"] and len(dp["completed"]) <= 3
        for i in set(range(8)) - set(
            dp["completed"]
        ):  # a pruned trace: the server stopped it at its prefix
            used = [n for rid, n in dp["requests"] if rid.startswith(f"{qid}/{i}")]
            assert len(used) == 1 and used[0] <= 12
        for rec in (dp, cn):  # the ledger is the sum of the server's usage of every request
            assert rec["token_count"] == ["usage"] and rec["tokens"] == sum(
                n for _, n in rec["requests"]
            )
        question = next(
            json.loads(x) for x in PROBLEMS.read_text().splitlines() if json.loads(x)["id"] == qid
        )["question"]
        asked = dict(dp["requests"])[f"{qid}/0"]  # trace 0's prefix request, asked again directly
        n, _, _ = _server_usage(local_server.base_url, template.replace("{question}", question),
                                trace_seed(cfg, qid, 0), 12)  # fmt: skip
        assert asked == n
    assert (tmp_path / "run" / "config.json").exists()
    assert len((tmp_path / "run" / "records.jsonl").read_text().splitlines()) == 4


def test_solve_with_probes_and_parallel_probe_on_the_real_server(local_server, tmp_path):
    """The probe judge and Parallel-Probe live: every probe is a real request, charged in its own
    columns from the server's usage; the traces' tokens are the sum of their requests' usage."""
    from deepprune.engine.solve import SolveConfig, solve

    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(PROBLEMS.read_text().splitlines(keepends=True)[:2]))
    cfg = SolveConfig(n=6, methods=("cons@N", "deepprune", "parallel-probe"), judge="probe", trunc="probe:1",
                      probe_every=8, probe_tokens=6, cluster=ClusterConfig(K2=2), max_tokens=24, pp_T=2, pp_warm_up=0, pp_patience=1,
                      prompt=PROMPT.read_text(), stop=("\nQuestion:",), concurrent_problems=2)  # fmt: skip
    res = solve(str(probs), cfg, base_url=local_server.base_url, model=MODEL_ALIAS, out=tmp_path / "run",
                progress=False)  # fmt: skip
    assert len(res["records"]) == 6
    for rec in res["records"]:
        probes = [n for rid, n in rec["requests"] if "/probe" in rid]
        traces = [n for rid, n in rec["requests"] if "/probe" not in rid]
        if (
            rec["method"] == "parallel-probe"
        ):  # a trace it stops is a stream we closed: the tokens received
            assert set(rec["token_count"]) <= {"usage", "stream"}
        else:
            assert rec["token_count"] == ["usage"]  # every count is the server's usage field
        assert rec["tokens"] == sum(traces) and rec["probe_tokens"] == sum(probes)
        assert rec["probe_calls"] == len(probes)
        if rec["method"] == "cons@N":
            assert not probes
        else:
            assert (
                probes and rec["probe_prompt_tokens"] > 0
            )  # the probes re-read prompt + partial trace
    dp = [r for r in res["records"] if r["method"] == "deepprune"]
    for r in dp:  # one probe per trace at most, each in one request or more (continued past an
        # inner brace), never generating past --probe-tokens in all
        ids = [rid for rid, _ in r["requests"] if "/probe" in rid]
        probes = {rid.rsplit(".", 1)[0] if "/probe0." in rid else rid for rid in ids}
        assert len(r["completed"]) <= 2 and len(probes) <= 6
        for one in probes:
            assert (
                sum(n for rid, n in r["requests"] if rid == one or rid.startswith(one + ".")) <= 6
            )
    rows = {r["method"]: r for r in res["rows"]}
    assert rows["deepprune"]["probe_tokens"] > 0 and rows["parallel-probe"]["probe_tokens"] > 0


def test_short_m_at_k_on_the_real_server_stops_the_other_streams(local_server, tmp_path):
    """short-1@4 live: four streams per problem, the first to end decides, the other three are
    closed; every trace's tokens are what the server reported (usage) or streamed (closed)."""
    from deepprune.engine.solve import SolveConfig, solve

    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(PROBLEMS.read_text().splitlines(keepends=True)[:2]))
    cfg = SolveConfig(n=6, methods=("cons@N", "short-m@k"), short_k=4, short_m=1, max_tokens=24,
                      prompt=PROMPT.read_text(), stop=("\nQuestion:",), concurrent_problems=1)  # fmt: skip
    res = solve(str(probs), cfg, base_url=local_server.base_url, model=MODEL_ALIAS, out=tmp_path / "run",
                progress=False)  # fmt: skip
    short = [r for r in res["records"] if r["method"] == "short-m@k"]
    assert len(short) == 2
    for rec in short:
        assert (rec["k"], rec["m"], rec["ended"]) == (4, 1, 1)
        assert len(rec["requests"]) == 4 and rec["tokens"] == sum(n for _, n in rec["requests"])
        assert set(rec["token_count"]) <= {"usage", "stream"}
        assert rec["sequential_tokens"] <= 24
    rows = {r["method"]: r for r in res["rows"]}
    assert rows["short-m@k"]["tokens"] < rows["cons@N"]["tokens"]
    # the server's own counter over the run: at least what the ledger received (a closed stream
    # may have generated a token or two more before the server saw the disconnect)
    c = res["counters"]
    assert c["server_counter"] == "llamacpp:tokens_predicted_total"
    assert (
        c["ledger_generated_tokens"]
        <= c["server_generated_tokens"]
        <= c["ledger_generated_tokens"] + 8 * 4
    )


def test_the_server_answers_health_and_its_counter_equals_the_usage_of_a_run(
    local_server, tmp_path, capsys
):
    """GET /health (what vllm-router / sglang-router wait for) and, for non-streamed requests, the
    server's generated-token counter equals the ledger's sum of usage exactly."""
    import urllib.request

    from deepprune.engine.solve import SolveConfig, solve

    root = local_server.base_url.removesuffix("/v1")
    with urllib.request.urlopen(root + "/health", timeout=5) as r:
        assert r.status == 200 and json.loads(r.read()) == {"status": "ok", "max_model_len": 2048}
    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(PROBLEMS.read_text().splitlines(keepends=True)[:2]))
    cfg = SolveConfig(
        n=3, methods=("cons@N",), max_tokens=16, prompt=PROMPT.read_text(), stop=("\nQuestion:",)
    )
    res = solve(str(probs), cfg, base_url=local_server.base_url, model=MODEL_ALIAS, progress=False)
    assert "is not below the server's context" not in capsys.readouterr().err
    c = res["counters"]
    assert (
        c["server_generated_tokens"]
        == c["ledger_generated_tokens"]
        == sum(r["tokens"] for r in res["records"])
    )
    assert "warning" not in c and c["ledger_generated_tokens"] > 0
    # the client learns the context from /health (--max-tokens past it is a warning: test_faults)
    from deepprune.engine.backends.openai_compat import OpenAIBackend

    b = OpenAIBackend(local_server.base_url, MODEL_ALIAS)
    asyncio.run(b.check())
    assert b.context == 2048 and b.context_warning(2047) is None
    assert b.context_warning(32768).startswith(
        "warning: --max-tokens 32768 is not below the server's context of 2048 tokens"
    )


def test_a_killed_probe_solve_on_the_real_server_resumes(local_server, tmp_path):
    """kill -9 after the first finished (problem, method): the rerun keeps those records and
    generates only what was missing."""
    import os
    import signal
    import subprocess
    import sys
    import time

    from deepprune.engine.solve import SolveConfig, solve
    from tests.conftest import ROOT as root

    probs = tmp_path / "p.jsonl"
    probs.write_text("".join(PROBLEMS.read_text().splitlines(keepends=True)[:3]))
    out = tmp_path / "run"
    args = ["--n", "4", "--methods", "cons@N,deepprune", "--judge", "probe", "--trunc", "probe:1", "--probe-every", "6",
            "--probe-tokens", "6", "--max-tokens", "16", "--concurrent-problems", "1", "--stop", "\nQuestion:"]  # fmt: skip
    cmd = [sys.executable, "-m", "deepprune.cli", "solve", "--problems", str(probs), "--base-url", local_server.base_url,
           "--model", MODEL_ALIAS, "--prompt", f"@{PROMPT}", "--no-progress", "--out", str(out), *args]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec = out / "records.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (
        not rec.exists() or len(rec.read_text().splitlines()) < 1
    ):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [json.loads(x) for x in rec.read_text().splitlines() if x.strip()]
    assert 1 <= len(before) < 6
    cfg = SolveConfig(n=4, methods=("cons@N", "deepprune"), judge="probe", trunc="probe:1", probe_every=6,
                      probe_tokens=6, max_tokens=16, concurrent_problems=1, prompt=f"@{PROMPT}", stop=("\nQuestion:",))  # fmt: skip
    res = solve(
        str(probs), cfg, base_url=local_server.base_url, model=MODEL_ALIAS, out=out, progress=False
    )
    keys = [(r["question"], r["method"]) for r in res["records"]]
    assert len(keys) == len(set(keys)) == 6
    kept = {(r["question"], r["method"]): r for r in before}
    for r in res["records"]:  # what the killed run finished is kept as it was, not redone
        if (r["question"], r["method"]) in kept:
            assert r["requests"] == kept[(r["question"], r["method"])]["requests"]


def test_the_endpoint_llm_judge_reads_the_label_logprobs_of_the_real_server(local_server):
    """llm:endpoint=URL,model=NAME: its scores are P(yes)/(P(yes)+P(no)) of a direct max_tokens=1
    request's top log-probabilities, and its cost is exactly the usage the server reported."""
    import openai
    import pytest

    from deepprune.judges import JudgePair, get_judge
    from deepprune.judges.endpoint import endpoint_prompt, label_logprob, top_logprobs
    from deepprune.judges.llm import yes_probability

    judge = get_judge(f"llm:endpoint={local_server.base_url},model={MODEL_ALIAS},concurrency=2")
    pairs = [JudgePair("We add 2 and 3 to get 5.", "Two plus three is 5."),
             JudgePair("So the answer is 7.", "Hence we get 12.")]  # fmt: skip
    client = openai.OpenAI(base_url=local_server.base_url, api_key="EMPTY")

    def direct(p):
        r = client.completions.create(model=MODEL_ALIAS, prompt=endpoint_prompt(p), max_tokens=1, temperature=0.0,
                                      logprobs=20)  # fmt: skip
        top = top_logprobs(r.choices[0])
        return label_logprob(top, "yes"), label_logprob(top, "no"), r.usage

    usage, found = 0, 0
    for p in pairs:
        # llama.cpp's logits depend slightly on what its prompt cache holds (how the prompt is split
        # into batches): prime the cache with this very prompt, then ask the judge and directly,
        # each from the same cache state
        direct(p)
        (g,) = judge.score([p])
        y, n, u = direct(p)
        found += (y is not None) + (n is not None)
        assert g == pytest.approx(yes_probability(y, n), abs=1e-3)
        usage += u.prompt_tokens + u.completion_tokens
    assert found > 0  # the labels are among the top tokens: the scores are not the 0.5 default
    assert judge.requests == 2 and judge.served_tokens == usage


def test_the_readmes_cpu_solve_command_runs(local_server, tmp_path, capsys, monkeypatch):
    """The README's `deepprune solve` for this CPU's server, as written (its prompt, stop, probe
    spacing and methods), on one problem with 4 traces: it runs, every method is in the table, and
    the server's context takes its --max-tokens without a warning."""
    import shlex

    from tests.test_doc_numbers import readme_commands

    (cmd,) = [c for c in readme_commands((ROOT / "README.md").read_text(encoding="utf-8"))
              if c.startswith("deepprune solve ") and "gemma3-270m" in c and "cons@k" in c]  # fmt: skip
    argv = shlex.split(cmd)[1:]
    (shell,) = [i for i, a in enumerate(argv) if a.startswith("$(printf")]
    argv[shell] = "\nQuestion:"  # what the shell makes of "$(printf '\nQuestion:')"
    monkeypatch.chdir(ROOT)  # its @DeepPrune_data/prompts/... path
    argv[argv.index("--problems") + 1] = str(tmp_path / "p.jsonl")
    (tmp_path / "p.jsonl").write_text(
        (ROOT / "DeepPrune_data/problems/add24.jsonl").read_text().splitlines()[0] + "\n"
    )
    argv[argv.index("--base-url") + 1] = local_server.base_url
    argv[argv.index("--n") + 1] = "4"
    argv[argv.index("--out") + 1] = str(tmp_path / "run")
    assert main([*argv, "--no-progress", "--json"]) == 0
    err = capsys.readouterr().err
    assert "context" not in err
    rows = json.loads((tmp_path / "run" / "results.json").read_text())["rows"]
    assert {r["method"] for r in rows} == {"cons@N", "cons@k", "deepprune", "short-m@k"}
