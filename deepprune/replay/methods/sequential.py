"""Sequential early stopping for self-consistency: sample traces one by one, stop when sure.

Every method here draws traces in the repeat's arrival order, pays each drawn trace's
full tokens, never draws more than the pool's N, and votes over all drawn traces
(ties: the answer seen first). A trace without an answer (class -1) counts as drawn
but never votes, and never counts as agreeing with another trace.
"""

from __future__ import annotations

import math

import numpy as np

from deepprune.errors import ConfigError
from deepprune.questions import PreparedQuestion
from deepprune.replay.methods.base import Method, Outcome, vote
from deepprune.stopping import AscRule, ConsolRule


class _Sequential(Method):
    """Draw in arrival order; ``stop(counts, drawn)`` sees the vote counts so far.

    ``counts`` maps answer class -> votes, with -1 for traces without an answer.
    """

    def stop(self, counts: dict[int, int], drawn: int) -> bool:
        raise NotImplementedError

    max_traces: int | None = None  # the sampling budget (None: the pool's N)

    def run(self, q: PreparedQuestion, order, rng):
        order = order[: self.max_traces] if self.max_traces else order
        counts: dict[int, int] = {}
        k = 0
        for i in order:
            k += 1
            lab = int(q.labels[i])
            counts[lab] = counts.get(lab, 0) + 1
            if self.stop(counts, k):
                break
        drawn = list(order[:k])
        total = float(q.tokens[drawn].sum())  # one trace after another: latency is the sum
        return Outcome(answer=vote(q, drawn), tokens=total, info={"k": k}, seq_tokens=total)


class ESC(Method):
    """Early-Stopping Self-Consistency (Li et al., ICLR 2024, arXiv 2401.10480).

    Draw windows of ``w`` traces (paper default w = 5); stop after the first window
    whose answers are all identical (every trace in it answered); else continue up to
    N. Vote over every drawn trace. The last window may be shorter than w when N is
    not a multiple of w.
    """

    def __init__(self, window: int = 5, name: str | None = None, max_traces: int | None = None):
        if window < 1:
            raise ConfigError(f"ESC window must be >= 1, got {window}")
        self.window, self.max_traces = (
            window,
            max_traces,
        )  # max_traces: the sampling budget L (None: N)
        self.name = name or f"esc(w={window})" + (f"@{max_traces}" if max_traces else "")

    def run(self, q, order, rng):
        drawn: list[int] = []
        seq = 0.0  # a window's traces run in parallel, windows one after another
        order = order[: self.max_traces] if self.max_traces else order
        for start in range(0, len(order), self.window):
            win = list(order[start : start + self.window])
            drawn += win
            seq += float(q.tokens[win].max())
            labs = q.labels[win]
            if (labs >= 0).all() and len(set(labs.tolist())) == 1:
                break
        return Outcome(answer=vote(q, drawn), tokens=float(q.tokens[drawn].sum()),
                       info={"k": len(drawn)}, seq_tokens=seq)  # fmt: skip


class AdaptiveConsistency(_Sequential):
    """Adaptive-Consistency (Aggarwal et al., EMNLP 2023, arXiv 2305.11860).

    After each trace, stop when the probability that the current leader is the true
    majority reaches ``threshold`` (paper default 0.95): :class:`deepprune.stopping.AscRule`
    (``beta``, the paper's default, or ``dirichlet``).
    """

    def __init__(self, threshold: float = 0.95, criterion: str = "beta", draws: int = 2000,
                 name: str | None = None, max_traces: int | None = None):  # fmt: skip
        self.rule = AscRule(threshold, criterion, draws)
        self.threshold, self.criterion, self.draws = threshold, criterion, draws
        self.max_traces = max_traces
        self.name = name or f"adaptive-consistency({criterion},{threshold:g})" + (
            f"@{max_traces}" if max_traces else ""
        )

    def confidence(self, counts: list[int]) -> float:
        """P(the leader is the true majority) from vote counts, largest first."""
        return self.rule.confidence(counts)

    def stop(self, counts, drawn):
        return self.rule.stop(counts, drawn)


class ConSol(_Sequential):
    """ConSol-style sequential probability-ratio test between the top two answers.

    (ConSol, 2025: "Sequential Probability Ratio Testing to Find Consistent LLM
    Reasoning Paths Efficiently".) :class:`deepprune.stopping.ConsolRule`; defaults
    alpha = 0.05, beta = 0.2, p1 = 0.75 are our choice (the classic Wald setting), not
    taken from the paper.
    """

    def __init__(self, alpha: float = 0.05, beta: float = 0.2, p1: float = 0.75,
                 name: str | None = None):  # fmt: skip
        self.rule = ConsolRule(alpha, beta, p1)
        self.name = name or f"consol(alpha={alpha:g})"

    def stop(self, counts, drawn):
        return self.rule.stop(counts, drawn)


class EntropyStop(_Sequential):
    """Dynasor-style certainty stopping for self-consistency (after Dynasor / Certaindex, Fu et al. 2024).

    Dynasor probes a trace's intermediate answers; the shared pools hold final answers
    only, so the certainty signal here is the entropy (bits) of the answers drawn so
    far: stop once at least ``min_traces`` have been drawn and the entropy is at most
    ``max_entropy``. Unanswered traces count as one extra "no answer" outcome. Defaults
    (min_traces = 3, max_entropy = 0.5 bits) are our choice.
    """

    def __init__(self, max_entropy: float = 0.5, min_traces: int = 3, name: str | None = None):
        self.max_entropy, self.min_traces = max_entropy, min_traces
        self.name = name or f"entropy-stop(H<={max_entropy:g})"

    def stop(self, counts, drawn):
        if drawn < self.min_traces:
            return False
        h = -sum(v / drawn * math.log2(v / drawn) for v in counts.values())
        return h <= self.max_entropy + 1e-12


class ShortMK(Method):
    """short-m@k (Hassid et al. 2025, "Don't Overthink It: Preferring Shorter Thinking Chains").

    Start k traces in parallel (default: all N of the pool) and stop all of them when
    the first m have finished, finishing time being the trace's token count; vote over
    those m (ties: the shorter trace's answer, as in the paper). Every one of the k
    traces costs min(its length, the m-th shortest length).
    """

    def __init__(self, m: int = 3, k: int | None = None, name: str | None = None):
        if m < 1:
            raise ConfigError(f"short-m@k needs m >= 1, got {m}")
        self.m, self.k = m, k
        self.name = name or f"short-{m}@{'N' if k is None else k}"

    def run(self, q, order, rng):
        started = list(order[: self.k or len(order)])
        lengths = q.tokens[started]
        finish = np.argsort(lengths, kind="stable")[: min(self.m, len(started))]
        voters = [started[f] for f in finish]  # shortest first: ties go to the shorter trace
        cutoff = lengths[finish[-1]]
        return Outcome(answer=vote(q, voters), tokens=float(np.minimum(lengths, cutoff).sum()),
                       info={"k": len(started)}, seq_tokens=float(cutoff))  # fmt: skip
