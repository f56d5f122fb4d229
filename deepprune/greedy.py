"""The paper's greedy online clustering (DeepPrune §3), one arriving trace at a time.

This is the readable reference: :mod:`deepprune.replay.batched` runs the same loop for
many runs at once with numpy and is property-tested against it, and the generation-time
engine drives it as traces reach their truncation point.

Example:
    >>> same = lambda t, members: [1.0 if (t % 2) == (m % 2) else 0.0 for m in members]
    >>> g = GreedyClusterer(ClusterConfig(), same)
    >>> [g.add(t) for t in range(4)]
    [0, 1, 0, 1]
    >>> g.completed()
    ([0, 2], False)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deepprune.errors import ConfigError
from deepprune.rng import fallback_pick, floyd_sample


@dataclass
class ClusterConfig:
    """Clustering parameters (the one home of DeepPrune's defaults)."""

    tau: float = 0.5  # DeepPrune §4: similarity threshold
    K: int = 32  # DeepPrune §4: maximum number of clusters
    K1: int = 10  # DeepPrune §4: members sampled per cluster when comparing
    K2: int = 20  # DeepPrune §4: maximum traces completed from the largest cluster
    K3: int = 20  # our choice (not reported in the paper): fallback sample when all are singletons

    def __post_init__(self):
        if not 0 <= self.tau <= 1:
            raise ConfigError(f"tau must be in [0, 1], got {self.tau}")
        for name in ("K", "K1", "K2", "K3"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.K1 > 256:
            raise ConfigError(f"K1 must be <= 256, got {self.K1}")


Scorer = Callable[[int, Sequence[int]], Sequence[float]]


class GreedyClusterer:
    """Greedy clustering of one question's traces as they arrive.

    Args:
        cfg: tau, K, K1 (joining) and K2, K3 (:meth:`completed`).
        score: ``score(t, members) -> scores``: the judge's P(same answer) of trace t with
            each member (rounded to float32, as the replay engine's memo stores them).
        key: the run's randomness key (:func:`deepprune.rng.run_key`).
    """

    def __init__(self, cfg: ClusterConfig, score: Scorer, key: int = 0):
        self.cfg, self.score, self.key = cfg, score, key
        self.clusters: list[list[int]] = []  # member trace ids, in arrival order
        self.order: list[int] = []  # every trace, in arrival order
        self.comparisons = 0  # judge scores consulted

    def _sample(self, c: int) -> list[int]:
        """min(K1, |c|) members of cluster c, drawn afresh for every arriving trace."""
        members, k1 = self.clusters[c], self.cfg.K1
        if len(members) <= k1:
            return list(members)
        pick = floyd_sample([len(members)], k1, self.key, len(self.order), c)[0]
        return [members[s] for s in pick]

    def add(self, t: int) -> int:
        """Trace t arrives: it joins a cluster or starts one. Returns the cluster's index."""
        best, best_mean = -1, -np.inf
        for c in range(len(self.clusters)):
            sample = self._sample(c)
            scores = np.asarray(self.score(t, sample), dtype=np.float32).astype(np.float64)
            self.comparisons += len(sample)
            mean = scores.sum() / len(sample)
            if mean > best_mean:  # strict: ties go to the cluster created first
                best, best_mean = c, mean
        self.order.append(t)
        if best >= 0 and (best_mean > self.cfg.tau or len(self.clusters) >= self.cfg.K):
            self.clusters[best].append(t)
            return best
        self.clusters.append([t])
        return len(self.clusters) - 1

    def completed(self) -> tuple[list[int], bool]:
        """Traces to complete, and whether the all-singletons fallback chose them.

        The K2 earliest members of the largest cluster (ties: created first); when every
        cluster is a singleton, K3 traces drawn by the run's key instead.
        """
        if all(len(c) == 1 for c in self.clusters):
            return [
                self.order[p] for p in fallback_pick(self.key, len(self.order), self.cfg.K3)
            ], True
        largest = max(self.clusters, key=len)  # max keeps the first of equal sizes
        return largest[: self.cfg.K2], False
