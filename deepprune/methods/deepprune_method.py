"""DeepPrune (Tu et al., arXiv 2510.08483): judge-based greedy clustering of prefixes.

Cost: every trace generates its prefix (a trace shorter than its prefix costs its full
length); the k* completed traces generate the rest. Judge calls and their input tokens
(two prefixes per comparison) are reported separately.
"""

from __future__ import annotations

from deepprune.cluster import ClusterConfig, deepprune_question
from deepprune.methods.base import Method, Outcome, vote


class DeepPrune(Method):
    def __init__(self, judge_id: str, cfg: ClusterConfig | None = None, name: str | None = None):
        self.judge_id = judge_id
        self.cfg = cfg or ClusterConfig()
        self.name = name or f"deepprune[{judge_id}]"

    def run(self, q, order, rng):
        scores = q.scores[self.judge_id]
        before = scores.calls
        res = deepprune_question(order, scores, self.cfg, rng, q.judge_tokens)
        done = res.completed
        tokens = float(q.prefix_tokens.sum() + (q.tokens[done] - q.prefix_tokens[done]).sum())
        return Outcome(
            answer=vote(q, done),
            tokens=tokens,
            aux_calls=res.comparisons,
            aux_tokens=int(res.comparison_tokens),
            info={
                "clusters": len(res.clusters),
                "largest": max(len(c) for c in res.clusters),
                "completed": len(done),
                "fallback": res.fallback,
                "new_judge_calls": scores.calls - before,
            },
        )
