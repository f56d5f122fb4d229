"""DeepPrune's greedy online clustering (judge-agnostic) and answer selection.

For each question, traces arrive in a given order. Keep clusters C. For a new trace t:
for each cluster c, sample min(K1, |c|) members without replacement and average the
judge's scores s(t, m); if the best average > tau, t joins that cluster (it stops after
its prefix); else if |C| < K, t starts a new cluster; else t joins its most similar
cluster. Selection: c_max is the largest cluster (ties: the one created first). If
every cluster is a singleton, fall back to K3 traces sampled from the pool; otherwise
complete the k* = min(|c_max|, K2) earliest members of c_max. Their answers are
majority-voted (ties: the answer seen first).

The judge is a callable ``score(t, members) -> np.ndarray`` (one score per member);
:class:`PairScores` memoises it per question so that repeats and threshold sweeps never
score a pair twice.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np


@dataclass
class ClusterConfig:
    """Clustering parameters. Values marked "paper" are as reported for DeepPrune."""

    tau: float = 0.5  # paper: similarity threshold
    K: int = 32  # paper: maximum number of clusters
    K1: int = 10  # paper: members sampled per cluster when comparing
    K2: int = 20  # paper: maximum traces completed from the largest cluster
    K3: int = 20  # our choice (not reported in the paper): fallback sample when all clusters are singletons

    def __post_init__(self):
        if not 0 <= self.tau <= 1:
            raise ValueError(f"tau must be in [0, 1], got {self.tau}")
        for name in ("K", "K1", "K2", "K3"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")


class PairScores:
    """Memoised judge scores of one question's trace pairs (unordered: s(i,j) = s(j,i)).

    ``fetch(t, members)`` returns scores, calling ``judge_fn(pairs)`` only for pairs never
    scored before; ``calls`` counts distinct pairs sent to the judge.
    """

    def __init__(self, n: int, judge_fn: Callable[[list[tuple[int, int]]], np.ndarray]):
        self.mat = np.full((n, n), np.nan, dtype=np.float32)
        self.judge_fn = judge_fn
        self.calls = 0
        self.call_pairs: list[tuple[int, int]] = []

    def fetch(self, t: int, members: np.ndarray) -> np.ndarray:
        s = self.mat[t, members]
        missing = np.isnan(s)
        if missing.any():
            todo = [(min(t, int(m)), max(t, int(m))) for m in members[missing]]
            vals = np.asarray(self.judge_fn(todo), dtype=np.float32)
            a = np.array([p[0] for p in todo])
            b = np.array([p[1] for p in todo])
            self.mat[a, b] = vals
            self.mat[b, a] = vals
            self.calls += len(todo)
            self.call_pairs.extend(todo)
            s = self.mat[t, members]
        return s


@dataclass
class ClusterResult:
    clusters: list[list[int]]
    completed: list[int]
    fallback: bool
    comparisons: int  # judge scores consulted (memoised or not): what a deployment would call
    comparison_tokens: int  # judge input tokens of those comparisons (two prefixes each)


def greedy_cluster(
    order: Sequence[int],
    scores: PairScores,
    cfg: ClusterConfig,
    rng: random.Random,
    judge_tokens: np.ndarray | None = None,
) -> tuple[list[list[int]], int, int]:
    """Cluster traces in arrival ``order``; returns (clusters, comparisons, comparison tokens)."""
    clusters: list[list[int]] = []
    comparisons = cost = 0
    for t in order:
        if not clusters:
            clusters.append([t])
            continue
        samples = [c if len(c) <= cfg.K1 else rng.sample(c, cfg.K1) for c in clusters]
        members = np.fromiter((m for s in samples for m in s), dtype=np.int64)
        s = scores.fetch(t, members)
        comparisons += len(members)
        if judge_tokens is not None:
            cost += int(judge_tokens[t]) * len(members) + int(judge_tokens[members].sum())
        bounds = np.cumsum([0] + [len(x) for x in samples[:-1]])
        avgs = np.add.reduceat(s, bounds) / np.array([len(x) for x in samples])
        best = int(np.argmax(avgs))  # ties: the cluster created first
        if avgs[best] > cfg.tau or len(clusters) >= cfg.K:
            clusters[best].append(t)
        else:
            clusters.append([t])
    return clusters, comparisons, cost


def select_completed(
    clusters: list[list[int]], order: Sequence[int], cfg: ClusterConfig, rng: random.Random
) -> tuple[list[int], bool]:
    """Traces to complete: K2 earliest members of the largest cluster, or the K3 fallback."""
    if all(len(c) == 1 for c in clusters):
        pool = list(order)
        return rng.sample(pool, min(cfg.K3, len(pool))), True
    c_max = max(clusters, key=len)  # max() keeps the first of equal-length clusters
    return c_max[: min(len(c_max), cfg.K2)], False


def deepprune_question(
    order: Sequence[int],
    scores: PairScores,
    cfg: ClusterConfig,
    rng: random.Random,
    judge_tokens: np.ndarray | None = None,
) -> ClusterResult:
    """Cluster one question's traces and choose the traces to complete."""
    clusters, comparisons, cost = greedy_cluster(order, scores, cfg, rng, judge_tokens)
    completed, fallback = select_completed(clusters, order, cfg, rng)
    return ClusterResult(clusters, completed, fallback, comparisons, cost)
