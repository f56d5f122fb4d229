"""Adaptive stopping in parallel waves, and a budget-capped cons@k: methods built to transfer.

Sequential early stopping (ASC, ConSol; :mod:`deepprune.replay.methods.sequential`) samples one
trace at a time, so its latency is the sum of its traces. :class:`WaveStop` launches ``wave``
traces at once and decides as they end: traces of a wave end in order of length (every trace
generates at the same speed); after each one ends, its answer joins the counts and the rule is
asked; once it says stop, the rest of the wave is closed at that moment (each costs the tokens it
had generated: the length of the trace that just ended). A wave that ends without a stop is
followed by the next. ``wave = 1`` is the sequential method exactly. The vote is over the traces
that ended, ties going to the first to end (the shortest). Sequential tokens: each wave's
duration (its longest trace, or the moment it was closed), summed.

Traces that end first are the shorter ones, so waves carry the length signal of short-m@k
(shorter traces are more often right on many pools: Hassid et al. 2025, arXiv 2510.10409)
inside an adaptive rule.

:class:`CappedConsK` is what a vLLM or SGLang user can do today with a thinking-token budget:
k traces, each capped at ``budget`` tokens. On a pool with answer probes the answer at the cap is
the probe at the last multiple of ``probe_every`` the budget reaches; on a pool without, a trace
longer than the budget gives no answer.
"""

from __future__ import annotations

import numpy as np

from deepprune.errors import ConfigError
from deepprune.questions import PreparedQuestion
from deepprune.replay.methods.base import Method, Outcome, vote
from deepprune.vote import majority_class


class WaveStop(Method):
    """A sequential stopping rule run in parallel waves of ``wave`` traces (see the module).

    Args:
        rule: any sequential method with ``stop(counts, drawn)`` (AdaptiveConsistency, ConSol,
            EntropyStop); its own defaults and sources apply.
        wave: traces launched at once (1: the sequential method).
        name: the operating point's name (default: the rule's, with ``/w=WAVE``).

    Example:
        >>> from deepprune.replay.methods.sequential import AdaptiveConsistency
        >>> WaveStop(AdaptiveConsistency(0.95), wave=4).name
        'adaptive-consistency(beta,0.95)/w=4'
    """

    def __init__(self, rule, wave: int = 4, name: str | None = None):
        if wave < 1:
            raise ConfigError(f"wave must be >= 1, got {wave}")
        self.rule, self.wave = rule, wave
        self.name = name or f"{rule.name}/w={wave}"

    def run(self, q: PreparedQuestion, order, rng) -> Outcome:
        counts: dict[int, int] = {}
        ended: list[int] = []
        tokens = seq = 0.0
        for s in range(0, len(order), self.wave):
            wave = list(order[s : s + self.wave])
            lens = q.tokens[wave]
            stop_at = None
            for j in np.argsort(lens, kind="stable"):  # the order they end in (ties: launch order)
                i = wave[j]
                lab = int(q.labels[i])
                counts[lab] = counts.get(lab, 0) + 1
                ended.append(i)
                if self.rule.stop(counts, len(ended)):
                    stop_at = float(lens[j])
                    break
            if stop_at is None:
                tokens, seq = tokens + float(lens.sum()), seq + float(lens.max())
                continue
            tokens += float(np.minimum(lens, stop_at).sum())  # the rest closed at that moment
            seq += stop_at
            break
        return Outcome(answer=vote(q, ended), tokens=tokens, seq_tokens=seq,
                       info={"k": len(ended), "launched": min(len(order), s + self.wave)})  # fmt: skip


class CappedConsK(Method):
    """cons@k with every trace capped at ``budget`` tokens (a thinking-token budget; see the module).

    Cost: each of the k traces min(its length, budget). Sequential tokens: the longest capped trace.
    ``k`` above the pool's N is the pool's N.
    """

    def __init__(self, k: int, budget: int, name: str | None = None):
        if k < 1 or budget < 1:
            raise ConfigError(f"capped cons@k needs k >= 1 and budget >= 1, got {k}, {budget}")
        self.k, self.budget = k, budget
        self.name = name or f"cons@{k}|cap={budget}"

    def run(self, q: PreparedQuestion, order, rng) -> Outcome:
        took = list(order[: self.k])
        lens = q.tokens[took]
        capped = np.minimum(lens, self.budget)
        labels = q.labels[took].copy()
        over = lens > self.budget
        probe = 0.0
        if over.any():
            labels[over], probe = self._at_cap(q, np.asarray(took)[over])
        # vote over the answers at the cap (no answer: -1 never votes), ties to the first launched
        return Outcome(answer=majority_class(labels.tolist()), tokens=float(capped.sum()), probe_tokens=probe,
                       seq_tokens=float(capped.max()), info={"k": len(took), "cut": int(over.sum())})  # fmt: skip

    def _at_cap(self, q: PreparedQuestion, idx: np.ndarray) -> tuple[np.ndarray, float]:
        """(the answer class at the cap, probe tokens) of traces longer than it: their probe at the
        last probe position the budget reaches, or -1 where the pool has no probes (or none there)."""
        j = int(self.budget // q.probe_every) - 1 if q.probes is not None and q.probe_every else -1
        if j < 0 or j >= q.probes.shape[1]:
            return np.full(len(idx), -1), 0.0
        cost = 0.0 if q.probe_cost is None else float(q.probe_cost[idx, j].sum())
        return np.maximum(q.probes[idx, j], -1), cost
