"""Headroom: how much any stopping rule or judge could gain over plain cons@k on a pool.

    deepprune headroom --pool ../shared/data/pools/probe-qwen3-8b-aime24-n128.jsonl --markdown runs/headroom.md

For each budget k (traces per question), over the same R seeded arrival orders as ``compare``:

- **cons@k**: complete the first k traces of the arrival order and vote.
- **oracle allocator** (an upper bound; it knows the gold and every trace's answer): for every
  question and order it finds the fewest traces, taken in arrival order, whose vote is correct
  (the project's vote: ties to the answer seen first); every question gets its first trace, and
  the rest of the budget (cons@k's mean tokens, so the same expected tokens) fixes wrong
  (question, order) pairs cheapest first. Every fix gains exactly one correct answer, so
  cheapest-first is the exact optimum of this allocation, and since cons@k's own correct pairs
  are fixes that fit in cons@k's budget, the oracle is never below cons@k. It bounds every
  method whose answer is a vote over completed traces in arrival order (ESC, Adaptive-
  Consistency, DeepPrune and its variants, any judge or stopping rule); it does not bound
  methods that choose *which* traces to complete by their length (short-m@k) or answer from
  probes of unfinished traces (Parallel-Probe).
- **ASC allocator** (realisable, final answers only; the setting of Blend-ASC, arXiv 2511.12309,
  whose exact blended ranking we do not reproduce): every question starts with its first trace;
  then one trace at a time goes to the question whose leader is least certain under
  Adaptive-Consistency's Beta criterion (P(X > 1/2), X ~ Beta(v1 + 1, v2 + 1), the top two
  counts; ties: the question first in the pool), until k × questions traces are spent.
  Traces still come in arrival order, so the oracle bounds it too.

The headroom column is oracle − cons@k with a paired 95% bootstrap interval over questions;
"questions with headroom" counts questions where the oracle does better. The report also gives
the fewest questions a method must gain on (losing none) before a paired 95% interval over the
pool's questions can exclude zero: with fewer, no method can be told apart from cons@k.
"""

from __future__ import annotations

import heapq
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.errors import ConfigError
from deepprune.metrics import MAX_BOOT, paired_ci, per_question
from deepprune.pools import check_pools
from deepprune.replay.harness import (
    OnlineConfig,
    load_questions,
    orders_for,
    run_pools,
)
from deepprune.stopping import beta_leader


@dataclass
class HeadroomConfig:
    """A headroom run (budgets and repeats are our choice)."""

    repeats: int = 32  # seeded arrival orders per question (the comparison's)
    seed: int = 0  # random seed of the arrival orders
    shuffle: bool = True  # a seeded permutation per repeat (False: pool order, every repeat)
    budgets: tuple[int, ...] = ()  # k values; empty: 1, 2, 3, 4, 6, 8, 12, 16, 24, 32, ... up to N
    n_boot: int = 1000  # paired bootstrap resamples over questions
    limit: int = 0  # use only the pool's first N questions (0: all)

    def __post_init__(self):
        if self.repeats < 1:
            raise ConfigError(f"repeats must be >= 1, got {self.repeats}")
        if any(k < 1 for k in self.budgets):
            raise ConfigError(f"budgets: every k must be >= 1, got {list(self.budgets)}")
        if not 0 <= self.n_boot <= MAX_BOOT:
            raise ConfigError(f"n_boot (--bootstrap) must be in [0, {MAX_BOOT}], got {self.n_boot}")


def prefix_votes(labels: np.ndarray, order: list[int], gold: int) -> np.ndarray:
    """Whether the vote over the first m traces of ``order`` is ``gold``, for m = 1..len(order).

    Incremental form of :func:`deepprune.vote.majority_class` (ties: the class seen first;
    unanswered traces never vote)."""
    counts: dict[int, int] = {}
    first: dict[int, int] = {}
    leader, out = -1, np.zeros(len(order), bool)
    for m, i in enumerate(order):
        lab = int(labels[i])
        if lab >= 0:
            counts[lab] = counts.get(lab, 0) + 1
            first.setdefault(lab, m)
            if (
                leader < 0
                or counts[lab] > counts[leader]
                or (counts[lab] == counts[leader] and first[lab] < first[leader])
            ):
                leader = lab
        out[m] = leader >= 0 and leader == gold
    return out


def oracle_allocation(first_cost: np.ndarray, first_ok: np.ndarray, fix_cost: np.ndarray,
                      budget: float) -> np.ndarray:  # fmt: skip
    """Which (question, order) items the oracle gets right with ``budget`` tokens per item.

    ``first_cost``/``first_ok``: each item's first trace (always paid); ``fix_cost``: the
    tokens of the fewest arrival-order traces whose vote is correct (inf: none). Returns the
    correct mask (items funded cheapest first: every fix gains one answer, so this is optimal)."""
    ok = first_ok.copy()
    spare = budget * first_cost.size - first_cost.sum()
    extra = np.where(first_ok, np.inf, fix_cost - first_cost).ravel()
    idx = np.argsort(extra, kind="stable")
    funded = np.cumsum(extra[idx]) <= spare + 1e-9
    funded &= np.isfinite(extra[idx])
    flat = ok.ravel()
    flat[idx[funded]] = True
    return flat.reshape(ok.shape)


def asc_allocation(tokens: list[np.ndarray], labels: list[np.ndarray], orders: list[list[int]],
                   max_steps: int) -> tuple[np.ndarray, list[np.ndarray]]:  # fmt: skip
    """One repeat of the ASC allocator, step by step: the tokens spent after each of ``max_steps``
    extra traces, and each question's drawn count at every step (for the vote)."""
    nq = len(tokens)
    drawn = np.ones(nq, int)
    counts = [{} for _ in range(nq)]

    def conf(a: int) -> float:
        top = sorted((v for c, v in counts[a].items() if c >= 0), reverse=True)
        return beta_leader(top[0], top[1] if len(top) > 1 else 0) if top else 0.0

    for a in range(nq):
        lab = int(labels[a][orders[a][0]])
        counts[a][lab] = 1
    heap = [(conf(a), a) for a in range(nq) if len(orders[a]) > 1]
    heapq.heapify(heap)
    spent = float(sum(t[o[0]] for t, o in zip(tokens, orders, strict=True)))
    spent_at, history = np.zeros(max_steps + 1), [drawn.copy()]
    spent_at[0] = spent
    for s in range(1, max_steps + 1):
        if heap:
            _, a = heapq.heappop(heap)
            i = orders[a][drawn[a]]
            drawn[a] += 1
            lab = int(labels[a][i])
            counts[a][lab] = counts[a].get(lab, 0) + 1
            spent += float(tokens[a][i])
            if drawn[a] < len(orders[a]):
                heapq.heappush(heap, (conf(a), a))
        spent_at[s] = spent
        history.append(drawn.copy())
    return spent_at, history


def default_budgets(n: int) -> list[int]:
    grid = [1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256]
    return [k for k in grid if k < n] + [n]


def min_detectable(n_questions: int, n_boot: int) -> int | None:
    """Fewest questions a method must gain on (by one answer each, losing none) before the paired
    95% bootstrap interval of the gain excludes zero."""
    for h in range(1, n_questions + 1):
        d = np.zeros(n_questions)
        d[:h] = 1.0
        if paired_ci(d, n_boot)[0] > 0:
            return h
    return None


def headroom_pool(path: str | os.PathLike, cfg: HeadroomConfig) -> dict:
    """The headroom table of one pool; see the module docstring."""
    oc = OnlineConfig(
        trunc="full", repeats=cfg.repeats, seed=cfg.seed, shuffle=cfg.shuffle, limit=cfg.limit
    )
    qs = [q for q in load_questions(path, oc) if q.gold_class is not None]
    if not qs:
        raise ConfigError(f"{path}: no question has a gold answer; headroom needs gold")
    n = max(
        q.n for q in qs
    )  # a question with fewer traces keeps its last vote and cost beyond them
    budgets = sorted(set(cfg.budgets)) or default_budgets(n)
    if budgets[-1] > n:
        raise ConfigError(f"budgets: k = {budgets[-1]} exceeds the pool's {n} traces per question")
    R, Q = cfg.repeats, len(qs)
    orders = [orders_for(q, oc) for q in qs]
    ok = np.zeros((Q, R, n), bool)  # vote over the first m traces correct (m = index + 1)
    cost = np.zeros((Q, R, n))
    for a, q in enumerate(qs):
        for r, o in enumerate(orders[a]):
            ok[a, r, : q.n] = prefix_votes(q.labels, o, int(q.gold_class))
            cost[a, r, : q.n] = np.cumsum(q.tokens[o])
            ok[a, r, q.n :], cost[a, r, q.n :] = ok[a, r, q.n - 1], cost[a, r, q.n - 1]
    first_fix = np.where(ok.any(axis=2), ok.argmax(axis=2), -1)
    fix_cost = np.where(first_fix >= 0, np.take_along_axis(cost, np.maximum(first_fix, 0)[..., None], 2)[..., 0],
                        np.inf)  # fmt: skip
    # the ASC allocator: one run per repeat to the largest budget, read off at each
    asc = []
    for r in range(R):
        spent, hist = asc_allocation([q.tokens for q in qs], [q.labels for q in qs],
                                        [orders[a][r] for a in range(Q)], (budgets[-1] - 1) * Q)  # fmt: skip
        asc.append((spent, hist))
    rows = []
    for k in budgets:
        cons_ok, cons_tok = ok[:, :, k - 1], cost[:, :, k - 1]
        budget = float(cons_tok.mean())
        orc = oracle_allocation(cost[:, :, 0], ok[:, :, 0], fix_cost, budget)
        d = per_question(orc, cons_ok)
        asc_ok = np.zeros((Q, R))
        asc_tok = 0.0
        for r, (spent, hist) in enumerate(asc):
            drawn = hist[(k - 1) * Q]
            asc_ok[:, r] = ok[np.arange(Q), r, drawn - 1]
            asc_tok += spent[(k - 1) * Q] / Q / R
        rows.append({
            "k": k, "cons_k_accuracy": float(cons_ok.mean()), "tokens": budget,
            "oracle_accuracy": float(orc.mean()), "headroom": float(d.mean()),
            "headroom_ci95": paired_ci(d, cfg.n_boot), "questions_with_headroom": int((d > 1e-12).sum()),
            "asc_accuracy": float(asc_ok.mean()), "asc_tokens": asc_tok,
        })  # fmt: skip
    cons_n = ok[:, :, n - 1].mean()
    return {"pool": str(path), "questions": Q, "traces_per_question": n, "repeats": R,
            "cons_n_accuracy": float(cons_n), "cons_n_tokens": float(cost[:, :, n - 1].mean()),
            "min_detectable_questions": min_detectable(Q, cfg.n_boot), "rows": rows,
            "config": asdict(cfg)}  # fmt: skip


def _ci(ci) -> str:
    return f"[{100 * ci[0]:+.1f}, {100 * ci[1]:+.1f}]"


def headroom_markdown(res: dict) -> str:
    h = res["min_detectable_questions"]
    lines = [f"### {Path(res['pool']).name}",
             f"{res['questions']} questions × up to {res['traces_per_question']} traces, {res['repeats']} arrival orders; "
             f"cons@N {100 * res['cons_n_accuracy']:.1f}% at {res['cons_n_tokens']:,.0f} tokens/question. "
             f"A paired 95% interval over these {res['questions']} questions excludes 0 only for a method that gains "
             f"on at least {h if h is not None else 'more than all'} questions and loses on none.", "",
             "| k | tokens / question | cons@k | oracle allocator, same tokens | headroom (oracle − cons@k) [95% CI] "
             "| questions with headroom | ASC allocator (k × questions traces) | its tokens / question |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in res["rows"]:
        lines.append(f"| {r['k']} | {r['tokens']:,.0f} | {100 * r['cons_k_accuracy']:.1f}% | {100 * r['oracle_accuracy']:.1f}% "
                     f"| {100 * r['headroom']:+.1f} {_ci(r['headroom_ci95'])} | {r['questions_with_headroom']} "
                     f"| {100 * r['asc_accuracy']:.1f}% | {r['asc_tokens']:,.0f} |")  # fmt: skip
    return "\n".join(lines)


@dataclass
class HeadroomJob:
    """``deepprune headroom``: the most any vote-over-completed-traces method could gain over cons@k.

    Results (JSON and a plot per pool) are saved under ``out``."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    out: str = "runs/headroom"  # directory for the results JSON
    config: HeadroomConfig = field(default_factory=HeadroomConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        from deepprune.replay.figures import headroom_plot

        compute = lambda pool: headroom_pool(pool, self.config)  # noqa: E731
        return run_pools(self, check_pools(self.pool), "_headroom", compute, headroom_plot)
