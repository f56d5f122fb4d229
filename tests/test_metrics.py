import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from deepprune.metrics import auroc, bootstrap_ci, judge_metrics, tnr_at_fnr


def test_auroc_perfect_random_and_sklearn():
    y = np.array([0, 0, 1, 1])
    assert auroc([0.1, 0.2, 0.8, 0.9], y) == 1.0
    assert auroc([0.5] * 4, y) == 0.5
    rng = np.random.default_rng(0)
    s, lab = rng.random(500).round(2), rng.integers(0, 2, 500)  # rounding creates ties
    assert auroc(s, lab) == pytest.approx(roc_auc_score(lab, s), abs=1e-12)


def test_tnr_at_fnr_hand_computed():
    # positives 0.1, 0.5, 0.6, 0.7, 0.9 (5): may split floor(0.2*5)=1 -> t = 0.5
    pos = [0.1, 0.5, 0.6, 0.7, 0.9]
    neg = [0.05, 0.2, 0.45, 0.5, 0.8]
    tnr, t = tnr_at_fnr(pos + neg, [1] * 5 + [0] * 5)
    assert t == 0.5 and tnr == pytest.approx(3 / 5)


def test_bootstrap_and_by_source():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 400)
    s = y * 0.3 + rng.random(400)
    m = judge_metrics(
        s, y, groups=np.arange(400) // 10, sources=["a"] * 200 + ["b"] * 200, n_boot=200
    )
    lo, hi = m["ci95"]["auroc"]
    assert lo < m["auroc"] < hi and set(m["by_source"]) == {"a", "b"}
    assert bootstrap_ci(s, y, n_boot=50, seed=3) == bootstrap_ci(s, y, n_boot=50, seed=3)


def test_auroc_diff_ci_is_paired_over_questions():
    from deepprune.metrics import auroc_diff_ci

    y = [1, 0, 1, 0, 1, 0]
    perfect = [0.9, 0.1, 0.8, 0.2, 0.7, 0.3]
    groups = ["q1", "q1", "q2", "q2", "q3", "q3"]
    same = auroc_diff_ci(perfect, perfect, y, groups, n_boot=100)
    assert same["diff"] == 0.0 and same["ci95"] == [0.0, 0.0]  # paired: no spread at all
    flat = auroc_diff_ci(perfect, [0.5] * 6, y, groups, n_boot=100)
    assert flat["diff"] == 0.5 and flat["ci95"] == [0.5, 0.5] and flat["p_le_0"] == 0.0
    inverted = auroc_diff_ci([1 - s for s in perfect], perfect, y, groups, n_boot=100)
    assert inverted["diff"] == -1.0 and inverted["p_le_0"] == 1.0


def test_within_question_auroc_ignores_which_questions_agree_more():
    from deepprune.metrics import judge_metrics, within_question_auroc

    # each pair scored by its question's agreement rate: pooled AUROC is high, within-question 0.5
    groups = ["a"] * 4 + ["b"] * 4
    labels = [1, 1, 1, 0, 0, 0, 0, 1]
    scores = [0.75] * 4 + [0.25] * 4
    m = judge_metrics(scores, labels, groups=groups, n_boot=50)
    assert m["auroc"] > 0.7 and m["within_question_auroc"] == 0.5
    assert (
        within_question_auroc([1, 0, 1, 0], [1, 0, 0, 1], ["a", "a", "b", "b"], n_boot=0)[
            "within_question_auroc"
        ]
        == 0.5
    )
    perfect = within_question_auroc(
        [0.9, 0.1, 0.6, 0.4], [1, 0, 1, 0], ["a", "a", "b", "b"], n_boot=10
    )
    assert perfect["within_question_auroc"] == 1.0 and perfect["ci95"] == [1.0, 1.0]


def test_the_paired_interval_is_over_questions_not_arrival_orders():
    """Three questions, five arrival orders: q0 always gains a point, q1 and q2 never. Per question
    the gains are 1, 0, 0; resampling three questions gives a mean of 0 with probability 8/27 and 1
    with 1/27 (> 2.5%), so the 95% interval is [0, 1]. Averaged over questions instead, every order
    gains 1/3 and the interval would shrink to [1/3, 1/3]."""
    import numpy as np

    from deepprune.metrics import paired_question_ci, per_question

    a = np.zeros((3, 5))
    a[0] = 1.0
    b = np.zeros((3, 5))
    mean, ci = paired_question_ci(a, b, n_boot=20000)
    assert mean == pytest.approx(1 / 3) and ci == [0.0, 1.0]
    assert per_question(a, b).tolist() == [1.0, 0.0, 0.0]
    # orders that differ within a question: averaged within it first (q0: 0.6, q1: -0.2)
    a2 = np.array([[1, 1, 1, 0, 0], [0, 0, 0, 0, 0]], float)
    b2 = np.array([[0, 0, 0, 0, 0], [1, 0, 0, 0, 0]], float)
    assert per_question(a2, b2).tolist() == pytest.approx([0.6, -0.2])
    # a question with no grade (NaN) is left out, never counted as 0
    a3 = np.vstack([a, np.full((1, 5), np.nan)])
    assert paired_question_ci(a3, np.vstack([b, np.full((1, 5), np.nan)]), 20000)[1] == [0.0, 1.0]


def test_the_paired_interval_matches_scipy_on_random_data():
    import numpy as np
    from scipy.stats import bootstrap

    from deepprune.metrics import paired_question_ci, per_question

    rng = np.random.default_rng(0)
    a, b = rng.integers(0, 2, (40, 8)).astype(float), rng.integers(0, 2, (40, 8)).astype(float)
    _, ci = paired_question_ci(a, b, n_boot=20000)
    ref = bootstrap(
        (per_question(a, b),), np.mean, n_resamples=20000, method="percentile", random_state=1
    )
    assert ci == pytest.approx(
        [ref.confidence_interval.low, ref.confidence_interval.high], abs=0.02
    )
