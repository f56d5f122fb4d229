"""Sampling baselines: pass@1, cons@N (self-consistency, Wang et al. 2023) and cons@k."""

from __future__ import annotations

import math
import random

import numpy as np

from deepprune.errors import ConfigError
from deepprune.questions import PreparedQuestion
from deepprune.replay.methods.base import Method, Outcome, vote


class PassAt1(Method):
    """Expected accuracy and cost of one random trace (exact expectation, no sampling)."""

    name = "pass@1"

    def run(self, q, order, rng):
        correct = (
            None
            if q.gold_class is None
            else float(np.mean((q.labels == q.gold_class) & (q.labels >= 0)))
        )
        mean = float(q.tokens.mean())
        # an expectation, not a vote: no answer to agree with cons@N's
        return Outcome(
            answer=-1, tokens=mean, correct=correct, seq_tokens=mean, info={"expectation": True}
        )


class ConsN(Method):
    """Majority vote over all N traces; costs every token of every trace."""

    name = "cons@N"

    def run(self, q, order, rng):
        return Outcome(
            answer=vote(q, order), tokens=float(q.tokens.sum()), seq_tokens=float(q.tokens.max())
        )


class ConsK(Method):
    """Majority vote over the first k traces of the arrival order.

    A fractional k (budget matching) uses floor(k) or ceil(k) traces with the
    probability that makes the expected count equal k.
    """

    def __init__(self, k: float, name: str | None = None):
        if k <= 0:
            raise ConfigError(f"cons@k needs k > 0, got {k}")
        self.k = k
        self.name = name or f"cons@{k:g}"

    def run(self, q: PreparedQuestion, order: list[int], rng: random.Random):
        lo = math.floor(self.k)
        k = lo + (rng.random() < self.k - lo)
        k = max(1, min(k, q.n))
        chosen = order[:k]
        return Outcome(answer=vote(q, chosen), tokens=float(q.tokens[chosen].sum()), info={"k": k},
                       seq_tokens=float(q.tokens[chosen].max()))  # fmt: skip
