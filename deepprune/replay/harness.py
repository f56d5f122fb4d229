"""The one runner of replayed methods: every method, every question, every repeat, the same
seeded arrival orders, outcomes into a :class:`~deepprune.replay.ledger.Ledger`.

``deepprune prune`` and ``deepprune compare`` both run methods through :func:`run` (and DeepPrune's
tau sweeps through :func:`run_sweep`), so a method's numbers are the same in both tables.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.questions import PreparedQuestion
from deepprune.replay.ledger import Ledger
from deepprune.replay.methods import DeepPrune, Method
from deepprune.truncate import PAPER_TRUNC, parse_spec


@dataclass
class OnlineConfig:
    """An online run. ``cluster`` defaults are the paper's (see ClusterConfig)."""

    trunc: str = PAPER_TRUNC
    repeats: int = 4  # our choice
    seed: int = 0
    shuffle: bool = True  # seeded permutation per repeat (False: pool order, every repeat)
    tokenizer: str | None = None
    workers: int = 1  # our choice: forked processes over questions (cheap judges; see run_method)
    # keep only the held-out questions of the pair builder's split with this test fraction
    # (seed 0), e.g. 0.4 for judges trained by `make ablation-real`: no question seen in training
    holdout: float | None = None
    # drop traces without text (counted on stderr) instead of refusing a judge that reads text
    drop_textless: bool = False
    cluster: ClusterConfig = field(default_factory=ClusterConfig)
    # net reduction: a judge's input tokens cost judge_params / reasoner_params reasoner tokens each
    reasoner_params: float = 8e9  # our choice: Qwen3-8B, the model of most shared pools
    judge_params: float = 4e9  # paper: a Qwen3-4B judge; used where a judge does not know its size

    def __post_init__(self):
        parse_spec(self.trunc)
        if self.repeats < 1:
            raise ConfigError(f"repeats must be >= 1, got {self.repeats}")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.holdout is not None and not 0 < self.holdout < 1:
            raise ConfigError(f"holdout must be in (0, 1), got {self.holdout}")
        if not (self.reasoner_params > 0 and self.judge_params >= 0):
            raise ConfigError("reasoner_params must be > 0 and judge_params >= 0")

    def judge_ratio(self, judge) -> float:
        """Reasoner tokens one judge input token costs (parameters of judge over reasoner)."""
        params = (
            judge.params if judge is not None and judge.params is not None else self.judge_params
        )
        return params / self.reasoner_params


def _order(q: PreparedQuestion, cfg: OnlineConfig, r: int) -> list[int]:
    order = list(range(q.n))
    if cfg.shuffle:
        random.Random(f"order:{cfg.seed}:{r}:{q.qid}").shuffle(order)
    return order


def orders_for(q: PreparedQuestion, cfg: OnlineConfig) -> list[list[int]]:
    """The arrival order of each repeat (a seeded permutation per question and repeat)."""
    return [_order(q, cfg, r) for r in range(cfg.repeats)]


def run(
    method: Method, questions: list[PreparedQuestion], cfg: OnlineConfig, progress: bool = False
) -> Ledger:
    """One method over all questions and repeats (``cfg.workers`` forked processes when > 1;
    ``progress``: a bar over questions on stderr)."""
    per_q = _map_questions(
        lambda q: method.run_repeats(q, orders_for(q, cfg), cfg.seed),
        questions,
        cfg,
        method.name if progress else None,
    )
    return Ledger.of(method.name, questions, per_q)


def run_sweep(
    method: DeepPrune,
    taus: list[float],
    questions: list[PreparedQuestion],
    cfg: OnlineConfig,
    progress: bool = False,
) -> list[Ledger]:
    """DeepPrune over a tau sweep: every tau and repeat of a question in one batch.

    Each ledger equals ``run`` with ``tau`` set (same orders, same member samples).
    """
    per_q = _map_questions(
        lambda q: method.sweep(q, orders_for(q, cfg), cfg.seed, taus),
        questions,
        cfg,
        f"{method.name} ({len(taus)} tau)" if progress else None,
    )
    return [
        Ledger.of(f"{method.name} tau={tau:g}", questions, [o[k] for o in per_q])
        for k, tau in enumerate(taus)
    ]


_WORK: tuple = ()  # (fn, questions) seen by forked workers


def _work(k: int):
    fn, questions = _WORK
    q = questions[k]
    before = {jid: m.calls for jid, m in q.scores.items()}
    out = fn(q)
    memos = {
        jid: (m.mat, m.calls - before[jid]) for jid, m in q.scores.items() if m.calls != before[jid]
    }
    return out, memos


def _map_questions(
    fn, questions: list[PreparedQuestion], cfg: OnlineConfig, desc: str | None = None
) -> list:
    """``[fn(q) for q in questions]``, in ``cfg.workers`` forked processes when > 1; with
    ``desc``, a progress bar (with ETA) over the questions.

    Workers send back their new judge scores, which are merged into each question's memo,
    so later runs still never score a pair twice.
    """
    if cfg.workers <= 1 or len(questions) < 2:
        from tqdm import tqdm

        return [
            fn(q)
            for q in tqdm(questions, desc=desc, unit="question", leave=False, disable=desc is None)
        ]
    import multiprocessing as mp

    global _WORK
    _WORK = (fn, questions)
    try:
        with mp.get_context("fork").Pool(min(cfg.workers, len(questions))) as pool:
            results = pool.map(_work, range(len(questions)), chunksize=1)
    finally:
        _WORK = ()
    for q, (_, memos) in zip(questions, results, strict=True):
        for jid, (mat, new_calls) in memos.items():
            q.scores[jid].mat[:] = mat
            q.scores[jid].calls += new_calls
    return [out for out, _ in results]
