"""Fitting a judge's calibration: raw score -> P(same final answer), isotonic, on the train questions.

    deepprune judge calibrate --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl --judge sbert \
        --trunc words:25 --out runs/calib/sbert-qwen3.json

Part of the judge lab; applying a fit is :class:`deepprune.judges.calibration.CalibratedJudge`
(``calib=FILE`` in any judge spec).
"""

from __future__ import annotations

import itertools
import json
from dataclasses import dataclass, field

import numpy as np

from deepprune.artifacts import atomic_write
from deepprune.errors import ConfigError
from deepprune.judges import Judge, get_judge
from deepprune.pairs import pair_labels
from deepprune.pools import check_pools
from deepprune.questions import labelled_questions
from deepprune.splits import split_questions
from deepprune.truncate import PAPER_TRUNC


def fit_isotonic(scores, labels) -> dict:
    """The isotonic map of raw scores to P(label = 1) as interpolation knots ``x`` -> ``y``."""
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, labels)
    return {"method": "isotonic", "x": iso.X_thresholds_.tolist(), "y": iso.y_thresholds_.tolist()}


def reliability(probs, labels, bins: int = 10) -> list[dict]:
    """Observed same-answer rate per bin of predicted probability (a reliability diagram's data)."""
    p, y = np.asarray(probs, dtype=float), np.asarray(labels, dtype=float)
    edges = np.linspace(0, 1, bins + 1)
    idx = np.clip(np.digitize(p, edges) - 1, 0, bins - 1)
    return [{"bin": [float(edges[b]), float(edges[b + 1])], "pairs": int((idx == b).sum()),
             "predicted": float(p[idx == b].mean()), "observed": float(y[idx == b].mean())}
            for b in range(bins) if (idx == b).any()]  # fmt: skip


def calibrate(judge: Judge, pools, trunc: str, test_fraction: float = 0.2, seed: int = 0,
              max_pairs_per_question: int = 2000) -> dict:  # fmt: skip
    """Fit on the train questions' pairs (the pair builder's split), report reliability on the rest."""
    qs = [q for q in labelled_questions(pools, trunc) if q.n >= 2]
    if not qs:
        raise ConfigError("no question has two answered traces with text: nothing to calibrate on")
    train_keys, test_keys = split_questions([q.key for q in qs], test_fraction, seed)
    rng = np.random.default_rng(seed)
    parts = {"train": ([], []), "test": ([], [])}
    from tqdm import tqdm

    for q in tqdm(qs, desc=f"calibrate {judge.id}", unit="question"):
        ij = np.array(list(itertools.combinations(range(q.n), 2)))
        if len(ij) > max_pairs_per_question:  # our choice: bound the work on 512-trace questions
            ij = ij[np.sort(rng.choice(len(ij), max_pairs_per_question, replace=False))]
        s = judge.score_indexed(q.prefixes, ij[:, 0], ij[:, 1])
        side = "train" if q.key in train_keys else "test"
        parts[side][0].append(np.asarray(s, dtype=float))
        parts[side][1].append(pair_labels(q.labels, ij))
    xs, ys = (np.concatenate(v) for v in parts["train"])
    if len(np.unique(ys)) < 2:
        raise ConfigError("the train questions' pairs have a single label: nothing to calibrate")
    fit = fit_isotonic(xs, ys)
    out = {"judge": judge.id, "pools": [str(p) for p in pools], "trunc": trunc, "test_fraction": test_fraction,
           "seed": seed, "train_pairs": int(len(xs)), "train_questions": len(train_keys), **fit}  # fmt: skip
    if parts["test"][0]:
        xt, yt = (np.concatenate(v) for v in parts["test"])
        out["test_pairs"] = int(len(xt))
        out["reliability_raw"] = reliability(np.clip(xt, 0, 1), yt)
        out["reliability_calibrated"] = reliability(np.interp(xt, fit["x"], fit["y"]), yt)
    return out


@dataclass
class CalibrateJob:
    """``deepprune judge calibrate``: fit score -> P(same answer) on the train questions; write ``out``."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    judge: str = field(
        default="", metadata={"required": True}
    )  # judge spec, e.g. sbert or lexical:tfidf
    trunc: str = PAPER_TRUNC  # prefix spec
    test_fraction: float = 0.2  # held-out questions (the pair builder's split)
    seed: int = 0  # random seed (our choice: 0)
    out: str = field(
        default="", metadata={"required": True}
    )  # the calibration file to write (JSON)

    def run(self) -> list[str]:
        """Fit, write ``out``; the reliability lines and a summary."""
        paths = check_pools(self.pool)  # every input checked before any scoring
        cal = calibrate(get_judge(self.judge), paths, self.trunc, self.test_fraction, self.seed)
        atomic_write(self.out, json.dumps(cal, indent=1) + "\n")
        lines = [f"{name.removeprefix('reliability_')} (predicted -> observed on held-out pairs): "
                 + "  ".join(f"{r['predicted']:.2f}->{r['observed']:.2f} ({r['pairs']})" for r in cal[name])
                 for name in ("reliability_raw", "reliability_calibrated") if name in cal]  # fmt: skip
        train = f"{cal['train_pairs']} pairs of {cal['train_questions']} questions"
        return [*lines, f"{self.out}: {cal['judge']} calibrated on {train}"]
