"""Without gold, prune and compare report how often each method votes what cons@N votes (the
label-free measure a production user has) instead of an empty accuracy."""

import json

import numpy as np
import pytest

from deepprune.replay.compare import (
    CompareConfig,
    compare_pool,
    comparison_markdown,
    recommendation,
)
from deepprune.replay.harness import OnlineConfig
from deepprune.replay.ledger import Ledger
from deepprune.replay.prune import prune_pool, results_table
from tests.conftest import DEMO_POOL


def _ledger(answers, infos=None) -> Ledger:
    a = np.array(answers)
    z = np.zeros(a.shape)
    return Ledger("m", z, z, z, z, z, False, infos or [{}], None, a)


def test_agreement_counts_the_cells_where_cons_n_has_an_answer():
    base = _ledger([[0, 0], [2, -1]])
    assert _ledger([[0, 1], [2, -1]]).agreement(base) == pytest.approx(
        2 / 3
    )  # (1,1): cons@N has none
    assert _ledger([[0, 0], [2, 5]]).agreement(base) == 1.0
    assert _ledger([[-1, -1], [-1, -1]]).agreement(base) == 0.0  # no answer never agrees
    assert _ledger([[0, 0], [2, 2]], [{"expectation": True}]).agreement(base) is None  # pass@1
    assert _ledger([[0]]).agreement(_ledger([[-1]])) is None


@pytest.fixture(scope="module")
def no_gold(tmp_path_factory):
    path = tmp_path_factory.mktemp("nogold") / "nogold.jsonl"
    rows = []
    for line in DEMO_POOL.read_text().splitlines():
        q = json.loads(line)
        q.pop("gold", None)
        for t in q["traces"]:
            t.pop("correct", None)
        rows.append(json.dumps(q))
    path.write_text("\n".join(rows) + "\n")
    return path


def test_compare_without_gold_reports_agreement_and_it_ignores_the_gold(no_gold):
    cfg = CompareConfig(
        online=OnlineConfig(repeats=3),
        families=("esc", "short-m@k"),
        budget_grid=(1, 2, 32),
        n_boot=50,
    )
    blind, graded = compare_pool(no_gold, cfg), compare_pool(DEMO_POOL, cfg)
    assert blind["cons@N"]["accuracy"] is None and blind["headline"] == {}
    got = [p["agrees_with_consN"] for p in blind["points"] + blind["cons_k_curve"]]
    assert got == [p["agrees_with_consN"] for p in graded["points"] + graded["cons_k_curve"]]
    assert blind["cons_k_curve"][-1]["agrees_with_consN"] == 1.0  # cons@32 is cons@N
    assert min(got) < 1.0  # cons@1 (one trace) does not always vote as all 32
    md = comparison_markdown(blind)
    first = blind["points"][0]
    assert f"votes as cons@N: {100 * first['agrees_with_consN']:.1f}%" in md
    # the label-free recommendation: the cheapest point (cons@k included) voting as cons@N on >= 99%
    # whose saving is sure (cons@32 = cons@N agrees on 100% and saves nothing: never advised)
    a = blind["advice"]
    ok = [p for p in blind["points"] + blind["cons_k_curve"]
          if p["agrees_with_consN"] >= 0.99 and p["method"] not in a["noops"]]  # fmt: skip
    best = min(ok, key=lambda p: p["net_tokens"])
    assert a["basis"] == "agreement" and "cons@32" in a["noops"]
    sentence = recommendation(blind)
    assert sentence.startswith(
        "**Recommendation (no gold).** To vote as cons@N on at least 99% of questions"
    )
    assert (
        f"use {best['method']} at {best['net_tokens']:,.0f} net tokens" in sentence
        and f"votes as cons@N on {100 * best['agrees_with_consN']:.1f}%" in sentence
        and sentence in md
    )


def test_prune_without_gold_shows_agreement_in_place_of_accuracy(no_gold):
    res = prune_pool(
        no_gold, ["lexical:jaccard"], OnlineConfig(repeats=2, trunc="tokens:200"), noisy_auroc=None
    )
    rows = {r["method"]: r for r in res["rows"] if "skipped" not in r}
    assert (
        rows["cons@N"]["agrees_with_consN"] == 1.0 and rows["pass@1"]["agrees_with_consN"] is None
    )
    assert all(0 <= r["agrees_with_consN"] <= 1 for m, r in rows.items() if m != "pass@1")
    assert [c["agrees_with_consN"] for c in res["cons_k_curve"]][-1] == 1.0
    table = results_table(res)
    assert "n/a (no gold); votes as cons@N: 100.0%" in table
