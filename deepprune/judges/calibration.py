"""Calibrated judges: a judge's raw score mapped to an estimate of P(same final answer) by a
stored fit (fitting it is the judge lab's :mod:`deepprune.judgelab.calibrate`).

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
import json
from pathlib import Path

import numpy as np

from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges.base import Judge, JudgeCost


class CalibratedJudge(Judge):
    """A judge whose scores pass through a stored calibration map (``calib=FILE`` in any spec)."""

    @property
    def inline(self) -> bool:  # as cheap as the judge it calibrates
        return self.base.inline

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
