"""The judge metrics' every field by hand (issue 38: the mutation score of ``metrics.py``): the
thresholded accuracy and F1, TNR@0.2 at its edges, the bootstrap's resampling unit and its
percentiles, the within-question AUROC and its interval, the report's lines."""

import math

import numpy as np
import pytest

from deepprune.metrics import (
    _arrays,
    auroc,
    auroc_diff_ci,
    auroc_line,
    bootstrap_ci,
    judge_metrics,
    metrics_report,
    roc_points,
    threshold_metrics,
    tnr_at_fnr,
    within_question_auroc,
)

# 8 pairs: 4 same-answer (label 1), 4 different; two ties across the classes (0.5 and 0.7)
S = [0.9, 0.7, 0.5, 0.2, 0.7, 0.5, 0.3, 0.1]
Y = [1, 1, 1, 1, 0, 0, 0, 0]


def test_auroc_by_hand_with_ties():
    # pairs (pos, neg) 16: pos 0.9 beats 4; 0.7 beats 3 and ties 1; 0.5 beats 2, ties 1; 0.2 beats 1
    assert auroc(S, Y) == pytest.approx((4 + 3.5 + 2.5 + 1) / 16)
    assert math.isnan(auroc([0.1, 0.2], [1, 1])) and math.isnan(auroc([0.1, 0.2], [0, 0]))
    with pytest.raises(ValueError, match="differ in length .3 vs 2."):
        _arrays([1, 2, 3], [0, 1])


def test_tnr_at_fnr_at_its_edges():
    # 4 positives: floor(0.2 * 4) = 0 may be split -> t = the lowest positive, 0.2; negatives below
    # 0.2: 0.1 -> TNR 1/4
    assert tnr_at_fnr(S, Y) == (0.25, 0.2)
    # 5 positives: one may be split -> t = the second lowest
    assert tnr_at_fnr([0.1, 0.3, 0.6, 0.7, 0.8, 0.2, 0.3, 0.5], [1] * 5 + [0] * 3) == (
        pytest.approx(1 / 3),
        0.3,
    )
    # max_fnr 1: every positive may be split: t = inf, every negative split
    assert tnr_at_fnr(S, Y, max_fnr=1.0) == (1.0, math.inf)
    assert tnr_at_fnr(S, Y, max_fnr=0.5) == (
        0.75,
        0.7,
    )  # 2 may be split: t = 0.7; 0.1, 0.3, 0.5 < 0.7
    assert all(math.isnan(v) for v in tnr_at_fnr([0.1, 0.2], [1, 1]))
    assert all(math.isnan(v) for v in tnr_at_fnr([0.1, 0.2], [0, 0]))


def test_threshold_metrics_by_hand():
    # predicted same at >= 0.5: 0.9 0.7 0.5 | 0.7 0.5 -> tp 3, fp 2, fn 1, tn 2
    m = threshold_metrics(S, Y)
    assert m["accuracy"] == 5 / 8
    assert m["f1"] == pytest.approx(2 * (3 / 5) * (3 / 4) / (3 / 5 + 3 / 4))
    assert threshold_metrics(S, Y, threshold=0.8) == {
        "accuracy": 5 / 8,
        "f1": pytest.approx(2 * 1 * 0.25 / 1.25),
    }
    assert threshold_metrics([0.1, 0.2], [1, 0]) == {
        "accuracy": 0.5,
        "f1": 0.0,
    }  # nothing predicted same
    assert threshold_metrics([0.9, 0.8], [0, 0]) == {"accuracy": 0.0, "f1": 0.0}


def test_roc_points_are_sklearns_with_a_finite_first_threshold():
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(Y, S)
    r = roc_points(S, Y)
    assert r["fpr"] == fpr.tolist() and r["tpr"] == tpr.tolist()
    assert np.isinf(thr[0]) and r["thresholds"] == [1e9, *thr[1:].tolist()]


def _boot_by_hand(s, y, units, n_boot, seed, alpha):
    rng = np.random.default_rng(seed)
    au, tn = [], []
    for _ in range(n_boot):
        idx = np.concatenate([units[k] for k in rng.integers(0, len(units), len(units))])
        a = auroc(s[idx], y[idx])
        if not np.isnan(a):
            au.append(a)
            tn.append(tnr_at_fnr(s[idx], y[idx])[0])
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return np.percentile(au, q).tolist(), np.percentile(tn, q).tolist()


@pytest.mark.parametrize("alpha", [0.05, 0.3])
def test_the_bootstrap_resamples_questions_when_given_and_pairs_otherwise(alpha):
    s, y = np.array(S), np.array(Y)
    groups = ["a", "a", "b", "b", "a", "b", "c", "c"]
    got = bootstrap_ci(S, Y, groups, n_boot=300, seed=4, alpha=alpha)
    units = [np.flatnonzero(np.array(groups) == u) for u in ("a", "b", "c")]
    assert (got["auroc"], got["tnr@0.2"]) == _boot_by_hand(s, y, units, 300, 4, alpha)
    pairs = bootstrap_ci(S, Y, n_boot=300, seed=4, alpha=alpha)
    assert (pairs["auroc"], pairs["tnr@0.2"]) == _boot_by_hand(
        s, y, [np.array([i]) for i in range(8)], 300, 4, alpha
    )
    assert got != pairs
    one_class = bootstrap_ci([0.1, 0.2], [1, 1], n_boot=20)
    assert all(math.isnan(v) for v in one_class["auroc"] + one_class["tnr@0.2"])


def test_within_question_auroc_by_hand():
    groups = ["a"] * 4 + ["b"] * 4 + ["c"] * 2  # c has one label only: left out
    s = [0.9, 0.8, 0.1, 0.2, 0.3, 0.9, 0.5, 0.4, 0.5, 0.6]
    y = [1, 0, 0, 1, 1, 1, 0, 0, 1, 1]
    # a: pos 0.9, 0.2 vs neg 0.8, 0.1 -> (2 + 1) / 4; b: pos 0.3, 0.9 vs neg 0.5, 0.4 -> (0 + 2) / 4
    r = within_question_auroc(s, y, groups, n_boot=400, seed=2)
    assert r["within_question_auroc"] == pytest.approx((0.75 + 0.5) / 2) and r["questions"] == 2
    rng = np.random.default_rng(2)
    boots = [float(np.mean(rng.choice([0.75, 0.5], 2))) for _ in range(400)]
    assert r["ci95"] == np.percentile(boots, [2.5, 97.5]).tolist() == [0.5, 0.75]
    assert "ci95" not in within_question_auroc(s, y, groups, n_boot=0)
    none = within_question_auroc([0.1, 0.2], [1, 1], ["a", "a"], n_boot=10)
    assert (
        math.isnan(none["within_question_auroc"]) and none["questions"] == 0 and "ci95" not in none
    )


def test_judge_metrics_every_field():
    groups = ["a", "a", "b", "b", "a", "b", "c", "c"]
    m = judge_metrics(S, Y, groups=groups, sources=["x"] * 5 + ["y"] * 3, n_boot=100, seed=1)
    assert (m["pairs"], m["positives"]) == (8, 4)
    assert m["auroc"] == auroc(S, Y) and (m["tnr@0.2"], m["threshold@fnr0.2"]) == tnr_at_fnr(S, Y)
    assert (m["accuracy"], m["f1"]) == tuple(threshold_metrics(S, Y).values())
    assert m["ci95"] == bootstrap_ci(S, Y, groups, n_boot=100, seed=1)
    assert m["roc"] == roc_points(S, Y)
    w = within_question_auroc(S, Y, groups, n_boot=100, seed=1)
    assert (m["within_question_auroc"], m["within_question_ci95"], m["questions_with_both_labels"]) == (
        w["within_question_auroc"], w["ci95"], w["questions"])  # fmt: skip
    assert m["by_source"]["x"] == {
        "pairs": 5,
        "auroc": auroc(S[:5], Y[:5]),
        "tnr@0.2": tnr_at_fnr(S[:5], Y[:5])[0],
    }
    assert m["by_source"]["y"]["pairs"] == 3
    bare = judge_metrics([0.1, 0.2], [1, 1], n_boot=0)
    assert bare["ci95"] is None and bare["roc"] is None
    assert "within_question_auroc" not in bare and "by_source" not in bare


def test_auroc_diff_ci_by_hand():
    y, groups = [1, 0, 1, 0], ["q1", "q1", "q2", "q2"]
    a, b = [0.9, 0.1, 0.2, 0.8], [0.5, 0.5, 0.5, 0.5]  # a: right on q1, wrong on q2
    d = auroc_diff_ci(a, b, y, groups, n_boot=400, seed=0, alpha=0.05)
    assert d["diff"] == auroc(a, y) - 0.5
    # resampled questions: q1 twice (+0.5), q2 twice (-0.5), or one each (pooled AUROC of a)
    assert d["ci95"] == [-0.5, 0.5] and 0.2 < d["p_le_0"] < 0.8
    assert auroc_diff_ci(a, b, y, groups, n_boot=400, seed=0, alpha=0.6)["ci95"] != d["ci95"]


def test_the_report_lines():
    m = judge_metrics(S, Y, groups=["a", "a", "b", "b", "a", "b", "c", "c"], n_boot=50) | {
        "judge": "j"
    }
    text = metrics_report(m, questions=3).splitlines()
    ci = m["ci95"]
    assert text[0] == (f"j: AUROC {m['auroc']:.3f} [{ci['auroc'][0]:.3f}, {ci['auroc'][1]:.3f}]  TNR@0.2 "
                       f"{m['tnr@0.2']:.3f} [{ci['tnr@0.2'][0]:.3f}, {ci['tnr@0.2'][1]:.3f}]  acc 0.625  F1 "
                       f"{m['f1']:.3f}  (8 pairs)")  # fmt: skip
    w = m["within_question_ci95"]
    assert text[1] == (f"  within-question AUROC {m['within_question_auroc']:.3f} [{w[0]:.3f}, {w[1]:.3f}] over "
                       f"{m['questions_with_both_labels']} questions (clustering happens within a question)")  # fmt: skip
    assert (
        text[2]
        == "  warning: only 3 questions; the intervals resample questions and mean little here"
    )
    plain = metrics_report(
        judge_metrics(S, Y, n_boot=0) | {"judge": "j"}, questions=10
    ).splitlines()
    assert len(plain) == 1 and "AUROC 0.688 [nan, nan]" in plain[0]
    assert auroc_line("/x/pool.jsonl", "tokens:8", "j", m) == (
        f"  pool.jsonl tokens:8 j: AUROC {m['auroc']:.3f} TNR@0.2 {m['tnr@0.2']:.3f}"
    )


def test_f1_where_precision_equals_recall_and_the_interval_shapes():
    # tp 1, fp 1, fn 1: precision = recall = 1/2, F1 = 1/2
    assert threshold_metrics([0.9, 0.8, 0.1, 0.2], [1, 0, 1, 0]) == {"accuracy": 0.5, "f1": 0.5}
    nan = bootstrap_ci([0.1, 0.2], [1, 1], n_boot=5)
    assert len(nan["auroc"]) == len(nan["tnr@0.2"]) == 2


def test_the_intervals_follow_their_seed_size_and_alpha():
    """Few questions of different AUROCs and few resamples: the interval depends on each of seed,
    n_boot and alpha, and equals the bootstrap computed here."""
    groups = [g for g in "abcd" for _ in range(4)]
    y = [1, 1, 0, 0] * 4
    s = [0.9, 0.8, 0.1, 0.2, 0.9, 0.2, 0.8, 0.1, 0.5, 0.9, 0.6, 0.1, 0.3, 0.2, 0.8, 0.9]
    per = [1.0, 0.75, 0.75, 0.0]  # each question's own AUROC
    for n_boot, seed, alpha in ((7, 5, 0.3), (9, 1, 0.05)):
        rng = np.random.default_rng(seed)
        boots = [float(np.mean(rng.choice(per, len(per)))) for _ in range(n_boot)]
        want = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)]).tolist()
        assert (
            within_question_auroc(s, y, groups, n_boot=n_boot, seed=seed, alpha=alpha)["ci95"]
            == want
        )
    m = judge_metrics(s, y, groups=groups, n_boot=7, seed=5)
    assert m["ci95"] == bootstrap_ci(s, y, groups, n_boot=7, seed=5)
    assert m["ci95"] != bootstrap_ci(s, y, groups, n_boot=1000, seed=5)
    assert m["ci95"] != bootstrap_ci(s, y, groups, n_boot=7, seed=0)
    assert (
        m["within_question_ci95"] == within_question_auroc(s, y, groups, n_boot=7, seed=5)["ci95"]
    )
    assert (
        m["within_question_ci95"] != within_question_auroc(s, y, groups, n_boot=7, seed=0)["ci95"]
    )
    assert (
        m["within_question_ci95"]
        != within_question_auroc(s, y, groups, n_boot=1000, seed=5)["ci95"]
    )


def test_the_roc_is_drawn_only_with_both_labels():
    assert judge_metrics([0.9, 0.1, 0.2], [1, 0, 0], n_boot=0)["roc"] is not None  # one positive
    assert judge_metrics([0.9, 0.1], [0, 0], n_boot=0)["roc"] is None
    assert judge_metrics([0.9, 0.1], [1, 1], n_boot=0)["roc"] is None


def _diff_by_hand(a, b, y, groups, n_boot=1000, seed=0, alpha=0.05):
    a, b, y, g = np.array(a), np.array(b), np.array(y), np.array(groups)
    units = [np.flatnonzero(g == u) for u in np.unique(g)]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([units[k] for k in rng.integers(0, len(units), len(units))])
        d = auroc(a[idx], y[idx]) - auroc(b[idx], y[idx])
        if not np.isnan(d):
            diffs.append(d)
    return np.percentile(diffs, [100 * alpha / 2, 100 * (1 - alpha / 2)]).tolist(), float(
        np.mean(np.array(diffs) <= 0)
    )


def test_the_paired_auroc_difference_by_hand():
    """Three questions of different AUROC differences: the interval and P(diff <= 0) are the
    bootstrap over questions computed here, at the defaults and at other settings."""
    groups = [g for g in "abc" for _ in range(4)]
    y = [1, 1, 0, 0] * 3
    a = [0.9, 0.8, 0.1, 0.2, 0.9, 0.2, 0.8, 0.1, 0.3, 0.2, 0.8, 0.9]
    b = [0.5, 0.6, 0.4, 0.7, 0.9, 0.8, 0.1, 0.2, 0.6, 0.1, 0.5, 0.2]
    for kw in ({}, {"n_boot": 37, "seed": 3, "alpha": 0.3}):
        ci, p = _diff_by_hand(a, b, y, groups, **kw)
        d = auroc_diff_ci(a, b, y, groups, **kw)
        assert d["ci95"] == ci and d["p_le_0"] == p and d["diff"] == auroc(a, y) - auroc(b, y)
    same = auroc_diff_ci(a, a, y, groups, n_boot=20)
    assert same["ci95"] == [0.0, 0.0] and same["p_le_0"] == 1.0  # a difference of 0 counts as <= 0
    one_class = auroc_diff_ci([0.1, 0.2], [0.3, 0.4], [1, 1], ["q", "r"], n_boot=20)
    assert len(one_class["ci95"]) == 2 and all(
        math.isnan(v) for v in [*one_class["ci95"], one_class["p_le_0"]]
    )
