"""Stopping rules for self-consistency over answer counts: when enough traces agree, stop sampling.

Pure functions of the vote counts so far, shared by the replay methods
(:mod:`deepprune.replay.methods.sequential`, :mod:`deepprune.replay.methods.waves`) and the live
engine (:mod:`deepprune.engine.waves`), so both decide alike. ``counts`` maps answer class ->
votes, with -1 for traces without an answer (drawn, never voting).

Example:
    >>> AscRule(0.95).stop({0: 5}, 5), AscRule(0.95).stop({0: 3, 1: 2}, 5)
    (True, False)
"""

from __future__ import annotations

import functools
import math

import numpy as np

from deepprune.errors import ConfigError


def top_counts(counts: dict[int, int]) -> list[int]:
    """Vote counts of answered classes, largest first."""
    return sorted((v for c, v in counts.items() if c >= 0), reverse=True)


@functools.lru_cache(maxsize=65536)
def beta_leader(v1: int, v2: int) -> float:
    """P(X > 1/2), X ~ Beta(v1 + 1, v2 + 1): the leader of two answers is the true majority."""
    from scipy.special import betainc

    return float(1.0 - betainc(v1 + 1, v2 + 1, 0.5))


@functools.lru_cache(maxsize=65536)
def dirichlet_leader(counts: tuple[int, ...], draws: int) -> float:
    """P(the leader has the largest share) under Dirichlet(counts + 1), with one zero-count category
    for answers not seen yet, from ``draws`` seeded samples."""
    alpha = np.array([*counts, 0], dtype=float) + 1
    rng = np.random.default_rng(sum(counts) * 1000003 + len(counts))
    p = rng.dirichlet(alpha, size=draws)
    return float((p.argmax(axis=1) == 0).mean())


class AscRule:
    """Adaptive-Consistency's stop (Aggarwal et al., EMNLP 2023, arXiv 2305.11860): the leader's
    confidence reaches ``threshold`` (paper default 0.95); ``beta`` (the paper's default) or
    ``dirichlet`` criterion (our choices: one unseen-answer category, 2000 draws)."""

    def __init__(self, threshold: float = 0.95, criterion: str = "beta", draws: int = 2000):
        if criterion not in ("beta", "dirichlet"):
            raise ConfigError(f"criterion must be beta or dirichlet, got {criterion!r}")
        if not 0.5 < threshold < 1:
            raise ConfigError(f"threshold must be in (0.5, 1), got {threshold}")
        self.threshold, self.criterion, self.draws = threshold, criterion, draws

    def confidence(self, top: list[int]) -> float:
        """P(the leader is the true majority) from vote counts, largest first."""
        if not top:
            return 0.0
        if self.criterion == "beta":
            return beta_leader(top[0], top[1] if len(top) > 1 else 0)
        return dirichlet_leader(tuple(top), self.draws)

    def stop(self, counts: dict[int, int], drawn: int) -> bool:
        return self.confidence(top_counts(counts)) >= self.threshold


class ConsolRule:
    """ConSol-style sequential probability-ratio test between the top two answers (Wald's SPRT;
    defaults alpha = 0.05, beta = 0.2, p1 = 0.75 are our choice): among the top two answers' votes
    a >= b, stop once a log(2 p1) + b log(2 (1 - p1)) >= log((1 - beta) / alpha)."""

    def __init__(self, alpha: float = 0.05, beta: float = 0.2, p1: float = 0.75):
        if not 0.5 < p1 < 1:
            raise ConfigError(f"p1 must be in (0.5, 1), got {p1}")
        if not 0 < alpha < 1 or not 0 < beta < 1:
            raise ConfigError(f"alpha and beta must be in (0, 1), got {alpha}, {beta}")
        self.bound = math.log((1 - beta) / alpha)
        self.up, self.down = math.log(2 * p1), math.log(2 * (1 - p1))

    def stop(self, counts: dict[int, int], drawn: int) -> bool:
        c = top_counts(counts)
        if not c:
            return False
        a, b = c[0], (c[1] if len(c) > 1 else 0)
        return a * self.up + b * self.down >= self.bound
