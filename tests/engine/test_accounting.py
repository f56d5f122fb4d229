"""The live ledger's numbers by hand, through a real HTTP path: our fault server in its well-behaved
mode (``ok``) generates ``10 + seed % 5`` tokens per request (capped at ``max_tokens``) and reports
10 prompt tokens, so every column of a solve record has a value we can compute here."""

import pytest

from deepprune.dev.fault_server import FaultServer
from deepprune.engine.ledger import summarise
from deepprune.engine.problems import Problem, trace_seed
from deepprune.engine.solve import SolveConfig, solve
from deepprune.greedy import ClusterConfig

PROMPT = 10  # prompt tokens the fault server reports per request
MAX, CUT, N = 12, 4, 6


def _length(cfg, qid, i, cap):
    return min(cap, 10 + trace_seed(cfg, qid, i) % 5)


@pytest.fixture(scope="module")
def run():
    cfg = SolveConfig(n=N, methods=("cons@N", "deepprune", "cons@k"), judge="lexical:jaccard",
                      trunc=f"tokens:{CUT}", deterministic=True, max_tokens=MAX, cluster=ClusterConfig(K2=2))  # fmt: skip
    probs = [Problem(f"q{i}", "1+1?", "42") for i in range(4)]
    with FaultServer() as fs:
        res = solve(
            probs, cfg, base_url=fs.url("ok"), model="fault-model", retries=0, progress=False
        )
    return cfg, res


def _recs(res, method):
    return {r["question"]: r for r in res["records"] if r["method"] == method}


def test_cons_n_by_hand(run):
    cfg, res = run
    for q, r in _recs(res, "cons@N").items():
        lengths = [_length(cfg, q, i, MAX) for i in range(N)]
        assert r["tokens"] == sum(lengths)  # generated only: prompt tokens are not generated tokens
        assert r["prompt_tokens"] == N * PROMPT
        assert r["sequential_tokens"] == max(lengths)
        assert r["net_tokens"] == r["tokens"]


def test_deepprune_resume_by_hand(run):
    cfg, res = run
    for q, r in _recs(res, "deepprune").items():
        chosen = r["completed"]
        assert 1 <= len(chosen) <= 3
        # every trace is cut at CUT tokens; a chosen one continues with max_tokens = MAX - CUT (the
        # prefix already generated counts against the limit), so it ends at MAX in all
        cont = [min(MAX - CUT, _length(cfg, q, i, 10**6)) for i in chosen]
        assert r["tokens"] == N * CUT + sum(cont)
        assert all(n <= MAX - CUT for rid, n in r["requests"] if "+" in rid)  # the continuations
        assert r["sequential_tokens"] == CUT + max(
            cont
        )  # the prefix phase, then the longest continuation
        assert r["reread_tokens"] == PROMPT * len(chosen)  # each continuation re-reads its prompt
        assert r["prompt_tokens"] == PROMPT * (N + len(chosen))
        assert r["judge_calls"] >= N - 1  # every arrival after the first is compared with someone


def test_cons_k_budget_and_the_summary_by_hand(run):
    cfg, res = run
    cn, dp, ck = _recs(res, "cons@N"), _recs(res, "deepprune"), _recs(res, "cons@k")
    for q in cn:
        mean = cn[q]["tokens"] / N  # cons@N's mean trace, not its total
        k = int(min(max(round(dp[q]["tokens"] / mean), 1), N))
        assert ck[q]["k"] == k and ck[q]["tokens"] == sum(_length(cfg, q, i, MAX) for i in range(k))
    assert any(r["k"] >= 2 for r in ck.values())  # the budget is not trivially one trace
    # and rounding is tested: budgets with fractions on both sides of one half (a floor or a ceiling
    # differs on one side)
    fractions = [(dp[q]["tokens"] / (cn[q]["tokens"] / N)) % 1 for q in cn]
    assert min(fractions) < 0.5 <= max(fractions)
    rows = {r["method"]: r for r in summarise(res["records"], cfg.methods)}
    for m, recs in (("cons@N", cn), ("deepprune", dp), ("cons@k", ck)):
        toks = [r["tokens"] for r in recs.values()]
        assert rows[m]["tokens"] == pytest.approx(sum(toks) / len(toks))
        assert rows[m]["sequential_tokens"] == pytest.approx(
            sum(r["sequential_tokens"] for r in recs.values()) / 4
        )
        assert rows[m]["reduction_vs_consN"] == pytest.approx(
            1 - sum(toks) / sum(r["tokens"] for r in cn.values())
        )
        assert rows[m]["accuracy"] == pytest.approx(sum(r["correct"] for r in recs.values()) / 4)
    assert rows["cons@N"]["reduction_vs_consN"] == 0
