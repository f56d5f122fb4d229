"""Calibrated judges: a judge's raw score mapped to an estimate of P(same final answer).

    deepprune judge calibrate --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl --judge sbert \
        --trunc words:25 --out runs/calib/sbert-qwen3.json
    deepprune prune --pool ... --judge sbert,calib=runs/calib/sbert-qwen3.json

DeepPrune compares a judge's score with tau as if it were P(same answer); for similarity
judges it is not (SBERT's (1 + cos) / 2 lies in 0.77-0.996 on Qwen3-8B prefixes, so at tau = 0.5
every trace joins one cluster). Isotonic regression (monotone, so AUROC is unchanged up to
ties) fitted on the pairs of the pair builder's *train* questions maps raw scores to observed
same-answer rates; the file stores the fit, the judge, the data it came from, and a
reliability table on the held-out questions. Any judge spec takes ``calib=FILE``.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from pathlib import Path

import numpy as np

from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges.base import Judge, JudgeCost


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
    from deepprune.pairs import pair_labels
    from deepprune.questions import labelled_questions
    from deepprune.splits import split_questions

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


class CalibratedJudge(Judge):
    """A judge whose scores pass through a stored calibration map (``calib=FILE`` in any spec)."""

    def __init__(self, base: Judge, path: str):
        p = Path(path)
        if not p.is_file():
            raise MissingInputError(
                f"{p}: no such calibration file (make one with `deepprune judge calibrate`)"
            )
        try:
            cal = json.loads(p.read_text(encoding="utf-8"))
            self.x, self.y = np.asarray(cal["x"], dtype=float), np.asarray(cal["y"], dtype=float)
        except (json.JSONDecodeError, KeyError, TypeError, ValueError):
            raise ConfigError(
                f"{p}: not a calibration file written by `deepprune judge calibrate`"
            ) from None
        if cal.get("judge") != base.id:
            raise ConfigError(f"{p}: calibrated for judge {cal.get('judge')!r}, not {base.id!r}")
        self.base = base
        digest = hashlib.sha256(p.read_bytes()).hexdigest()[:12]
        self.id = f"{base.id}|calib={digest}"  # the content, not the path: caches follow the fit

    def _map(self, s) -> np.ndarray:
        return np.interp(np.asarray(s, dtype=float), self.x, self.y)

    def prepare(self, texts) -> None:
        self.base.prepare(texts)

    @property
    def fits_texts(self) -> bool:
        return self.base.fits_texts

    @property
    def cache_id(self) -> str:
        return self.id + self.base.cache_id.removeprefix(self.base.id)

    @property
    def params(self) -> float | None:
        return self.base.params

    @property
    def reads(self) -> str:  # type: ignore[override]
        return self.base.reads

    def score(self, pairs):
        return self._map(self.base.score(pairs))

    def score_indexed(self, texts, i, j, question=None):
        return self._map(self.base.score_indexed(texts, i, j, question))

    def cost(self, texts, counts=None) -> JudgeCost:
        return self.base.cost(texts, counts)
