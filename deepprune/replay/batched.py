"""DeepPrune's greedy online clustering (judge-agnostic) and answer selection.

For each question, traces arrive in a given order. Keep clusters C. For a new trace t:
for each cluster c, sample min(K1, |c|) members without replacement and average the
judge's scores s(t, m); if the best average > tau, t joins that cluster (it stops after
its prefix); else if |C| < K, t starts a new cluster; else t joins its most similar
cluster (ties between averages: the cluster created first). Selection: c_max is the
largest cluster (ties: the one created first). If every cluster is a singleton, fall
back to K3 traces sampled from the pool; otherwise complete the k* = min(|c_max|, K2)
earliest members of c_max. Their answers are majority-voted (ties: the answer seen
first).

Engine: :func:`cluster_runs` advances many independent runs of one question (repeats x
tau values of a sweep) in lock-step, one arrival position at a time, with numpy. A
run's randomness (the member samples, the fallback sample) comes from a counter-based
generator keyed by the run's ``key``, so a run gives the same result alone or inside a
sweep, and the tau values of a sweep share their random numbers (common random
numbers: smoother trade-off curves). Member sampling draws a fresh uniform subset
(Floyd's algorithm) for every arriving trace.

Judge scores live in :class:`PairScores`, one memo matrix per question shared by every
run, repeat and sweep value: a pair is sent to the judge at most once, and each
lock-step position sends all runs' missing pairs in one batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.judges.base import JudgeCost
from deepprune.rng import fallback_pick, floyd_sample


class PairScores:
    """Memoised judge scores of one question's trace pairs (unordered: s(i,j) = s(j,i)).

    ``judge_fn(i, j)`` takes two index arrays (i < j elementwise) and returns one score
    per pair. ``calls`` counts pairs sent to the judge; only never-scored pairs are sent,
    so ``calls`` always equals :meth:`distinct` (the scored entries of the memo).
    ``mat`` is n x (n + 1): NaN = not scored yet; the last column is a zero sentinel that
    the engine uses for empty member slots.
    """

    def __init__(self, n: int, judge_fn: Callable[[np.ndarray, np.ndarray], np.ndarray]):
        self.n = n
        self.mat = np.full((n, n + 1), np.nan, dtype=np.float32)
        self.mat[:, n] = 0.0
        self.flat = self.mat.reshape(-1)  # a view: flat[t * (n + 1) + m] = mat[t, m]
        self.judge_fn = judge_fn
        self.calls = 0

    def fill(self, i: np.ndarray, j: np.ndarray) -> None:
        """Score the pairs (i, j) not scored yet (any order, duplicates allowed)."""
        a, b = np.minimum(i, j), np.maximum(i, j)
        n = self.n
        flat = np.unique(a.astype(np.int64) * n + b)
        a, b = flat // n, flat % n
        todo = np.isnan(self.mat[a, b])
        a, b = a[todo], b[todo]
        if len(a):
            vals = np.asarray(self.judge_fn(a, b), dtype=np.float32)
            if vals.shape != a.shape:
                raise ConfigError(f"judge returned {vals.shape} scores for {len(a)} pairs")
            self.mat[a, b] = vals
            self.mat[b, a] = vals
            self.calls += len(a)

    def distinct(self) -> int:
        """Distinct pairs in the memo (i < j), plus self-pairs if any were scored."""
        m = ~np.isnan(self.mat[:, : self.n])
        return int((np.triu(m, 1).sum()) + np.diagonal(m).sum())


# ---- the engine --------------------------------------------------------------------------


@dataclass
class Runs:
    """Result of :func:`cluster_runs` for R runs of one question with n traces."""

    orders: np.ndarray  # (R, n) arrival order
    assign: np.ndarray  # (R, N) cluster id of each trace (ids in creation order; -1: never arrived)
    n_clusters: np.ndarray  # (R,)
    comparisons: (
        np.ndarray
    )  # (R,) judge scores consulted (memoised or not): what a deployment calls
    comparison_tokens: (
        np.ndarray
    )  # (R,) judge input tokens of those comparisons (two prefixes each)

    def clusters(self, r: int) -> list[list[int]]:
        """Run r's clusters as member lists in arrival order."""
        order = self.orders[r]
        lab = self.assign[r, order]
        return [order[lab == c].tolist() for c in range(int(self.n_clusters[r]))]


def cluster_runs(
    orders: np.ndarray,
    taus: np.ndarray,
    keys: np.ndarray,
    scores: PairScores,
    cfg: ClusterConfig,
    judge_cost: JudgeCost | None = None,
) -> Runs:
    """Greedy clustering of R runs of one question in lock-step.

    Args:
        orders: (R, n) arrival order of each run (a permutation of range(n)).
        taus: (R,) threshold of each run (cfg.tau is ignored).
        keys: (R,) uint64 randomness key of each run (see :func:`run_key`).
        scores: the question's memo; missing pairs are scored in one batch per position.
        cfg: K, K1 (K2, K3 are used by :func:`select_completed`).
        judge_cost: what the judge reads per call (:meth:`deepprune.judges.Judge.cost`).
    """
    orders = np.atleast_2d(np.asarray(orders, dtype=np.int64))
    R, n = orders.shape  # n arrival positions (usually every trace of the question)
    taus = np.broadcast_to(np.asarray(taus, dtype=np.float64), (R,))
    keys = np.broadcast_to(np.asarray(keys, dtype=np.uint64), (R,))
    K, K1 = cfg.K, cfg.K1
    N = scores.n
    rows = np.arange(R)
    cap = max(n, K1)
    members = np.full((R, K, cap), N, dtype=np.int32)  # arrival order; N = empty slot
    flat_members = members.reshape(-1)
    head = np.full((R, K, K1), N, dtype=np.int64)  # the first K1 slots, kept contiguous
    size = np.zeros((R, K), dtype=np.int64)
    n_cl = np.zeros(R, dtype=np.int64)
    assign = np.full((R, N), -1, dtype=np.int64)
    comparisons = np.zeros(R, dtype=np.int64)
    ctoks = np.zeros(R, dtype=np.int64)
    jt = None
    if judge_cost is not None:
        jt = np.append(
            np.asarray(judge_cost.per_prefix, dtype=np.int64), 0
        )  # sentinel slot costs 0
    cl = np.arange(K)
    for p in range(n):
        t = orders[:, p]
        if p > 0:
            sampled = head.copy()  # clusters of <= K1 members: all of them
            rb, cb = np.nonzero(size > K1)
            if len(rb):  # bigger clusters: a fresh uniform K1-subset of their slots
                pick = floyd_sample(size[rb, cb], K1, keys[rb], np.full(len(rb), p), cb)
                sampled[rb, cb] = flat_members[((rb * K + cb) * cap)[:, None] + pick]
            idx = t[:, None, None] * (N + 1) + sampled
            vals = scores.flat[idx]
            if np.isnan(vals).any():
                r_, c_, s_ = np.nonzero(np.isnan(vals))
                scores.fill(t[r_], sampled[r_, c_, s_])
                vals = scores.flat[idx]
            cnt = np.minimum(size, K1)
            comparisons += cnt.sum(axis=1)
            if jt is not None:
                calls = cnt.sum(axis=1)
                ctoks += judge_cost.passes * (
                    (judge_cost.per_pair + jt[t]) * calls + jt[sampled].sum(axis=(1, 2))
                )
            # float64 sums of float32 scores are exact: the same means as GreedyClusterer
            avg = vals.astype(np.float64).sum(axis=2) / np.maximum(cnt, 1)
            avg[cl[None, :] >= n_cl[:, None]] = -np.inf
            best = np.argmax(avg, axis=1)  # ties: the cluster created first
            join = (avg[rows, best] > taus) | (n_cl >= K)
            target = np.where(join, best, n_cl)
        else:
            join = np.zeros(R, dtype=bool)
            target = np.zeros(R, dtype=np.int64)
        pos = size[rows, target]
        members[rows, target, pos] = t
        small = pos < K1
        head[rows[small], target[small], pos[small]] = t[small]
        size[rows, target] += 1
        n_cl += ~join
        assign[rows, t] = target
    return Runs(orders, assign, n_cl, comparisons, ctoks)


def select_completed(runs: Runs, r: int, cfg: ClusterConfig, key: int) -> tuple[list[int], bool]:
    """Traces run r completes: the K2 earliest members of its largest cluster, or the K3 fallback."""
    order = runs.orders[r]
    n = len(order)
    if runs.n_clusters[r] == n:  # every cluster a singleton
        return order[fallback_pick(key, n, cfg.K3)].tolist(), True
    lab = runs.assign[r]
    sizes = np.bincount(lab[lab >= 0], minlength=int(runs.n_clusters[r]))
    c_max = int(np.argmax(sizes))  # first of equal-size clusters = created first
    arrived = order[runs.assign[r, order] == c_max]
    return arrived[: cfg.K2].tolist(), False


@dataclass
class ClusterResult:
    clusters: list[list[int]]
    completed: list[int]
    fallback: bool
    comparisons: int  # judge scores consulted (memoised or not): what a deployment would call
    comparison_tokens: int  # judge input tokens of those comparisons (two prefixes each)


def deepprune_question(
    order: Sequence[int],
    scores: PairScores,
    cfg: ClusterConfig,
    key: int = 0,
    judge_cost: JudgeCost | None = None,
) -> ClusterResult:
    """Cluster one question's traces in ``order`` and choose the traces to complete."""
    keys = np.array([key], dtype=np.uint64)
    runs = cluster_runs(np.array([order]), np.array([cfg.tau]), keys, scores, cfg, judge_cost)
    completed, fallback = select_completed(runs, 0, cfg, key)
    return ClusterResult(
        runs.clusters(0),
        completed,
        fallback,
        int(runs.comparisons[0]),
        int(runs.comparison_tokens[0]),
    )
