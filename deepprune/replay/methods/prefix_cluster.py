"""Untrained prefix-similarity pruning: PoLR-style clustering and Slim-SC-style pruning.

Both read every trace's prefix (the run's truncation, e.g. ``words:25``) and compare
prefixes with an untrained similarity: any judge of :mod:`deepprune.judges` attached to
the questions (``lexical:tfidf`` by default, ``sbert`` for embeddings), through the same
per-question memo DeepPrune uses. Cost: every trace's prefix, plus the completion of
the traces kept. The auxiliary cost is one similarity input per prefix (N calls, the
prefix tokens), since an embedder or TF-IDF reads each prefix once.
"""

from __future__ import annotations

import numpy as np

from deepprune.questions import PreparedQuestion
from deepprune.replay.methods.base import (
    Method,
    Outcome,
    needs_of,
    prefix_then_finish,
    vote,
)


def similarity_matrix(q: PreparedQuestion, judge_id: str) -> np.ndarray:
    """All pairwise similarities of a question's prefixes (memoised; diagonal 1)."""
    memo = q.scores[judge_id]
    i, j = np.triu_indices(q.n, 1)
    memo.fill(i, j)
    sim = memo.mat[:, : q.n].astype(float).copy()
    np.fill_diagonal(sim, 1.0)
    return sim


def _aux(q):
    return q.n, int(q.judge_tokens.sum())


def probe_cost(q: PreparedQuestion, judge_id: str) -> float:
    """Reasoning-model tokens spent making what the similarity reads (every trace's answer probes
    at its cut, for the probe judge; 0 for a text similarity)."""
    cost = q.costs.get(judge_id)
    return 0.0 if cost is None or cost.per_trace is None else float(cost.per_trace.sum())


class PrefixMethod(Method):
    """A method that reads every trace's prefix through a similarity (``judge_id``), then completes
    some traces (``members``) and votes over them: what PoLR and Slim-SC share."""

    needs = ("prefix", "text")

    def __init__(self, judge_id: str, name: str):
        self.needs = needs_of(judge_id)
        self.judge_id, self.name = judge_id, name

    def finish(self, q, members: list[int]) -> Outcome:
        """Every prefix generated, ``members`` completed: the tokens, the vote and the judge's cost."""
        tokens = float(q.prefix_tokens.sum() + (q.tokens[members] - q.prefix_tokens[members]).sum())
        calls, aux_tokens = _aux(q)
        return Outcome(answer=vote(q, members), tokens=tokens, aux_calls=calls, aux_tokens=aux_tokens,
                       info={"k": len(members)}, seq_tokens=prefix_then_finish(q, members),
                       probe_tokens=probe_cost(q, self.judge_id))  # fmt: skip


class PoLR(PrefixMethod):
    """PoLR-style prefix clustering ("path of least resistance": cluster short prefixes,
    expand only the dominant cluster), DeepPrune's untrained cousin.

    All N traces generate their prefix; prefixes are clustered by average-linkage
    agglomerative clustering on distance 1 - similarity, cut at 1 - ``tau`` (our
    choice: tau = 0.5, the DeepPrune threshold); every member of the largest cluster
    (ties: the one holding the earliest trace) is completed and votes.
    """

    def __init__(self, judge_id: str, tau: float = 0.5, name: str | None = None):
        super().__init__(judge_id, name or f"polr[{judge_id}](tau={tau:g})")
        self.tau = tau

    def run(self, q, order, rng):
        from scipy.cluster.hierarchy import fcluster, linkage
        from scipy.spatial.distance import squareform

        sim = similarity_matrix(q, self.judge_id)
        if q.n == 1:
            members = [order[0]]
        else:
            dist = squareform(np.clip(1.0 - sim, 0.0, None), checks=False)
            lab = fcluster(linkage(dist, method="average"), t=1.0 - self.tau, criterion="distance")
            sizes = {c: int((lab == c).sum()) for c in set(lab.tolist())}
            best = max(sizes.values())
            c_max = next(lab[i] for i in order if sizes[lab[i]] == best)  # earliest trace's cluster
            members = [i for i in order if lab[i] == c_max]
        return self.finish(q, members)


class SlimSC(PrefixMethod):
    """Slim-SC-style similarity pruning (Hong et al. 2025, "Slim-SC: thought pruning for
    efficient scaling with self-consistency").

    At one reasoning-step boundary (the end of the prefix), traces are visited in arrival
    order; a trace whose prefix has similarity > ``threshold`` with any kept trace is
    pruned (it stops after its prefix); the others are kept, completed and vote. Slim-SC
    prunes repeatedly along the trace with embedding cosine; one checkpoint and the
    threshold 0.95 are our choice.
    """

    def __init__(self, judge_id: str, threshold: float = 0.95, name: str | None = None):
        super().__init__(judge_id, name or f"slim-sc[{judge_id}](>{threshold:g})")
        self.threshold = threshold

    def run(self, q, order, rng):
        sim = similarity_matrix(q, self.judge_id)
        kept: list[int] = []
        for i in order:
            if not kept or sim[i, kept].max() <= self.threshold:
                kept.append(i)
        return self.finish(q, kept)
