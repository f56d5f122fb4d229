"""The one runner and ledger: prune and compare grade and count a method identically."""

from __future__ import annotations

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
