import json

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.replay.harness import (
    OnlineConfig,
    attach_judge,
    load_questions,
    run_method,
    run_sweep,
)
from deepprune.replay.methods import ConsK, ConsN, DeepPrune
from deepprune.replay.prune import parse_sweep, prune_pool
from tests.conftest import DEMO_POOL, write_jsonl


def _pool(tmp_path, answers, tokens=100, gold="1", name="p.jsonl"):
    traces = [{"text": f"First, step {k}. Then more. So \\boxed{{{a}}}", "answer": a, "num_tokens": tokens}
              for k, a in enumerate(answers)]  # fmt: skip
    row = {"id": "q", "traces": traces, "answer_type": "math"}
    if gold is not None:
        row["gold"] = gold
    return write_jsonl(tmp_path / name, [row])


def test_all_agree_costs_prefixes_plus_k2_completions(tmp_path):
    pool = _pool(tmp_path, ["1"] * 30, tokens=100)
    cfg = OnlineConfig(trunc="tokens:10", repeats=1, shuffle=False)
    qs = load_questions(pool, cfg)
    attach_judge(qs, get_judge("oracle"))
    row = run_method(DeepPrune("oracle", cfg.cluster), qs, cfg)
    assert row["tokens"] == 30 * 10 + 20 * (100 - 10)  # N prefixes + K2 completions
    assert row["accuracy"] == 1.0 and row["clusters_mean"] == 1 and row["completed_mean"] == 20


def test_cost_accounting_sums_exactly_with_short_traces(tmp_path):
    pool = _pool(tmp_path, ["1", "2", "1", "2", "1"], tokens=8)  # prefix longer than the trace
    cfg = OnlineConfig(trunc="tokens:50", repeats=1, shuffle=False)
    qs = load_questions(pool, cfg)
    attach_judge(qs, get_judge("oracle"))
    row = run_method(DeepPrune("oracle", cfg.cluster), qs, cfg)
    assert row["tokens"] == 5 * 8  # each trace costs its full length, nothing more
    assert run_method(ConsN(), qs, cfg)["tokens"] == 40


def test_no_gold_reports_cost_without_accuracy(tmp_path):
    pool = _pool(tmp_path, ["1", "2", "1"], gold=None)
    res = prune_pool(pool, ["lexical:jaccard"], OnlineConfig(trunc="tokens:5", repeats=2))
    row = next(r for r in res["rows"] if r["method"] == "deepprune[lexical:jaccard]")
    graded = prune_pool(_pool(tmp_path, ["1", "2", "1"], name="g.jsonl"), ["lexical:jaccard"],
                        OnlineConfig(trunc="tokens:5", repeats=2))  # fmt: skip
    same = next(r for r in graded["rows"] if r["method"] == "deepprune[lexical:jaccard]")
    assert row["accuracy"] is None and same["accuracy"] is not None
    assert row["tokens"] == same["tokens"] > 0  # the cost of a run does not depend on the gold


def test_no_answers_is_a_clear_error(tmp_path):
    p = write_jsonl(
        tmp_path / "none.jsonl", [{"id": "q", "traces": [{"text": "no answer", "answer": None}]}]
    )
    with pytest.raises(ValueError, match="no trace in the pool has an answer"):
        load_questions(p, OnlineConfig())


def test_cons_k_fractional_budget_and_seeds():
    cfg = OnlineConfig(repeats=8, seed=1)
    qs = load_questions(DEMO_POOL, cfg)
    mean = np.mean([q.tokens.mean() for q in qs])
    row = run_method(ConsK(2.5), qs, cfg)
    assert row["tokens"] == pytest.approx(2.5 * mean, rel=0.15)
    assert run_method(ConsK(3), qs, cfg) == run_method(ConsK(3), qs, cfg)


def test_sweep_parse():
    assert (
        parse_sweep("tau=0.1:0.9:0.05")[:3] == [0.1, 0.15, 0.2]
        and len(parse_sweep("tau=0.1:0.9:0.05")) == 17
    )
    with pytest.raises(ValueError):
        parse_sweep("K=1:2:1")


def test_sweep_parse_at_its_edges():
    """START = STOP is one value; STOP is never passed however the steps round; at most 1,000 values
    (our choice); each refusal one line naming the spec and the reason."""
    assert parse_sweep("tau=0.5:0.5:0.1") == [0.5]
    assert parse_sweep("tau=0:0.25:0.1") == [0.0, 0.1, 0.2]  # 3.5 steps: rounded up, 0.3 dropped
    assert parse_sweep("tau=0.1:0.3:0.1") == [0.1, 0.2, 0.3]  # 0.30000000000000004 kept as 0.3
    assert len(parse_sweep("tau=0:0.999:0.001")) == 1000
    assert parse_sweep("tau=0.5:1:0.001")[-1] == 1.0 and len(parse_sweep("tau=0.5:1:0.001")) == 501
    refusals = {
        "K=1:2:1": "bad sweep 'K=1:2:1': only tau=START:STOP:STEP is supported",
        "tau=0.1:0.2:0.1=x": "bad sweep 'tau=0.1:0.2:0.1=x': expected tau=START:STOP:STEP",
        "tau=0.1:0.2": "bad sweep 'tau=0.1:0.2': expected tau=START:STOP:STEP",
        "tau=0.1:0.9:0": "bad sweep 'tau=0.1:0.9:0': needs START <= STOP and STEP > 0",
        "tau=0.1:0.9:-0.1": "bad sweep 'tau=0.1:0.9:-0.1': needs START <= STOP and STEP > 0",
        "tau=0.9:0.1:0.1": "bad sweep 'tau=0.9:0.1:0.1': needs START <= STOP and STEP > 0",
        "tau=0:1:0.001": "bad sweep 'tau=0:1:0.001': 1001.0 values; at most 1000",
    }
    for spec, says in refusals.items():
        with pytest.raises(ConfigError) as e:
            parse_sweep(spec)
        assert str(e.value) == says
    with pytest.raises(ConfigError) as e:
        parse_sweep("tau=0.5:1.5:0.5")  # 1.5 is no tau
    assert str(e.value) == "bad sweep 'tau=0.5:1.5:0.5': tau must be in [0, 1], got 1.5"


def test_prune_cli_demo_json(tmp_path, capsys):
    assert (
        main(
            [
                "prune",
                "--json",
                "--repeats",
                "2",
                "--out",
                str(tmp_path),
                "--sweep",
                "tau=0.3:0.7:0.2",
            ]
        )
        == 0
    )
    res = json.loads(capsys.readouterr().out)
    names = [r["method"] for r in res["rows"]]
    assert (
        "cons@N" in names and "deepprune[lexical:tfidf]" in names and "deepprune[oracle]" in names
    )
    assert any(n.startswith("cons@k") for n in names) and len(res["sweep"]) == 3
    oracle = next(r for r in res["rows"] if r["method"] == "deepprune[oracle]")
    assert oracle["reduction_vs_consN"] > 0.2 and (tmp_path / "demo_pool_tradeoff.png").exists()


def test_deepconf_on_pool_with_confs(tmp_path):
    from deepprune.pools import write_pool
    from deepprune.synth import SynthConfig, synth_pool

    p = tmp_path / "c.jsonl"
    write_pool(p, synth_pool(SynthConfig(questions=4, traces=24, median_tokens=3000, confs=True)))
    res = prune_pool(p, ["lexical:jaccard"], OnlineConfig(repeats=1))
    rows = {r["method"]: r for r in res["rows"]}
    assert (
        "skipped" not in rows["deepconf-low"]
        and rows["deepconf-low"]["tokens"] < rows["cons@N"]["tokens"]
    )
    assert rows["deepconf-high-offline"]["tokens"] == rows["cons@N"]["tokens"]


def test_paper_entry_point_script(tmp_path):
    import subprocess
    import sys

    from tests.conftest import ROOT

    out = subprocess.run([sys.executable, str(ROOT / "Online" / "greedy_cluster_threshold.py"), "--repeats", "1",
                          "--out", str(tmp_path), "--noisy-auroc", "0"], capture_output=True, text=True, cwd=ROOT)  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "| cons@N |" in out.stdout and "deepprune[lexical:tfidf]" in out.stdout


def test_sweep_rows_equal_single_runs_and_workers_agree():
    cfg = OnlineConfig(repeats=3)
    qs = load_questions(DEMO_POOL, cfg)
    judge = get_judge("noisy-oracle:auroc=0.8")
    attach_judge(qs, judge)
    rows = [led.summary() for led in run_sweep(DeepPrune(judge.id), [0.3, 0.6], qs, cfg)]
    single = run_method(DeepPrune(judge.id, ClusterConfig(tau=0.6)), qs, cfg)
    assert rows[1]["tokens"] == single["tokens"] and rows[1]["accuracy"] == single["accuracy"]
    assert rows[0]["tokens"] != rows[1]["tokens"]
    calls = sum(q.scores[judge.id].calls for q in qs)
    # the same run in two forked workers: same row, and their judge scores come back to the memo
    cfg2 = OnlineConfig(repeats=3, workers=2)
    qs2 = load_questions(DEMO_POOL, cfg2)
    attach_judge(qs2, judge)
    par = run_method(DeepPrune(judge.id, ClusterConfig(tau=0.6)), qs2, cfg2)
    assert {k: par[k] for k in ("tokens", "accuracy", "aux_calls")} == {
        k: single[k] for k in ("tokens", "accuracy", "aux_calls")
    }
    assert all(q.scores[judge.id].calls == q.scores[judge.id].distinct() > 0 for q in qs2)
    assert sum(q.scores[judge.id].calls for q in qs2) <= calls
    before = sum(q.scores[judge.id].calls for q in qs2)
    run_method(DeepPrune(judge.id, ClusterConfig(tau=0.6)), qs2, cfg2)
    assert sum(q.scores[judge.id].calls for q in qs2) == before  # nothing scored twice


def test_holdout_keeps_only_the_pair_builders_test_questions():
    from deepprune.pairs import PairConfig, build_pairs

    qs = load_questions(DEMO_POOL, OnlineConfig(holdout=0.4))
    test_qids = {p.qid for p in build_pairs([DEMO_POOL], PairConfig(test_fraction=0.4))["test"]}
    assert {q.qid for q in qs} == test_qids and 0 < len(qs) < 12


def test_budget_matched_cons_k_spends_what_deepprune_spent():
    cfg = OnlineConfig(repeats=2)
    res = prune_pool(DEMO_POOL, ["lexical:jaccard"], cfg, noisy_auroc=None)
    dp = next(r for r in res["rows"] if r["method"] == "deepprune[lexical:jaccard]")
    matched = next(r for r in res["rows"] if "budget-matched" in r["method"])
    qs = load_questions(DEMO_POOL, cfg)
    mean_trace = float(np.mean([q.tokens.mean() for q in qs]))
    assert matched["k"] == pytest.approx(dp["tokens"] / mean_trace)  # k traces of the mean length
    assert matched["tokens"] == pytest.approx(dp["tokens"], rel=0.15)  # the same budget, sampled


def test_drop_textless_drops_only_traces_without_text(tmp_path, capsys):
    rows = [json.loads(x) for x in DEMO_POOL.read_text().splitlines()[:3]]
    rows[0]["traces"][0]["text"] = None
    rows[0]["traces"][0]["answer"] = "50"
    pool = write_jsonl(tmp_path / "p.jsonl", rows)
    with pytest.raises(ConfigError, match="traces without text have no words:25 prefix"):
        prune_pool(
            pool, ["lexical:jaccard"], OnlineConfig(repeats=1), ceiling=False, noisy_auroc=None
        )
    res = prune_pool(pool, ["lexical:jaccard"], OnlineConfig(repeats=1, drop_textless=True), ceiling=False,
                     noisy_auroc=None)  # fmt: skip
    assert res["traces_per_question"] == pytest.approx(95 / 3)
    assert "dropped 1 traces without text" in capsys.readouterr().err


def test_figures_from_saved_results(tmp_path, capsys):
    res = tmp_path / "results"
    assert (
        main(["prune", "--repeats", "2", "--sweep", "tau=0.3:0.7:0.2", "--out", str(res), "--json"])
        == 0
    )
    assert main(["compare", "--pool", str(DEMO_POOL), "--methods", "esc,deepprune", "--repeats", "2",
                 "--bootstrap", "0", "--out", str(res), "--json"]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["judge", "grid", "--pool", str(DEMO_POOL), "--trunc", "words:10", "--judge", "lexical:jaccard",
                 "--bootstrap", "0", "--json"]) == 0  # fmt: skip
    (res / "grid.json").write_text(capsys.readouterr().out)
    from deepprune.judgelab.crossfit import crossfit_rows

    rng = np.random.default_rng(0)  # cross-fitted rows (crossencoder / features crossfit --json)
    y, groups = rng.integers(0, 2, 400), np.repeat(["a", "b", "c", "d"], 100)
    scores = {"sbert": rng.random(400), "trained": y + rng.random(400)}
    rows = crossfit_rows("p.jsonl", "words:25", 4, scores, y, groups, "sbert", 0, progress=False)
    (res / "crossfit.json").write_text(json.dumps(rows))
    ablation = [
        {**r, "pool": "q.jsonl"} for r in rows
    ]  # crossencoder ablation --json: rows and cells_dir
    (res / "ablation.json").write_text(json.dumps({"rows": ablation, "cells_dir": "runs/ablation"}))
    for png in res.glob("*.png"):
        png.unlink()
    assert main(["figures", "--results", str(res), "--out", str(tmp_path / "figs")]) == 0
    made = sorted(p.name for p in (tmp_path / "figs").glob("*.png"))
    assert made == [
        "ablation_q_words25_roc.png",
        "crossfit_p_words25_roc.png",
        "demo_pool_compare.png",
        "demo_pool_tradeoff.png",
        "grid_demo_pool_words10_roc.png",
    ]
    assert all((tmp_path / "figs" / m).read_bytes()[:4] == b"\x89PNG" for m in made)
    grid = json.loads((res / "grid.json").read_text())
    assert grid[0]["roc"]["fpr"][0] == 0.0 and len(grid[0]["roc"]["fpr"]) <= 200
    assert main(["figures", "--results", str(tmp_path / "figs")]) == 2  # no result JSON there


def test_noisy_oracles_at_the_measured_auroc_of_the_run_judges(tmp_path, capsys):
    assert main(["judge", "grid", "--pool", str(DEMO_POOL), "--trunc", "words:10", "--judge", "lexical:jaccard",
                 "--bootstrap", "0", "--json"]) == 0  # fmt: skip
    grid = tmp_path / "grid.json"
    grid.write_text(capsys.readouterr().out)
    measured = json.loads(grid.read_text())[0]["auroc"]
    argv = ["prune", "--judge", "lexical:jaccard", "--trunc", "words:10", "--repeats", "2", "--no-ceiling",
            "--noisy-auroc", "0", "--out", str(tmp_path / "o"), "--json"]  # fmt: skip
    assert main([*argv, "--noisy-from", str(grid)]) == 0
    methods = [r["method"] for r in json.loads(capsys.readouterr().out)["rows"]]
    assert f"deepprune[noisy-oracle:auroc={measured:.3f}]" in methods
    # --no-ceiling and --noisy-auroc 0: no oracle row, no noisy oracle at a set AUROC
    assert [m for m in methods if m.startswith("deepprune[")] == [
        "deepprune[lexical:jaccard]",
        f"deepprune[noisy-oracle:auroc={measured:.3f}]",
    ]
    assert main([*argv[:7], "--noisy-auroc", "0.7", "--out", str(tmp_path / "o2"), "--json"]) == 0
    methods = [r["method"] for r in json.loads(capsys.readouterr().out)["rows"]]
    assert [m for m in methods if m.startswith("deepprune[")] == [
        "deepprune[lexical:jaccard]",
        "deepprune[oracle]",
        "deepprune[noisy-oracle:auroc=0.7]",
    ]
    assert main([*argv, "--noisy-from", str(tmp_path / "none.json")]) == 2
    err = capsys.readouterr().err.strip()
    assert "none.json: no such judge grid result" in err and len(err.splitlines()) == 1


def test_noisy_oracles_refuse_a_grid_that_lists_none_of_the_judges(tmp_path):
    from deepprune.replay.prune import measured_noisy_oracles

    grid = tmp_path / "grid.json"
    grid.write_text(
        json.dumps([{"judge": "a", "auroc": 0.81234}, {"judge": "b", "auroc": None}, "row"])
    )
    assert measured_noisy_oracles(grid, ["b", "a", "c"]) == ["noisy-oracle:auroc=0.812"]
    for text in (
        "5",
        json.dumps({"judge": "a", "auroc": 0.8}),
        json.dumps([{"judge": "b", "auroc": 1}]),
    ):
        grid.write_text(text)  # a number, an object, an AUROC that is no float: none listed
        with pytest.raises(ConfigError) as e:
            measured_noisy_oracles(grid, ["a", "b"])
        assert str(e.value) == f"{grid}: lists none of the judges ['a', 'b'] (noisy_from)"
    grid.write_text("{not json")
    with pytest.raises(ConfigError) as e:
        measured_noisy_oracles(grid, ["a"])
    assert str(e.value).startswith(f"{grid}: not a judge grid result JSON (")


def test_the_results_table_by_hand():
    """The prune report's Markdown, line by line, from a result written out: a row with gold, one
    without (its agreement with cons@N), one skipped; sequential tokens absent; warnings for the
    few-clusters row and for a prefix that is the whole trace."""
    from deepprune.replay.prune import WHOLE_WARN, results_table

    row = {"method": "deepprune", "accuracy": 0.5, "accuracy_std": 0.125, "tokens": 12345.6, "probe_tokens": 10.4,
           "reduction_vs_consN": 0.4567, "net_reduction_vs_consN": 0.3, "seq_tokens": 2000.4,
           "seq_reduction_vs_consN": 0.25, "aux_calls": 1234.5, "aux_tokens": 99.5}  # fmt: skip
    nogold = {**row, "method": "cons@N", "accuracy": None, "agrees_with_consN": 0.875, "seq_tokens": None,
              "seq_reduction_vs_consN": None, "warning": "one cluster", "clusters_mean": 1.04}  # fmt: skip
    del nogold["probe_tokens"]
    res = {"pool": "/a/b/pool.jsonl", "questions": 3, "traces_per_question": 16.0, "token_counter": "words",
           "config": {"trunc": "words:25", "repeats": 2, "reasoner_params": 8e9, "judge_params": 0.5e9},
           "rows": [row, nogold, {"method": "oracle", "skipped": "no gold"}],
           "prefix_whole_share": WHOLE_WARN + 0.01}  # fmt: skip
    lines = results_table(res).split("\n")
    assert lines[0].startswith("**pool.jsonl** — 3 questions × 16 traces, prefix `words:25`, 2 repeats, tokens by "
                               "`words`; ") and "(reasoner 8B; a judge of unknown size: 0.5B)" in lines[0]  # fmt: skip
    assert lines[1] == "" and lines[2].startswith(
        "| method | accuracy (± sd) | generated tokens / question |"
    )
    assert lines[3] == "|---|---|---|---|---|---|---|---|---|---|"
    assert (
        lines[4]
        == "| deepprune | 50.0 ± 12.5 | 12,346 | 10 | 45.7% | 30.0% | 2,000 | 25.0% | 1,234 | 100 |"
    )
    assert (
        lines[5]
        == "| cons@N | n/a (no gold); votes as cons@N: 87.5% | 12,346 | 0 | 45.7% | 30.0% | n/a | n/a | 1,234 | 100 |"
    )
    assert lines[6] == "| oracle | skipped: no gold | | | | | | | | |"
    assert lines[7:9] == ["", "Warnings:"]
    assert lines[9] == "- cons@N: one cluster (clusters per run: 1.0)"
    assert lines[10] == (f"- the prefix `words:25` is the whole trace for {100 * (WHOLE_WARN + 0.01):.0f}% of traces: "
                         "DeepPrune has little or nothing to save there (use a shorter prefix, e.g. frac:0.3)")  # fmt: skip
    assert len(lines) == 11
    quiet = results_table({**res, "rows": [row], "prefix_whole_share": WHOLE_WARN})
    assert "Warnings:" not in quiet and quiet.split("\n")[-1] == lines[4]
    assert (
        results_table({**res, "rows": [{**row, "accuracy": None}]})
        .split("\n")[4]
        .startswith("| deepprune | n/a (no gold) |")
    )


@pytest.mark.parametrize("judges, ceiling, noisy", [
    (["lexical:jaccard"], True, 0.8), (["oracle"], True, None), (["lexical:jaccard"], False, 0.8),
    (["noisy-oracle:auroc=0.7", "lexical:jaccard"], False, 0.8),
])  # fmt: skip
def test_prune_pool_recomputed_from_the_same_runs(tmp_path, judges, ceiling, noisy):
    """Every row of ``prune_pool`` is the run of its method over the same questions: the baselines,
    DeepPrune with each judge (the ceiling's oracle and the noisy oracle added once, unless given
    or off), the tau sweep with the first judge, cons@k at the first judge's budget and the cons@k
    curve, each with its agreement with cons@N and the reductions against it."""
    from deepprune.replay.harness import k_grid, run
    from deepprune.replay.ledger import add_reductions, matched_k, net_tokens
    from deepprune.replay.methods import BASELINE_FAMILIES, families

    words = ["First", "x", "then", "y", "so", "maybe", "wait", "check"]
    rows = [{"id": f"q{i}", "gold": "5", "answer_type": "math", "traces": [
        {"text": " ".join(words[(i + k) % 8:][:2 + k]) + f" \\boxed{{{a}}}", "answer": a, "num_tokens": 20 + 7 * k}
        for k, a in enumerate(ans)]} for i, ans in enumerate([["5", "5", "7", "5", None], ["7", "5", "7", "7"]])]  # fmt: skip
    tiny_pool = write_jsonl(tmp_path / "p.jsonl", rows)
    cfg = OnlineConfig(trunc="words:3", repeats=2, cluster=ClusterConfig(K2=2, K3=2, tau=0.4))
    got = prune_pool(tiny_pool, judges, cfg, sweep=[0.2, 0.9], ceiling=ceiling, noisy_auroc=noisy)
    specs = list(judges) + (["oracle"] if ceiling and "oracle" not in judges else [])
    specs += (
        [f"noisy-oracle:auroc={noisy}"]
        if noisy and not any(s.startswith("noisy") for s in judges)
        else []
    )
    assert got["judges"] == specs

    qs = load_questions(tiny_pool, cfg)
    base = run(families()["cons@N"]()[0], qs, cfg)
    rows = [run_method(m, qs, cfg, False, base) for f in BASELINE_FAMILIES for m in families()[f]()]
    cons_n = next(r for r in rows if r["method"] == "cons@N")
    for spec in specs:
        judge = get_judge(spec)
        attach_judge(qs, judge)
        row = run_method(
            DeepPrune(judge.id, cfg.cluster, name=f"deepprune[{spec}]"), qs, cfg, False, base
        )
        row["judge_distinct_pairs"] = int(sum(q.scores[judge.id].calls for q in qs))
        row["net_tokens"] = net_tokens(row, cfg.judge_ratio(judge))
        rows.append(row)
    first = get_judge(specs[0])
    swept = run_sweep(
        DeepPrune(first.id, cfg.cluster, name=f"deepprune[{specs[0]}]"), [0.2, 0.9], qs, cfg
    )
    sweep = [led.summary() | {"tau": tau, "agrees_with_consN": led.agreement(base)}
             for led, tau in zip(swept, [0.2, 0.9])]  # fmt: skip
    for r in sweep:
        r["net_tokens"] = net_tokens(r, cfg.judge_ratio(first))
    main = next(r for r in rows if r["method"] == f"deepprune[{specs[0]}]")
    k = matched_k(main["tokens"], qs)
    rows.append(
        run_method(ConsK(k, name=f"cons@k (k={k:.2f}, budget-matched)"), qs, cfg, base=base)
        | {"k": k}
    )
    add_reductions(rows + sweep, cons_n)
    assert got["rows"] == rows
    assert got["sweep"] == sweep and [r["tau"] for r in got["sweep"]] == [0.2, 0.9]
    assert got["cons_k_curve"] == [run_method(ConsK(j, name=f"cons@{j}"), qs, cfg, base=base) | {"k": j}
                                   for j in k_grid(5)]  # fmt: skip
    ran = [
        r for r in got["rows"] + got["cons_k_curve"] if "skipped" not in r
    ]  # DeepConf: no confidences
    assert len(ran) > len(specs) + 5 and all("agrees_with_consN" in r for r in ran)
    assert (got["questions"], got["traces_per_question"]) == (2, 4.5)


def test_the_whole_prefix_share_by_hand():
    """The share of all traces (over every question) whose prefix is the whole trace, equal counting."""
    from types import SimpleNamespace as NS

    from deepprune.replay.prune import prefix_whole_share

    qs = [NS(prefix_tokens=np.array([10, 10, 5]), tokens=np.array([10, 40, 5]), n=3),
          NS(prefix_tokens=np.array([10]), tokens=np.array([30]), n=1)]  # fmt: skip
    assert prefix_whole_share(qs) == 2 / 4
    assert prefix_whole_share([]) == 0.0
