"""The one runner and ledger: prune and compare grade and count a method identically."""

from __future__ import annotations

import json

import numpy as np
import pytest

from deepprune.replay.compare import CompareConfig, compare_pool
from deepprune.replay.harness import OnlineConfig, load_questions, run
from deepprune.replay.ledger import Ledger, matched_k
from deepprune.replay.methods import ConsN, Outcome
from deepprune.replay.prune import prune_pool
from deepprune.synth import DEMO_POOL


class _Q:
    def __init__(self, gold_class, tokens):
        self.gold_class, self.tokens = gold_class, np.asarray(tokens, float)


def test_ledger_grades_answers_against_gold_and_keeps_expectations():
    qs = [_Q(0, [10, 30]), _Q(None, [5, 5]), _Q(2, [1, 1])]
    per_q = [[Outcome(0, 10), Outcome(1, 20)], [Outcome(0, 5), Outcome(-1, 5)],
             [Outcome(-1, 1), Outcome(2, 1, correct=0.25)]]  # fmt: skip
    led = Ledger.of("m", qs, per_q)
    assert np.isnan(led.correct[1]).all()  # no gold: ungraded, not wrong
    assert led.correct[0].tolist() == [1.0, 0.0] and led.correct[2].tolist() == [0.0, 0.25]
    row, point = led.summary(), led.point("fam")
    assert row["accuracy"] == pytest.approx(np.mean([(1 + 0) / 2, (0 + 0.25) / 2]))
    assert point["accuracy"] == pytest.approx(row["accuracy"])
    assert row["tokens"] == pytest.approx((10 + 5 + 1 + 20 + 5 + 1) / 6) == point["tokens"]


def test_matched_k_is_the_budget_over_the_mean_trace_and_at_least_one():
    qs = [_Q(0, [10, 30]), _Q(0, [20, 20])]
    assert matched_k(40, qs) == pytest.approx(2.0)
    assert matched_k(5, qs) == 1.0


def test_prune_and_compare_report_the_same_cons_n():
    cfg = OnlineConfig(repeats=3)
    res_p = prune_pool(DEMO_POOL, ["lexical:jaccard"], cfg, ceiling=False, noisy_auroc=None)
    res_c = compare_pool(DEMO_POOL, CompareConfig(online=cfg, families=("esc",), n_boot=10))
    row = next(r for r in res_p["rows"] if r["method"] == "cons@N")
    assert row["accuracy"] == pytest.approx(res_c["cons@N"]["accuracy"])
    assert row["tokens"] == pytest.approx(res_c["cons@N"]["tokens"])
    led = run(ConsN(), load_questions(DEMO_POOL, cfg), cfg)
    assert led.summary()["accuracy"] == row["accuracy"] and led.correct.shape == (12, 3)


def test_a_missing_answer_is_never_correct_even_when_the_gold_matches_no_trace():
    """gold_class -1 (the gold matches no trace's answer) and answer -1 (no answer): wrong, not a
    match of two -1s (that mutation moved cons@N 80% -> 90% on a shared AIMO3 pool)."""
    led = Ledger.of(
        "m",
        [_Q(-1, [10, 10]), _Q(0, [5])],
        [[Outcome(-1, 10), Outcome(0, 10)], [Outcome(-1, 5), Outcome(0, 5)]],
    )
    assert led.correct.tolist() == [[0.0, 0.0], [0.0, 1.0]]


def test_paired_ci_is_a_95_percent_interval_over_graded_questions_only():
    from deepprune.metrics import paired_ci

    d = np.random.default_rng(7).normal(0.1, 1.0, 400)
    lo, hi = paired_ci(d, 20000)
    se = d.std() / np.sqrt(len(d))
    assert (hi - lo) / 2 == pytest.approx(1.96 * se, rel=0.05)  # 90%: 1.645 se, 16% narrower
    assert lo < d.mean() < hi
    # ungraded questions (NaN) are left out, not counted as a difference of zero
    assert paired_ci(np.array([1.0, 1.0, 1.0, np.nan, np.nan]), 500) == [1.0, 1.0]


def test_reductions_use_cons_n_tokens_and_sequential_tokens_as_denominators():
    from deepprune.replay.ledger import add_reductions

    cons_n = {"tokens": 1000.0, "seq_tokens": 200.0}
    row = {"tokens": 400.0, "probe_tokens": 100.0, "seq_tokens": 150.0}
    add_reductions([row], cons_n)
    assert row["reduction_vs_consN"] == pytest.approx(0.6)
    assert row["net_reduction_vs_consN"] == pytest.approx(0.5)
    assert row["seq_reduction_vs_consN"] == pytest.approx(0.25)  # 1 - 150/200, not 1 - 150/1000


def test_net_tokens_count_the_judge_in_prune_and_compare():
    """Net tokens = generated + probes + the judge's input tokens x (judge / reasoner size), in
    every table that shows them (the noisy oracle stands for a judge of judge_params: 4e8 / 8e9 =
    0.05). The oracle is a ceiling: free by definition, its calls shown but never charged."""
    cfg = OnlineConfig(repeats=2, judge_params=4e8, reasoner_params=8e9)
    res_p = prune_pool(DEMO_POOL, ["noisy-oracle", "oracle"], cfg, ceiling=False, noisy_auroc=None)
    row = next(r for r in res_p["rows"] if r["method"].startswith("deepprune[noisy"))
    assert row["aux_tokens"] > 0
    assert row["net_tokens"] == pytest.approx(
        row["tokens"] + row["probe_tokens"] + row["aux_tokens"] * 0.05
    )
    assert row["net_reduction_vs_consN"] < row["reduction_vs_consN"]
    ceiling = next(r for r in res_p["rows"] if r["method"].startswith("deepprune[oracle"))
    assert (
        ceiling["aux_tokens"] > 0
        and ceiling["net_tokens"] == ceiling["tokens"] + ceiling["probe_tokens"]
    )
    res_c = compare_pool(DEMO_POOL, CompareConfig(online=cfg, families=("deepprune",), n_boot=10,
                                                  similarity="noisy-oracle"))  # fmt: skip
    p = res_c["points"][0]
    assert p["aux_tokens"] > 0
    assert p["net_tokens"] == pytest.approx(
        p["tokens"] + p["probe_tokens"] + p["aux_tokens"] * 0.05
    )


def test_a_result_of_other_settings_is_never_overwritten_silently(tmp_path, capsys):
    from deepprune.cli import main

    args = ["prune", "--pool", str(DEMO_POOL), "--judge", "lexical:jaccard", "--out", str(tmp_path)]
    assert main([*args, "--repeats", "1"]) == 0
    saved = (tmp_path / "demo_pool.json").read_text()
    assert main([*args, "--repeats", "1", "--json"]) == 0  # the same settings: rewritten
    capsys.readouterr()
    assert main([*args, "--repeats", "2"]) == 2  # other settings: refused before any work
    assert "holds a result of this pool with other settings" in capsys.readouterr().err
    assert (
        json.loads((tmp_path / "demo_pool.json").read_text())["settings_hash"]
        == json.loads(saved)["settings_hash"]
    )
    for cmd in (
        ["compare", "--methods", "esc", "--bootstrap", "0"],
        ["headroom", "--n-boot", "10"],
    ):
        base = [cmd[0], "--pool", str(DEMO_POOL), *cmd[1:], "--out", str(tmp_path / cmd[0])]
        assert main([*base, "--repeats", "1"]) == 0
        capsys.readouterr()
        assert main([*base, "--repeats", "2"]) == 2, cmd


def test_under_the_default_out_runs_with_other_settings_sit_side_by_side(
    tmp_path, monkeypatch, capsys
):
    """`make demo` (deepprune prune), then `prune --judge oracle` and `prune --judge lexical:jaccard`:
    three files under runs/prune, each named with its settings' hash; the same settings rerun into
    the same file (`--judge lexical:tfidf` is the default's, `--judge oracle` again is the second's)."""
    from deepprune.cli import main

    monkeypatch.chdir(tmp_path)
    pool = ["--pool", str(DEMO_POOL), "--repeats", "1"]
    for extra in ([], ["--judge", "oracle"], ["--judge", "lexical:jaccard"], ["--judge", "lexical:tfidf"],
                  ["--judge", "oracle"]):  # fmt: skip
        assert main(["prune", *pool, *extra]) == 0
    capsys.readouterr()
    files = sorted(p.name for p in (tmp_path / "runs" / "prune").glob("*.json"))
    assert len(files) == 3 and all(f.startswith("demo_pool-") for f in files), files
    hashes = {
        json.loads((tmp_path / "runs" / "prune" / f).read_text())["settings_hash"][:8]
        for f in files
    }
    assert {f.removeprefix("demo_pool-").removesuffix(".json") for f in files} == hashes


def test_prune_says_when_its_prefix_is_the_whole_trace(tmp_path):
    """Short traces (5-7 words) under the default words:25 prefix: every trace is whole, said."""
    from deepprune.replay.prune import prefix_whole_share, results_table
    from tests.conftest import write_jsonl

    rows = [{"id": f"q{k}", "gold": "1", "traces": [{"text": f"so the answer is \\\\boxed{{{a}}}", "num_tokens": 9}
             for a in ("1", "1", "2")]} for k in range(3)]  # fmt: skip
    pool = write_jsonl(tmp_path / "short.jsonl", rows)
    res = prune_pool(
        pool, ["lexical:jaccard"], OnlineConfig(repeats=1), ceiling=False, noisy_auroc=None
    )
    assert res["prefix_whole_share"] == 1.0
    assert "is the whole trace for 100% of traces" in results_table(res)
    res = prune_pool(
        pool,
        ["lexical:jaccard"],
        OnlineConfig(repeats=1, trunc="tokens:3"),
        ceiling=False,
        noisy_auroc=None,
    )
    assert res["prefix_whole_share"] == 0.0 and "whole trace" not in results_table(res)
    assert prefix_whole_share([]) == 0.0


def test_a_pool_without_gold_gets_no_empty_plot(tmp_path, capsys):
    from deepprune.cli import main
    from tests.conftest import write_jsonl

    rows = [{"id": f"q{k}", "traces": [{"answer": a, "num_tokens": n} for a, n in (("1", 40), ("1", 60), ("2", 50))]}
            for k in range(3)]  # fmt: skip
    pool = write_jsonl(tmp_path / "nogold.jsonl", rows)
    for cmd in (
        ["prune", "--judge", "oracle", "--trunc", "tokens:10"],
        ["compare", "--methods", "esc"],
    ):
        assert (
            main(
                [
                    cmd[0],
                    "--pool",
                    str(pool),
                    *cmd[1:],
                    "--repeats",
                    "1",
                    "--out",
                    str(tmp_path / cmd[0]),
                ]
            )
            == 0
        )
        assert "no plot: the pool has no gold answers" in capsys.readouterr().out
        assert not list((tmp_path / cmd[0]).glob("*.png"))
    assert (
        main(["prune", "--pool", str(DEMO_POOL), "--repeats", "1", "--out", str(tmp_path / "g")])
        == 0
    )
    assert "plot: " in capsys.readouterr().out and list((tmp_path / "g").glob("*.png"))
