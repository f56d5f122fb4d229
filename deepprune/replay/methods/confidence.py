"""Confidence-weighted voting over all N traces (needs per-token ``confs`` in the pool).

CISC (Taubenfeld et al. 2025, "Confidence Improves Self-Consistency in LLMs") weights each
trace's vote by a confidence score; DeepConf's offline variants (Fu et al. 2025, arXiv
2508.15260) use token-confidence summaries and may first keep only the top eta% of
traces. Scores here: ``mean`` (mean token confidence), ``tail`` (mean of the last 2048
tokens, DeepConf), ``bottom10`` (mean of the lowest 10% of 2048-token group means,
DeepConf), ``lowest`` (lowest group mean, DeepConf). These methods save no tokens: they
change accuracy at cons@N cost.
"""

from __future__ import annotations

import numpy as np

from deepprune.confidence import WINDOW, window_means
from deepprune.errors import ConfigError
from deepprune.replay.methods.base import Method, Outcome, vote

SCORES = ("mean", "tail", "bottom10", "lowest")


def trace_confidence(confs: np.ndarray, kind: str, window: int = WINDOW) -> float:
    if len(confs) == 0:
        return 0.0
    if kind == "mean":
        return float(confs.mean())
    if kind == "tail":
        return float(confs[-window:].mean())
    g = window_means(confs, window)
    if kind == "lowest":
        return float(g.min())
    if kind == "bottom10":
        g = np.sort(g)
        return float(g[: max(1, int(np.ceil(0.1 * len(g))))].mean())
    raise ConfigError(f"unknown confidence score {kind!r}; known: {', '.join(SCORES)}")


class ConfidenceVote(Method):
    """Weighted vote by a trace-confidence score, optionally over the top ``eta``% only."""

    needs = ("confs",)

    def __init__(self, score: str = "mean", eta: float = 100.0, name: str | None = None):
        if score not in SCORES:
            raise ConfigError(f"unknown confidence score {score!r}; known: {', '.join(SCORES)}")
        self.score, self.eta = score, eta
        self.name = name or f"conf-vote({score}{'' if eta >= 100 else f',top{eta:g}%'})"

    def run(self, q, order, rng):
        c = np.array([trace_confidence(q.confs[i], self.score) for i in order])
        cut = np.percentile(c, 100 - self.eta) if self.eta < 100 else -np.inf
        keep = [i for i, s in zip(order, c, strict=True) if s >= cut]
        w = [s for s in c if s >= cut]
        return Outcome(
            answer=vote(q, keep, w), tokens=float(q.tokens.sum()), seq_tokens=float(q.tokens.max())
        )
