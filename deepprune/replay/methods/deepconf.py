"""DeepConf (Fu et al., "Deep Think with Confidence", arXiv 2508.15260), offline and online.

Token confidence is the pool's ``confs``; a trace's *lowest group confidence* is the
minimum over sliding windows of 2048 tokens (paper) of the mean confidence (the whole
trace when shorter). Offline: keep the top eta% of all N traces by lowest group
confidence and vote weighted by it (-low: eta = 10, -high: eta = 90; paper). Online:
16 warm-up traces (paper) set the threshold s at the (100 - eta)-th percentile of their
lowest group confidences; every other trace stops as soon as a full window's mean
confidence falls below s (its tokens up to there are spent, it does not vote); the
vote is weighted by lowest group confidence over warm-up traces at or above s and the
traces that finished. Consensus early stop (the paper's beta = 0.95) is applied in
arrival order: once the leading answer holds >= 95% of the weighted vote, no further
traces are started.
"""

from __future__ import annotations

import numpy as np

from deepprune.confidence import WINDOW, lowest_group_conf, window_means
from deepprune.replay.methods.base import Method, Outcome, vote

WARMUP = 16  # paper: warm-up traces
CONSENSUS = 0.95  # paper: beta


class DeepConfOffline(Method):
    needs = ("confs",)

    def __init__(self, eta: float, name: str):
        self.eta, self.name = eta, name

    def run(self, q, order, rng):
        lgc = np.array([lowest_group_conf(q.confs[i]) for i in order])
        cut = np.percentile(lgc, 100 - self.eta)
        keep = [i for i, g in zip(order, lgc) if g >= cut]
        w = [lowest_group_conf(q.confs[i]) for i in keep]
        return Outcome(
            answer=vote(q, keep, w), tokens=float(q.tokens.sum()), seq_tokens=float(q.tokens.max())
        )


class DeepConfOnline(Method):
    needs = ("confs",)

    def __init__(self, eta: float, name: str, warmup: int = WARMUP, consensus: float = CONSENSUS,
                 window: int = WINDOW):  # fmt: skip
        self.eta, self.name, self.warmup, self.consensus = eta, name, warmup, consensus
        self.window = window

    def run(self, q, order, rng):
        w = self.window
        warm = order[: self.warmup]
        lgc = {i: lowest_group_conf(q.confs[i], w) for i in warm}
        s = float(np.percentile(list(lgc.values()), 100 - self.eta))
        tokens = float(q.tokens[warm].sum())
        seq = float(q.tokens[warm].max())  # the warm-up round in parallel, then one trace at a time
        voters = [i for i in warm if lgc[i] >= s]
        weights = [lgc[i] for i in voters]
        stopped = 0
        for i in order[self.warmup :]:
            if self._consensus(q, voters, weights):
                break
            wm = window_means(q.confs[i], w)
            below = np.flatnonzero(wm < s)
            if len(below) and len(q.confs[i]) > w:
                cut = float(below[0] + w) * q.tokens[i] / len(q.confs[i])
                tokens += cut
                seq += cut
                stopped += 1
                continue
            tokens += float(q.tokens[i])
            seq += float(q.tokens[i])
            if len(below):  # shorter than one window: judged when it ends
                stopped += 1
                continue
            voters.append(i)
            weights.append(lowest_group_conf(q.confs[i], w))
        return Outcome(
            answer=vote(q, voters, weights),
            tokens=tokens,
            info={"stopped": stopped, "threshold": s},
            seq_tokens=seq,
        )

    def _consensus(self, q, voters, weights) -> bool:
        if not voters:
            return False
        tot: dict[int, float] = {}
        for i, w in zip(voters, weights):
            if q.labels[i] >= 0:
                tot[int(q.labels[i])] = tot.get(int(q.labels[i]), 0.0) + w
        return bool(tot) and max(tot.values()) / sum(weights) >= self.consensus
