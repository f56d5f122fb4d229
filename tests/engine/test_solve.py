"""`deepprune solve` on a replayed pool: the same decisions as the simulator, pruned traces really stop, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.engine.solve import SolveConfig, solve
from deepprune.errors import ConfigError
from deepprune.grading import AnswerClasses
from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.pools import read_pool
from deepprune.replay.batched import cluster_runs, select_completed
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions, orders_for
from deepprune.replay.methods import DeepPrune
from deepprune.rng import run_key
from tests.conftest import DEMO_POOL, ROOT, shared_pool


@pytest.mark.parametrize("pool,judge", [("demo", "oracle"), ("demo", "lexical:jaccard"),
                                        ("qwen3-8b-mmlu-think-n50.jsonl", "lexical:jaccard"),
                                        ("qwen3-8b-mmlu-think-n50.jsonl", "oracle")])  # fmt: skip
def test_solve_on_a_replayed_pool_makes_the_simulators_decisions(pool, judge):
    path = DEMO_POOL if pool == "demo" else shared_pool(pool)
    n = len(read_pool(path)[0].traces)
    cfg = SolveConfig(n=n, methods=("deepprune",), judge=judge, trunc="tokens:40", deterministic=True,
                      max_tokens=10**7, seed=3)  # fmt: skip
    res = solve(None, cfg, backend="replay", pool=str(path), progress=False)
    recs = {r["question"]: r for r in res["records"]}
    oc = OnlineConfig(trunc="tokens:40", repeats=1, seed=3)
    qs = load_questions(path, oc)
    j = get_judge(judge)
    attach_judge(qs, j)
    for q in qs:
        order = orders_for(q, oc)[0]
        key = run_key("deepprune", 3, 0, q.qid)
        runs = cluster_runs(np.array([order]), np.array([0.5]), np.array([key], dtype=np.uint64), q.scores[j.id],
                            ClusterConfig())  # fmt: skip
        done, fallback = select_completed(runs, 0, ClusterConfig(), key)
        rec = recs[q.qid]
        assert rec["completed"] == done and rec["fallback"] == fallback  # the same traces completed
        sim = DeepPrune(j.id).run_repeats(q, [order], 3)[0]
        assert rec["tokens"] == sim.tokens  # the same tokens: N prefixes + the completions' rest
        src = next(x for x in read_pool(path) if x.id == q.qid)
        classes = AnswerClasses([t.answer for t in src.traces] + [rec["answer"]], src.answer_type)
        assert classes.labels[-1] == sim.answer  # the same voted answer


def test_stream_mode_stops_pruned_traces_and_counts_their_waste():
    import asyncio

    from deepprune.engine.backends.replay import ReplayBackend
    from deepprune.engine.problems import Problem
    from deepprune.engine.solve import _solve

    backend = ReplayBackend(str(DEMO_POOL), rate=0)
    q = read_pool(DEMO_POOL)[0]
    cfg = SolveConfig(n=32, methods=("cons@N", "deepprune"), trunc="tokens:40", mode="stream", max_tokens=10**7,
                      judge="lexical:jaccard")  # fmt: skip
    res = asyncio.run(_solve([Problem(q.id, "", q.gold, q.answer_type)], backend, cfg, None, False))
    dp = next(r for r in res["records"] if r["method"] == "deepprune")
    cn = next(r for r in res["records"] if r["method"] == "cons@N")
    served = backend.served
    pruned = [i for i in range(32) if i not in dp["completed"]]
    assert pruned and dp["tokens"] < cn["tokens"]
    streamed = {rid: n for rid, n in dp["requests"]}
    for (
        i
    ) in pruned:  # a pruned trace stopped: what was streamed is its prefix plus the counted waste
        assert streamed[f"{q.id}/{i}"] == served[f"{q.id}/{i}"] < len(q.traces[i].text)
    assert dp["inflight_waste"] == sum(streamed[f"{q.id}/{i}"] - 40 for i in pruned)


def test_bad_solve_configs_are_config_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="frac"):
        SolveConfig(trunc="frac:0.3")
    with pytest.raises(ConfigError, match="unknown method"):
        SolveConfig(methods=("cons@N", "best-of-n"))
    rc = main(
        ["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--judge", "lexcal:jaccard"]
    )
    assert rc == 2 and "unknown judge 'lexcal'" in capsys.readouterr().err


def test_a_killed_solve_resumes_without_redoing_finished_problems(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "deepprune.cli", "solve", "--backend", "replay", "--pool", str(DEMO_POOL),
           "--n", "32", "--trunc", "tokens:40", "--max-tokens", "100000", "--methods", "cons@N,deepprune",
           "--rate", "20000", "--concurrency", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec = out / "records.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (
        not rec.exists() or len(rec.read_text().splitlines()) < 3
    ):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [json.loads(x) for x in rec.read_text().splitlines() if x.strip()]
    assert 3 <= len(before) < 24  # killed part-way
    finished = {r["question"] for r in before if r["method"] == "deepprune"}
    res = solve(None, SolveConfig(n=32, trunc="tokens:40", max_tokens=100000, methods=("cons@N", "deepprune")),
                backend="replay", pool=str(DEMO_POOL), out=out, progress=False)  # fmt: skip
    assert res["solved_now"] == 12 - len(finished)  # finished problems are not redone
    keys = [(r["question"], r["method"]) for r in res["records"]]
    assert len(keys) == len(set(keys)) == 24
