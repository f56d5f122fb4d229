"""DeepPrune that adapts per question: how many prefixes to launch and how many traces to finish.

DeepPrune as published pays N prefixes plus K2 completions whatever the question, so on an easy
question it cannot spend less than about K2 traces (issue 26 of this project). ``AdaptiveDeepPrune``
changes the two fixed numbers, in parallel waves:

- **adaptive N** (``n0``): launch prefixes in waves of ``n0`` traces, cluster each wave's
  arrivals with the judge (the paper's greedy clustering, :class:`deepprune.greedy.GreedyClusterer`),
  and launch another wave only while the judge disagrees: until the largest cluster holds at least
  ``agree`` of the prefixes launched, or all N are launched. ``n0=None``: all N at once (DeepPrune).
- **adaptive completion** (``wave``, ``threshold``): finish the largest cluster's members in
  arrival order, ``wave`` at a time (in parallel), and stop once the finished answers pass
  Adaptive-Consistency's Beta criterion (Aggarwal et al. 2023: P(X > 1/2) >= ``threshold``,
  X ~ Beta(v1 + 1, v2 + 1) over the top two counts; "ASC-style Beta stopping" in the issue), or
  after K2 members. All singletons: the first K3 prefixes launched are the candidates instead.

Defaults are our choice (n0 = 8, agree = 0.75, wave = 2, threshold = 0.95: ASC's published
default). Cost: every launched trace its prefix (or its whole length when shorter); every finished
trace the rest; probe tokens of launched traces; judge calls of the clustering. Sequential tokens:
prefix waves one after another (each the longest prefix in it), then completion waves (each the
longest remainder in it).
"""

from __future__ import annotations

import numpy as np

from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig, GreedyClusterer
from deepprune.questions import PreparedQuestion
from deepprune.replay.methods.base import Method, Outcome, needs_of, vote
from deepprune.rng import run_key
from deepprune.stopping import beta_leader


class AdaptiveDeepPrune(Method):
    def __init__(self, judge_id: str, cfg: ClusterConfig | None = None, n0: int | None = 8,
                 agree: float = 0.75, wave: int = 2, threshold: float = 0.95, name: str | None = None):  # fmt: skip
        if n0 is not None and n0 < 1 or wave < 1:
            raise ConfigError("adaptive deepprune: n0 and wave must be >= 1")
        if not 0 < agree <= 1 or not 0.5 < threshold < 1:
            raise ConfigError("adaptive deepprune: agree in (0, 1], threshold in (0.5, 1)")
        self.judge_id, self.cfg = judge_id, cfg or ClusterConfig()
        self.n0, self.agree, self.wave, self.threshold = n0, agree, wave, threshold
        self.needs = needs_of(judge_id)
        launch = "N" if n0 is None else f"n0={n0},agree={agree:g}"
        self.name = (
            name or f"deepprune-adaptive[{judge_id}]({launch},wave={wave},asc={threshold:g})"
        )

    def run(self, q: PreparedQuestion, order, rng) -> Outcome:
        scores, cost = q.scores[self.judge_id], q.costs.get(self.judge_id)
        calls = [0, 0]  # comparisons, their judge input tokens

        def score(t, members):
            i, j = np.full(len(members), t), np.asarray(members)
            scores.fill(i, j)
            calls[0] += len(members)
            if cost is not None:
                calls[1] += int(cost.of(i, j).sum())
            return scores.mat[t, j]

        g = GreedyClusterer(
            self.cfg, score, run_key("deepprune-adaptive", rng.getrandbits(32), 0, q.qid)
        )
        step = self.n0 or len(order)
        launched, seq = 0, 0.0
        while launched < len(order):
            wave = list(order[launched : launched + step])
            for t in wave:
                g.add(t)
            launched += len(wave)
            seq += float(q.prefix_tokens[wave].max())
            if max(map(len, g.clusters)) >= self.agree * launched:
                break
        fallback = all(len(c) == 1 for c in g.clusters)
        if fallback:
            candidates = g.order[: self.cfg.K3]
        else:
            candidates = max(g.clusters, key=len)[
                : self.cfg.K2
            ]  # max keeps the first of equal sizes
        done: list[int] = []
        for s in range(0, len(candidates), self.wave):
            batch = candidates[s : s + self.wave]
            done += batch
            seq += float((q.tokens[batch] - q.prefix_tokens[batch]).max())
            top = sorted(np.bincount(q.labels[done][q.labels[done] >= 0]).tolist(), reverse=True)
            if top and beta_leader(top[0], top[1] if len(top) > 1 else 0) >= self.threshold:
                break
        started = g.order
        tokens = float(
            q.prefix_tokens[started].sum() + (q.tokens[done] - q.prefix_tokens[done]).sum()
        )
        probe = (
            0.0 if cost is None or cost.per_trace is None else float(cost.per_trace[started].sum())
        )
        return Outcome(answer=vote(q, done), tokens=tokens, aux_calls=calls[0], aux_tokens=calls[1],
                       probe_tokens=probe, seq_tokens=seq,
                       info={"launched": len(started), "completed": len(done), "clusters": len(g.clusters),
                             "largest": max(map(len, g.clusters)), "fallback": fallback})  # fmt: skip
