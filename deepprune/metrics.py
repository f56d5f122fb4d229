"""Judge metrics: AUROC, TNR at FNR = 0.2 (the paper's TNR@0.2), accuracy/F1, bootstrap CIs.

Conventions: label 1 = the two traces reach the same answer; a higher score means
"same". A judge *splits* a pair (predicts "different") when its score is below a
threshold t. **TNR@0.2**: choose the largest t such that at most 20% of same-answer
pairs are split (FNR <= 0.2); TNR is the share of different-answer pairs split at that
t. This is the share of redundant-looking-but-different pairs a judge catches while
wrongly separating at most a fifth of truly redundant pairs.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _arrays(scores, labels) -> tuple[np.ndarray, np.ndarray]:
    s, y = np.asarray(scores, dtype=float), np.asarray(labels, dtype=int)
    if s.shape != y.shape:
        raise ValueError(f"scores and labels differ in length ({s.size} vs {y.size})")
    return s, y


def auroc(scores, labels) -> float:
    """Area under the ROC curve (Mann-Whitney; ties count one half). NaN with one class only."""
    s, y = _arrays(scores, labels)
    pos, neg = s[y == 1], s[y == 0]
    if not len(pos) or not len(neg):
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    sorted_s = s[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_s, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[y == 1].sum() - len(pos) * (len(pos) + 1) / 2) / (len(pos) * len(neg)))


def tnr_at_fnr(scores, labels, max_fnr: float = 0.2) -> tuple[float, float]:
    """(TNR, threshold) at the largest threshold whose FNR stays <= max_fnr."""
    s, y = _arrays(scores, labels)
    pos, neg = np.sort(s[y == 1]), np.sort(s[y == 0])
    if not len(pos) or not len(neg):
        return float("nan"), float("nan")
    allowed = int(np.floor(max_fnr * len(pos) + 1e-9))  # same-answer pairs we may split
    # splitting = score < t; the largest t splitting at most `allowed` positives is pos[allowed]
    t = pos[allowed] if allowed < len(pos) else np.inf
    return float(np.searchsorted(neg, t, side="left") / len(neg)), float(t)


def roc_points(scores, labels) -> dict[str, list[float]]:
    from sklearn.metrics import roc_curve

    fpr, tpr, thr = roc_curve(np.asarray(labels), np.asarray(scores))
    return {
        "fpr": fpr.tolist(),
        "tpr": tpr.tolist(),
        "thresholds": np.nan_to_num(thr, posinf=1e9).tolist(),
    }


def threshold_metrics(scores, labels, threshold: float = 0.5) -> dict[str, float]:
    s, y = _arrays(scores, labels)
    pred = (s >= threshold).astype(int)
    tp = int(((pred == 1) & (y == 1)).sum())
    fp = int(((pred == 1) & (y == 0)).sum())
    fn = int(((pred == 0) & (y == 1)).sum())
    prec = tp / (tp + fp) if tp + fp else 0.0
    rec = tp / (tp + fn) if tp + fn else 0.0
    return {
        "accuracy": float((pred == y).mean()),
        "f1": 2 * prec * rec / (prec + rec) if prec + rec else 0.0,
    }


def bootstrap_ci(
    scores,
    labels,
    groups: Sequence | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, list[float]]:
    """Percentile bootstrap CIs of AUROC and TNR@0.2, resampling groups (questions) when given."""
    s, y = _arrays(scores, labels)
    rng = np.random.default_rng(seed)
    if groups is None:
        units = [np.array([i]) for i in range(len(s))]
    else:
        g = np.asarray([str(x) for x in groups])
        units = [np.flatnonzero(g == u) for u in np.unique(g)]
    au, tn = [], []
    for _ in range(n_boot):
        idx = np.concatenate([units[k] for k in rng.integers(0, len(units), len(units))])
        a = auroc(s[idx], y[idx])
        if np.isnan(a):
            continue
        au.append(a)
        tn.append(tnr_at_fnr(s[idx], y[idx])[0])
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    return {"auroc": np.percentile(au, q).tolist() if au else [float("nan")] * 2,
            "tnr@0.2": np.percentile(tn, q).tolist() if tn else [float("nan")] * 2}  # fmt: skip


def within_question_auroc(
    scores, labels, groups, n_boot: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict:
    """Mean over questions (with both labels) of the AUROC computed inside each question.

    Clustering happens within a question, so this is the judge quality that matters there;
    pooled AUROC also rewards knowing which *questions* agree more. The interval resamples
    questions.

    Example:
        >>> r = within_question_auroc([0.9, 0.1, 0.2, 0.8], [1, 0, 1, 0], ["a", "a", "b", "b"], n_boot=0)
        >>> r["within_question_auroc"], r["questions"]
        (0.5, 2)
    """
    s, y = _arrays(scores, labels)
    g = np.asarray([str(x) for x in groups])
    per = [
        auroc(s[g == u], y[g == u]) for u in np.unique(g) if 0 < y[g == u].sum() < (g == u).sum()
    ]
    out = {
        "within_question_auroc": float(np.mean(per)) if per else float("nan"),
        "questions": len(per),
    }
    if n_boot and per:
        rng = np.random.default_rng(seed)
        boots = [float(np.mean(rng.choice(per, len(per)))) for _ in range(n_boot)]
        out["ci95"] = np.percentile(boots, [100 * alpha / 2, 100 * (1 - alpha / 2)]).tolist()
    return out


def judge_metrics(
    scores, labels, groups=None, sources=None, n_boot: int = 1000, seed: int = 0
) -> dict:
    """Everything ``deepprune judge eval`` reports."""
    s, y = _arrays(scores, labels)
    tnr, thr = tnr_at_fnr(s, y)
    out = {
        "pairs": int(len(s)),
        "positives": int(y.sum()),
        "auroc": auroc(s, y),
        "tnr@0.2": tnr,
        "threshold@fnr0.2": thr,
        **threshold_metrics(s, y),
        "ci95": bootstrap_ci(s, y, groups, n_boot=n_boot, seed=seed) if n_boot else None,
        "roc": roc_points(s, y) if 0 < y.sum() < len(y) else None,
    }
    if groups is not None:
        w = within_question_auroc(s, y, groups, n_boot=n_boot, seed=seed)
        out["within_question_auroc"] = w["within_question_auroc"]
        out["within_question_ci95"] = w.get("ci95")
        out["questions_with_both_labels"] = w["questions"]
    if sources is not None:
        src = np.asarray([str(x) for x in sources])
        out["by_source"] = {
            u: {
                "pairs": int((src == u).sum()),
                "auroc": auroc(s[src == u], y[src == u]),
                "tnr@0.2": tnr_at_fnr(s[src == u], y[src == u])[0],
            }  # fmt: skip
            for u in np.unique(src)
        }
    return out


def auroc_diff_ci(
    scores_a,
    scores_b,
    labels,
    groups: Sequence,
    n_boot: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict:
    """AUROC(a) - AUROC(b) on the same pairs, with a paired percentile bootstrap over groups.

    Both judges are scored on each resampled set of questions, so the interval is that of
    the difference (narrower than comparing two separate intervals).

    Example:
        >>> d = auroc_diff_ci([0.9, 0.1, 0.8, 0.2], [0.5, 0.5, 0.5, 0.5], [1, 0, 1, 0], [0, 0, 1, 1], n_boot=50)
        >>> d["diff"]
        0.5
    """
    a, y = _arrays(scores_a, labels)
    b, _ = _arrays(scores_b, labels)
    g = np.asarray([str(x) for x in groups])
    units = [np.flatnonzero(g == u) for u in np.unique(g)]
    rng = np.random.default_rng(seed)
    diffs = []
    for _ in range(n_boot):
        idx = np.concatenate([units[k] for k in rng.integers(0, len(units), len(units))])
        d = auroc(a[idx], y[idx]) - auroc(b[idx], y[idx])
        if not np.isnan(d):
            diffs.append(d)
    q = [100 * alpha / 2, 100 * (1 - alpha / 2)]
    lo, hi = np.percentile(diffs, q).tolist() if diffs else [float("nan")] * 2
    return {
        "diff": auroc(a, y) - auroc(b, y),
        "ci95": [lo, hi],
        "p_le_0": float(np.mean(np.array(diffs) <= 0)) if diffs else float("nan"),
    }


def auroc_line(pool, trunc: str, judge: str, m: dict) -> str:
    """The judge lab's progress line for one cell (pool, prefix, judge) of judge_metrics ``m``."""
    from pathlib import Path

    return f"  {Path(pool).name} {trunc} {judge}: AUROC {m['auroc']:.3f} TNR@0.2 {m['tnr@0.2']:.3f}"


def metrics_report(m: dict, questions: int) -> str:
    """:func:`judge_metrics`' result (with its ``judge``) for a terminal."""
    nan2 = [float("nan")] * 2
    ci = m["ci95"] or {"auroc": nan2, "tnr@0.2": nan2}
    lines = [
        f"{m['judge']}: AUROC {m['auroc']:.3f} [{ci['auroc'][0]:.3f}, {ci['auroc'][1]:.3f}]  "
        f"TNR@0.2 {m['tnr@0.2']:.3f} [{ci['tnr@0.2'][0]:.3f}, {ci['tnr@0.2'][1]:.3f}]  "
        f"acc {m['accuracy']:.3f}  F1 {m['f1']:.3f}  ({m['pairs']} pairs)"
    ]
    if "within_question_auroc" in m:
        w = m["within_question_ci95"] or nan2
        lines.append(
            f"  within-question AUROC {m['within_question_auroc']:.3f} [{w[0]:.3f}, {w[1]:.3f}] "
            f"over {m['questions_with_both_labels']} questions (clustering happens within a question)"
        )
    if questions < 10:  # our choice of cut-off: a question bootstrap over fewer means little
        lines.append(
            f"  warning: only {questions} questions; the intervals resample questions and mean little here"
        )
    return "\n".join(lines)


# bootstrap resamples at most (our bound: the resample matrix of 30 questions stays under 25 MB)
MAX_BOOT = 100_000


def paired_ci(diff_q: np.ndarray, n_boot: int, seed: int = 0) -> list[float]:
    """95% bootstrap interval of the mean of per-question differences (questions resampled)."""
    d = diff_q[~np.isnan(diff_q)]
    if len(d) == 0 or n_boot <= 0:
        return [float("nan"), float("nan")]
    rng = np.random.default_rng(seed)
    means = d[rng.integers(0, len(d), size=(n_boot, len(d)))].mean(axis=1)
    return np.percentile(means, [2.5, 97.5]).tolist()


def per_question(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The paired difference of two (questions, repeats) arrays, averaged over each question's
    repeats (the arrival orders): one number per question, NaN where a question has no grade."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape or a.ndim != 2:
        raise ValueError(
            f"paired arrays must share a (questions, repeats) shape, got {a.shape}, {b.shape}"
        )
    d = a - b
    out = np.full(d.shape[0], np.nan)
    has = ~np.isnan(d).all(axis=1)
    out[has] = np.nanmean(d[has], axis=1)
    return out


def paired_question_ci(
    a: np.ndarray, b: np.ndarray, n_boot: int, seed: int = 0
) -> tuple[float, list[float]]:
    """(mean, 95% interval) of the paired difference a − b of two (questions, repeats) arrays: the
    one interval compare, headroom and solve report. Repeats are averaged within each question
    first, then questions are resampled (the unit the claim is about: a new question, not a new
    arrival order of the same questions).

    Example:
        >>> a = np.array([[1.0, 1.0], [0.0, 0.0], [0.0, 0.0]]); b = np.zeros((3, 2))
        >>> m, ci = paired_question_ci(a, b, 2000)
        >>> round(m, 3), ci
        (0.333, [0.0, 1.0])
    """
    d = per_question(a, b)
    return float(np.nanmean(d)) if not np.isnan(d).all() else float("nan"), paired_ci(
        d, n_boot, seed
    )
