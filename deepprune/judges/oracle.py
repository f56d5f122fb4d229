"""The two references that read the true labels: the oracle (ceiling) and a noisy oracle.

``noisy-oracle:auroc=0.87`` stands in for a judge of the paper's quality (its Table 2 AUROC).
"""

from __future__ import annotations

import hashlib
import math

import numpy as np

from deepprune.errors import ConfigError
from deepprune.judges.base import LabelledJudge
from deepprune.rng import uniform01

PAPER_JUDGE_AUROC = 0.87  # DeepPrune Table 2: the trained Qwen3-4B judge's AUROC


class OracleJudge(LabelledJudge):
    """The true label as the score: the upper bound of any judge. A ceiling is free by definition:
    its net tokens carry no judge term (``params`` 0); the calls it made stay in the aux columns."""

    id = "oracle"

    @property
    def params(self) -> float:
        return 0.0

    def score_labelled(self, pairs, labels):
        return np.asarray(labels, dtype=float)

    def score_indexed_labelled(self, texts, i, j, labels):
        return np.asarray(labels, dtype=float)


class NoisyOracleJudge(LabelledJudge):
    """Scores with a requested AUROC: label-conditional Gaussians, mapped through Phi.

    Same-answer pairs draw z ~ N(+d/2, 1), others z ~ N(-d/2, 1), with
    d = sqrt(2) * Phi^-1(auroc), so P(z_pos > z_neg) = auroc; the score is Phi(z), so
    0.5 is the natural threshold. Each pair's draw is a deterministic function of the
    seed and the two texts (in either order), so the same pair always gets the same score.
    """

    def __init__(self, auroc: float = PAPER_JUDGE_AUROC, seed: int = 0):
        if not 0.5 <= auroc < 1:
            raise ConfigError(f"noisy-oracle auroc must be in [0.5, 1), got {auroc}")
        from statistics import NormalDist

        self.auroc, self.seed = auroc, seed
        self.d = math.sqrt(2) * NormalDist().inv_cdf(auroc)
        self.id = f"noisy-oracle:auroc={auroc},seed={seed}"
        self._hash: dict[str, int] = {}
        self._last: tuple[object, np.ndarray] | None = None  # (texts, their hashes)

    def _h(self, text: str) -> int:
        h = self._hash.get(text)
        if h is None:
            data = f"{self.seed}\0{text}".encode("utf-8", "surrogatepass")
            h = self._hash[text] = int.from_bytes(
                hashlib.blake2b(data, digest_size=8).digest(), "little"
            )
        return h

    def _draw(self, ha: np.ndarray, hb: np.ndarray, labels) -> np.ndarray:
        from scipy.special import ndtr, ndtri

        z = ndtri(uniform01(np.minimum(ha, hb), np.maximum(ha, hb)))
        return ndtr(z + np.where(np.asarray(labels) > 0, self.d / 2, -self.d / 2))

    def score_labelled(self, pairs, labels):
        ha = np.array([self._h(p.prefix_a) for p in pairs], dtype=np.uint64)
        hb = np.array([self._h(p.prefix_b) for p in pairs], dtype=np.uint64)
        return self._draw(ha, hb, labels)

    def score_indexed_labelled(self, texts, i, j, labels):
        if self._last is None or self._last[0] is not texts:
            self._last = (texts, np.array([self._h(t) for t in texts], dtype=np.uint64))
        h = self._last[1]
        return self._draw(h[i], h[j], labels)
