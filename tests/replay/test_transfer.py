"""``deepprune transfer``: the selection rule on hand-built tables, no peeking at the left-out
pool, the content cache, and the command end to end on small pools."""

import json

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.replay.transfer import TransferConfig, _cache_key, choose, pool_table, transfer

CFG = TransferConfig(families=("asc",), n_boot=200)


def _table(name, cons_acc, oracle_tokens, settings, seq=100.0):
    """A pool table: cons@N accuracy, the oracle k's tokens, and {setting: (accuracy, tokens, seq)}."""
    return {"pool": name, "graded": True, "cons_n": {"accuracy": cons_acc, "tokens": 1000.0, "seq_tokens": seq},
            "oracle_k": {"tokens": oracle_tokens, "k": 3},
            "settings": {n: {"family": "cons@k" if n.startswith("cons@") else "asc", "accuracy": a, "tokens": t,
                             "seq_tokens": s} for n, (a, t, s) in settings.items()}}  # fmt: skip


def test_the_rule_picks_the_cheapest_setting_reaching_the_target_on_enough_pools():
    """A: reaches on both pools at 2x and 2x the oracle; B: cheaper (1x, 1x) but misses pool 2 by
    2 points (reach 50% < 90%); C: reaches both at 4x and 1x: geometric mean 2x, tie with A broken
    by name. So A; with reach_rate 0.5, B (the cheapest reaching half)."""
    t1 = _table("p1", 0.8, 100.0, {"A": (0.8, 200, 50), "B": (0.8, 100, 50), "C": (0.795, 400, 50)})
    t2 = _table("p2", 0.8, 100.0, {"A": (0.79, 200, 50), "B": (0.78, 100, 50), "C": (0.8, 100, 50)})
    cfg = TransferConfig(n_boot=0)
    assert choose([t1, t2], ["A", "B", "C"], cfg) == "A"
    assert choose([t1, t2], ["B", "C"], cfg) == "C"
    assert choose([t1, t2], ["A", "B", "C"], TransferConfig(reach_rate=0.5, n_boot=0)) == "B"
    # nothing reaches 90%: the highest reach rate wins (B reaches 1 of 2, D none)
    t1["settings"]["D"] = t2["settings"]["D"] = {
        "family": "asc",
        "accuracy": 0.1,
        "tokens": 1.0,
        "seq_tokens": 1,
    }
    assert choose([t1, t2], ["B", "D"], cfg) == "B"
    # the latency cap: a setting with median sequential tokens above 2x cons@N's is out
    t1["settings"]["A"]["seq_tokens"] = t2["settings"]["A"]["seq_tokens"] = 250
    assert choose([t1, t2], ["A", "C"], cfg, latency_cap=True) == "C"


def test_leave_one_out_never_peeks_at_the_left_out_pool():
    rng = np.random.default_rng(0)

    def rand(name):
        return _table(name, 0.8, 100.0, {f"cons@{k}": (float(rng.uniform(0.7, 0.85)), float(rng.uniform(50, 400)), 50)
                                         for k in (1, 2, 3, 4)} | {"asc-x": (0.8, 90.0, 50)})  # fmt: skip

    from deepprune.replay import transfer as tr

    names = ["cons@1", "cons@2", "cons@3", "cons@4", "asc-x"]
    pools = [rand(f"p{i}") for i in range(5)]
    cfg = TransferConfig(n_boot=0)
    before = [choose(pools[:i] + pools[i + 1 :], names, cfg) for i in range(5)]
    for i in range(5):  # any change to pool i leaves the choice made without it alone
        changed = pools[:i] + [rand(f"p{i}")] + pools[i + 1 :]
        changed[i]["settings"] = {
            n: {**s, "accuracy": 0.0} for n, s in changed[i]["settings"].items()
        }
        assert choose(changed[:i] + changed[i + 1 :], names, cfg) == before[i]
    assert tr.FAMILY_ANY == "any"


def test_the_cache_key_changes_with_the_pool_the_settings_and_the_repeats():
    k = _cache_key("sha", CFG, ["a", "b"])
    assert k == _cache_key("sha", CFG, ["a", "b"])
    assert len({k, _cache_key("sha2", CFG, ["a", "b"]), _cache_key("sha", CFG, ["a", "c"]),
                _cache_key("sha", TransferConfig(repeats=2, families=("asc",)), ["a", "b"])}) == 4  # fmt: skip


def _pool(path, seed, n_q=6, n=12):
    rng = np.random.default_rng(seed)
    rows = []
    for q in range(n_q):
        p = rng.uniform(0.4, 0.9)
        traces = [{"answer": "1" if rng.random() < p else str(rng.integers(2, 4)), "num_tokens": int(rng.integers(100, 2000))}
                  for _ in range(n)]  # fmt: skip
        rows.append({"id": f"q{q}", "gold": "1", "traces": traces})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_transfer_end_to_end_cached_and_a_recipe_solve_reads(tmp_path, capsys):
    pools = [str(_pool(tmp_path / f"m{i}.jsonl", i)) for i in range(3)]
    out, recipe = tmp_path / "out", tmp_path / "recipe.json"
    argv = ["transfer", "--pools", *pools, "--out", str(out), "--recipe-out", str(recipe), "--repeats", "2",
            "--families", "asc,esc", "--json", "--bootstrap", "100"]  # fmt: skip
    assert main(argv) == 0
    res = json.loads(capsys.readouterr().out)
    assert res["mode"] == "leave-one-pool-out" and len(res["scored"]) == 3
    assert set(res["families"]) == {"cons@k", "asc", "esc", "any", "any@parallel"}
    r = res["recipe"]
    assert set(r) >= {"method", "reached", "pools", "cost_vs_best_cons_k", "seq_vs_cons_n"}
    assert json.loads(recipe.read_text())["method"] == r["method"]
    cached = sorted(p.name for p in (out / "cache").iterdir())
    assert len(cached) == 3
    assert main(argv) == 0 and json.loads(capsys.readouterr().out)["recipe"] == r  # read back, same
    # the cached table is the one computed: a rerun of the pool gives it again
    t = pool_table(pools[0], TransferConfig(repeats=2, families=("asc", "esc")))
    assert t == pool_table(
        pools[0], TransferConfig(repeats=2, families=("asc", "esc")), out / "cache"
    )
    from deepprune.engine.solve_config import SolveConfig

    cfg = SolveConfig(n=8, methods=("auto",), recipe=str(recipe))
    assert cfg.methods == tuple(json.loads(recipe.read_text())["live"]["methods"])


def test_transfer_with_test_pools_chooses_once(tmp_path):
    from deepprune.replay.transfer import TransferConfig as C

    cfg = C(repeats=1, families=("esc",), n_boot=0)
    tables = [pool_table(_pool(tmp_path / f"m{i}.jsonl", i), cfg) for i in range(3)]
    res = transfer(tables[:2], tables[2:], cfg)
    assert res["mode"] == "test" and res["scored"] == ["m2.jsonl"]
    for fam in res["families"].values():
        assert list(fam["picks"].values()) in ([1], [])


def test_a_pool_without_gold_is_refused(tmp_path):
    t = _table("p", 0.5, 1.0, {})
    t["graded"] = False
    with pytest.raises(Exception, match="no gold"):
        transfer([t, t], None, TransferConfig(n_boot=0))


def test_the_rule_at_its_edges():
    """The boundaries the rule states: a reach rate exactly at the bar is eligible; a median
    sequential ratio exactly at the cap passes it; a setting a pool cannot run is scored where it
    runs (``everywhere``: skipped), and being skipped never stops the scan of the others; without
    a cap the latency does not count."""
    cfg = TransferConfig(n_boot=0, reach_rate=0.5)
    t1 = _table("p1", 0.8, 100.0, {"A": (0.8, 150, 200), "B": (0.8, 300, 50), "C": (0.8, 120, 250)})
    t2 = _table("p2", 0.8, 100.0, {"A": (0.7, 150, 200), "B": (0.8, 300, 50)})  # C cannot run on p2
    t1["settings"]["C"]["family"] = "asc"
    # A reaches on exactly half the pools (0.5 >= 0.5): eligible, and cheaper than B; its median
    # sequential ratio is exactly 2.0 x cons@N's (100): within the cap
    assert choose([t1, t2], ["B", "A"], cfg, latency_cap=True) == "A"
    assert choose([t1, t2], ["B", "A"], TransferConfig(n_boot=0, reach_rate=0.51)) == "B"
    # C runs on p1 only: scored there (reach 1/1, cost 1.2x) it wins; with everywhere it is skipped,
    # and the scan goes on to A and B after it
    assert choose([t1, t2], ["C", "A", "B"], cfg) == "C"
    assert choose([t1, t2], ["C", "A", "B"], cfg, everywhere=True) == "A"
    assert choose([t1, t2], ["C", "A", "B"], cfg, latency_cap=True, everywhere=True) == "A"
    # over the cap (2.5x) C is out under the cap, and in without it (the default)
    assert (
        choose([t1], ["C", "B"], cfg) == "C"
        and choose([t1], ["C", "B"], cfg, latency_cap=True) == "B"
    )


def test_score_family_by_hand():
    """Two scored pools. p1: the pick A reaches (0.80 vs 0.80), costs 2x the oracle k, 0.5x the fixed
    k (400 tokens), 1.5x cons@N's latency. p2: A misses (0.70 vs 0.80), costs 4x, 1.0x the fixed k,
    0.5x the latency. Reach 1/2, geometric mean cost sqrt(8), fixed-k sqrt(0.5), median latency
    1.0, accuracy gap -5 points; with every pool alike the bootstrap interval is the value itself."""
    from deepprune.replay.transfer import score_family

    t1 = _table("p1", 0.8, 100.0, {"A": (0.8, 200, 150), "cons@4": (0.8, 400, 90)})
    t2 = _table("p2", 0.8, 100.0, {"A": (0.7, 400, 50), "cons@4": (0.8, 400, 90)})
    r = score_family([t1, t2], ["A", "A"], ["cons@4", "cons@4"], TransferConfig(n_boot=0))
    assert r["pools"] == 2 and r["reached"] == 0.5
    assert r["cost_vs_best_cons_k"] == pytest.approx(8**0.5) and r[
        "cost_vs_fixed_k"
    ] == pytest.approx(0.5**0.5)
    assert r["seq_vs_cons_n"] == pytest.approx(1.0) and r["accuracy_gap"] == pytest.approx(-0.05)
    same = score_family([t1, t1, t1], ["A"] * 3, ["cons@4"] * 3, TransferConfig(n_boot=50))
    assert same["reached_ci95"] == [1.0, 1.0] and same["cost_vs_best_cons_k_ci95"] == pytest.approx(
        [2.0, 2.0]
    )
    assert same["seq_vs_cons_n_ci95"] == pytest.approx([1.5, 1.5]) and same[
        "accuracy_gap_ci95"
    ] == pytest.approx([0, 0])
    # a pick a pool cannot run leaves that pool out, counted; none at all: no pools
    assert (
        score_family([t1, t2], ["A", None], ["cons@4", None], TransferConfig(n_boot=0))["pools"]
        == 1
    )
    assert score_family([t1], [None], [None], TransferConfig(n_boot=0)) == {"pools": 0}
