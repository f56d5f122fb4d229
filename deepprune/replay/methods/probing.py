"""Parallel-Probe (Zheng et al., arXiv 2602.03845): parallel traces stopped by their probe answers.

A pool with answer probes (``probes``: the answer a trace gives when forced to answer every
``probe_every`` tokens) lets a replay watch traces think. ``ParallelProbe`` starts ``chains``
traces at once and advances them in rounds of ``probe_every`` tokens. After each round every
trace holds its latest answer (a finished or stopped trace keeps its last one); the answer
held by most traces is the consensus (ties: the trace first in arrival order).

- **consensus-based early stop**: once the consensus has stayed the same for ``T`` more
  rounds, stop every trace and answer it;
- **deviation-based branch pruning**: after ``warm_up`` rounds, a live trace whose latest
  answer has differed from the consensus for ``patience`` rounds in a row is stopped;
- at most ``max_rounds`` rounds; then (or when every trace has finished) the last consensus.

Defaults are the published configuration (the authors' code, zhengkid/Parallel-Probe
@aaa4c72, ``evaluation/evaluation_main_table.py``; the published table in
``../shared/data/published/``): 64 chains, T = 40, patience 7, warm-up 15, 100 rounds.
Accounting as in that replay: a round costs each live trace ``probe_every`` tokens; a trace
past its last probe finishes, paying the rest of its length (nothing if its probes already
covered it). Sequential tokens: the most any one trace generated (all run in parallel).

``err_votes``: whether "no answer" (a null probe) counts as an answer of its own in the
consensus, as in the published code (its "ERR" string); our default, as everywhere in this
project, is that a missing answer never votes.
"""

from __future__ import annotations

import numpy as np

from deepprune.errors import ConfigError
from deepprune.questions import PreparedQuestion
from deepprune.replay.methods.base import Method, Outcome
from deepprune.vote import consensus


class ParallelProbe(Method):
    needs = ("probes",)

    def __init__(self, chains: int = 64, T: int = 40, patience: int = 7, warm_up: int = 15,
                 max_rounds: int = 100, err_votes: bool = False, name: str | None = None):  # fmt: skip
        if min(chains, T, patience, max_rounds) < 1 or warm_up < 0:
            raise ConfigError(
                "parallel-probe: chains, T, patience, max_rounds must be >= 1, warm_up >= 0"
            )
        self.chains, self.T, self.patience, self.warm_up = chains, T, patience, warm_up
        self.max_rounds, self.err_votes = max_rounds, err_votes
        self.name = name or f"parallel-probe(n={chains},T={T},p={patience},w={warm_up})"

    def skip_reason(self, questions: list[PreparedQuestion]) -> str | None:
        if any(q.probes is None for q in questions):
            return "pool has no answer probes ('probes', 'probe_every')"
        return None

    def run(self, q: PreparedQuestion, order, rng) -> Outcome:
        chains = np.asarray(order[: self.chains])
        probes, pe = q.probes[chains], float(q.probe_every)
        ptok = q.probe_cost[chains]
        n_probes = (probes != -2).sum(axis=1)
        final, length = q.labels[chains], q.tokens[chains]
        k = len(chains)
        cost, done, nxt = np.zeros(k), np.zeros(k, bool), np.zeros(k, int)
        last = np.empty(k, dtype=np.int64)
        off = np.zeros(k, int)

        spent = [0.0]  # probe tokens (deepprune.probes.probe_tokens: an estimate on a pool)

        def advance(live: np.ndarray) -> None:
            probing = live & (nxt < n_probes)
            last[probing] = probes[probing, nxt[probing]]
            spent[0] += float(ptok[probing, nxt[probing]].sum())
            cost[probing] += pe
            nxt[probing] += 1
            ending = live & ~probing  # past its last probe: the trace runs to its end
            last[ending] = final[ending]
            cost[ending] += np.maximum(0.0, length[ending] - cost[ending])
            done[ending] = True

        advance(np.ones(k, bool))  # every chain starts and gives its first probe
        prev, stable, rounds, pruned = None, 0, 0, 0
        for step in range(self.max_rounds):
            advance(~done)
            rounds = step + 1
            winner = consensus(last, self.err_votes)
            live = ~done
            if step >= self.warm_up and live.sum() > 1:
                off = np.where(live, np.where(last != winner, off + 1, 0), off)
                cut = live & (off >= self.patience)  # pruned: stops generating, keeps its answer
                pruned += int(cut.sum())
                done |= cut
            stable = stable + 1 if winner == prev else 0
            prev = winner
            if stable >= self.T or done.all():
                break
        answer = prev if prev is not None and prev >= 0 else -1
        return Outcome(answer=answer, tokens=float(cost.sum()), seq_tokens=float(cost.max()), probe_tokens=spent[0],
                       info={"k": k, "rounds": rounds, "finished": int((nxt >= n_probes).sum()), "pruned": pruned})  # fmt: skip
