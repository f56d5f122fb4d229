"""The replay ledger's every field by hand (issue 38: the mutation score of ``replay/ledger.py``):
grading against the gold class, the per-repeat means and their spread, the clustering
diagnostics and their warnings, agreement with cons@N, the compare point, net tokens and the
reductions, and the budget-matched k."""

from types import SimpleNamespace

import numpy as np
import pytest

from deepprune.replay.ledger import (
    COLLAPSED,
    SINGLETONS,
    Ledger,
    add_reductions,
    matched_k,
    net_tokens,
)


def _out(answer, tokens, correct=None, seq=None, calls=0, aux=0, probe=0, **info):
    return SimpleNamespace(answer=answer, tokens=tokens, correct=correct, seq_tokens=seq, aux_calls=calls,
                           aux_tokens=aux, probe_tokens=probe, info=info)  # fmt: skip


Q = [SimpleNamespace(gold_class=0), SimpleNamespace(gold_class=None), SimpleNamespace(gold_class=2)]


def _ledger(**info):
    per_q = [
        [_out(0, 10, seq=5, calls=1, aux=4, probe=2, **info), _out(1, 30, seq=7, **info)],  # gold 0
        [_out(0, 20, seq=6, **info), _out(-1, 40, seq=8, **info)],  # no gold
        [_out(-1, 50, seq=9, **info), _out(2, 70, seq=3, calls=3, aux=8, probe=6, **info)],  # gold 2
    ]  # fmt: skip
    return Ledger.of("m", Q, per_q)


def test_grading_and_the_arrays():
    led = _ledger()
    nan = np.nan
    np.testing.assert_array_equal(
        led.correct, [[1.0, 0.0], [nan, nan], [0.0, 1.0]]
    )  # -1 never right
    np.testing.assert_array_equal(led.tokens, [[10, 30], [20, 40], [50, 70]])
    np.testing.assert_array_equal(led.aux_calls, [[1, 0], [0, 0], [0, 3]])
    np.testing.assert_array_equal(led.aux_tokens, [[4, 0], [0, 0], [0, 8]])
    np.testing.assert_array_equal(led.probe_tokens, [[2, 0], [0, 0], [0, 6]])
    np.testing.assert_array_equal(led.seq_tokens, [[5, 7], [6, 8], [9, 3]])
    np.testing.assert_array_equal(led.answers, [[0, 1], [0, -1], [-1, 2]])
    assert led.graded and led.name == "m" and len(led.infos) == 6
    # a method's own expectation (pass@1) is kept as it is, gold or not
    own = Ledger.of("p", Q[:1], [[_out(0, 1, correct=0.25)]])
    assert own.correct.tolist() == [[0.25]]
    assert not Ledger.of("u", Q[1:2], [[_out(0, 1)]]).graded


def test_the_prune_row():
    row = _ledger().summary()
    # repeat 0: correct 1, 0 (q1 ungraded) -> 0.5; repeat 1: 0, 1 -> 0.5
    assert row["accuracy"] == 0.5 and row["accuracy_std"] == 0.0
    # tokens per repeat: (10+20+50)/3, (30+40+70)/3
    assert row["tokens"] == pytest.approx((80 / 3 + 140 / 3) / 2)
    assert row["tokens_std"] == pytest.approx(np.std([80 / 3, 140 / 3]))
    assert row["aux_calls"] == pytest.approx((1 / 3 + 1) / 2) and row[
        "aux_tokens"
    ] == pytest.approx((4 / 3 + 8 / 3) / 2)
    assert row["seq_tokens"] == pytest.approx(38 / 6) and row["probe_tokens"] == pytest.approx(
        8 / 6
    )
    assert "clusters_mean" not in row and "warning" not in row
    ungraded = Ledger.of("u", Q[1:2], [[_out(0, 1)]]).summary()
    assert ungraded["accuracy"] is None and ungraded["accuracy_std"] is None


def test_a_repeat_with_no_graded_question_is_nan_not_zero():
    led = Ledger.of("m", Q[:2], [[_out(0, 1), _out(1, 1)], [_out(0, 1), _out(0, 1)]])
    led.correct[0, 1] = np.nan  # repeat 1 has no graded cell left
    assert np.isnan(led.summary()["accuracy"])


@pytest.mark.parametrize("infos,warning", [
    ({"clusters": 1, "largest": 4, "completed": 2, "fallback": False}, COLLAPSED),
    ({"clusters": 3, "largest": 1, "completed": 2, "fallback": True}, SINGLETONS),
])  # fmt: skip
def test_the_clustering_diagnostics_and_their_warnings(infos, warning):
    row = _ledger(**infos).summary()
    assert (row["clusters_mean"], row["largest_mean"], row["completed_mean"]) == (
        infos["clusters"], infos["largest"], infos["completed"])  # fmt: skip
    assert row["fallback_rate"] == float(infos["fallback"]) and row["warning"] == warning


def test_mixed_diagnostics_warn_nothing():
    per_q = [
        [
            _out(0, 1, clusters=c, largest=1, completed=1, fallback=f)
            for c, f in ((1, True), (2, False))
        ]
    ]
    row = Ledger.of("m", Q[:1], per_q).summary()
    assert row["clusters_mean"] == 1.5 and row["fallback_rate"] == 0.5 and "warning" not in row


def test_agreement_with_cons_n():
    led, base = _ledger(), _ledger()
    base.answers = np.array([[0, 0], [-1, 0], [2, 2]])
    # base has an answer in 5 cells; led agrees in (0,0), (1,1)? -1 vs 0 no, (2,1) -> 2 of 5
    assert led.agreement(base) == pytest.approx(2 / 5)
    base.answers = np.full((3, 2), -1)
    assert led.agreement(base) is None
    assert Ledger.of("p", Q[:1], [[_out(0, 1, expectation=True)]]).agreement(_ledger()) is None
    led.answers = None
    assert led.agreement(_ledger()) is None


def test_the_compare_point():
    p = _ledger().point("fam", "shown")
    assert (p["method"], p["family"]) == ("shown", "fam")
    assert p["accuracy"] == 0.5 and p["accuracy_std"] == 0.0
    assert p["tokens"] == pytest.approx(220 / 6) and p["aux_calls"] == pytest.approx(4 / 6)
    assert p["aux_tokens"] == 2.0 and p["seq_tokens"] == pytest.approx(38 / 6)
    assert p["probe_tokens"] == pytest.approx(8 / 6)
    assert _ledger().point("fam")["method"] == "m"
    led = _ledger()
    led.seq_tokens[0, 0] = np.nan
    led.probe_tokens = None
    assert led.point("f")["seq_tokens"] is None and led.point("f")["probe_tokens"] == 0.0
    led.correct[:] = np.nan
    assert led.point("f")["accuracy"] is None and led.point("f")["accuracy_std"] is None


def test_net_tokens_reductions_and_matched_k():
    assert net_tokens({"tokens": 100.0, "probe_tokens": 5.0, "aux_tokens": 40.0}, 0.25) == 115.0
    assert net_tokens({"tokens": 100.0}, 0.25) == 100.0
    rows = [{"tokens": 50.0, "probe_tokens": 10.0, "seq_tokens": 30.0}, {"tokens": 80.0, "net_tokens": 90.0},
            {"method": "no tokens"}]  # fmt: skip
    add_reductions(rows, {"tokens": 200.0, "seq_tokens": 60.0})
    assert rows[0]["net_tokens"] == 60.0 and rows[0]["reduction_vs_consN"] == 0.75
    assert rows[0]["net_reduction_vs_consN"] == 0.7 and rows[0]["seq_reduction_vs_consN"] == 0.5
    assert rows[1]["net_reduction_vs_consN"] == 0.55 and rows[1]["seq_reduction_vs_consN"] is None
    assert rows[2] == {"method": "no tokens"}
    add_reductions(rows[:1], {"tokens": 200.0, "seq_tokens": 0.0})
    assert rows[0]["seq_reduction_vs_consN"] is None
    qs = [SimpleNamespace(tokens=np.array([10.0, 30.0])), SimpleNamespace(tokens=np.array([40.0]))]
    assert matched_k(90.0, qs) == 3.0  # mean trace length (20 + 40) / 2 = 30
    assert matched_k(10.0, qs) == 1.0 and matched_k(45.0, qs) == 1.5
