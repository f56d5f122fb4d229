"""DeepPrune (Tu et al., arXiv 2510.08483): judge-based greedy clustering of prefixes.

Cost: every trace generates its prefix (a trace shorter than its prefix costs its full
length); the k* completed traces generate the rest. Judge calls and their input tokens
(two prefixes per comparison) are reported separately.

All repeats of a question (and, through :meth:`DeepPrune.sweep`, all tau values of a
sweep) run in one lock-step batch of :func:`deepprune.replay.batched.cluster_runs`. A run's
randomness is keyed by (seed, repeat, question) only, so the tau values of a sweep see
the same arrival orders and member samples.
"""

from __future__ import annotations

import numpy as np

from deepprune.greedy import ClusterConfig
from deepprune.questions import PreparedQuestion
from deepprune.replay.batched import cluster_runs, select_completed
from deepprune.replay.methods.base import (
    Method,
    Outcome,
    needs_of,
    prefix_then_finish,
    vote,
)
from deepprune.rng import run_key


class DeepPrune(Method):
    def __init__(self, judge_id: str, cfg: ClusterConfig | None = None, name: str | None = None):
        self.judge_id = judge_id
        self.cfg = cfg or ClusterConfig()
        self.needs = needs_of(judge_id)
        self.name = name or f"deepprune[{judge_id}]"

    def run(self, q, order, rng):
        return self.run_repeats(q, [order], rng.getrandbits(32))[0]

    def run_repeats(self, q, orders, seed):
        return self.sweep(q, orders, seed, [self.cfg.tau])[0]

    def sweep(
        self, q: PreparedQuestion, orders: list[list[int]], seed: int, taus: list[float]
    ) -> list[list[Outcome]]:
        """Outcomes ``[tau][repeat]`` of every tau value over every repeat, in one batch."""
        scores = q.scores[self.judge_id]
        R, T = len(orders), len(taus)
        keys = np.array([run_key("deepprune", seed, r, q.qid) for r in range(R)], dtype=np.uint64)
        before = scores.calls
        runs = cluster_runs(np.tile(np.asarray(orders), (T, 1)), np.repeat(taus, R),
                            np.tile(keys, T), scores, self.cfg, q.costs.get(self.judge_id))  # fmt: skip
        new_calls = scores.calls - before
        cost = q.costs.get(self.judge_id)
        # every trace's prefix is probed at its cut (probe judges): once, whatever the clustering
        probe_cost = (
            float(cost.per_trace.sum()) if cost is not None and cost.per_trace is not None else 0.0
        )
        out = []
        for k in range(T):
            row = []
            for r in range(R):
                b = k * R + r
                done, fallback = select_completed(runs, b, self.cfg, int(keys[r]))
                tokens = float(
                    q.prefix_tokens.sum() + (q.tokens[done] - q.prefix_tokens[done]).sum()
                )
                sizes = np.bincount(runs.assign[b][runs.assign[b] >= 0])
                row.append(Outcome(
                    answer=vote(q, done),
                    tokens=tokens,
                    aux_calls=int(runs.comparisons[b]),
                    aux_tokens=int(runs.comparison_tokens[b]),
                    probe_tokens=probe_cost,
                    info={"clusters": int(runs.n_clusters[b]), "largest": int(sizes.max()),
                          "completed": len(done), "fallback": fallback,
                          "new_judge_calls": new_calls if b == 0 else 0},
                    seq_tokens=prefix_then_finish(q, done),
                ))  # fmt: skip
            out.append(row)
        return out
