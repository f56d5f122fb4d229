"""The one runner of replayed methods: every method, every question, every repeat, the same
seeded arrival orders, outcomes into a :class:`~deepprune.replay.ledger.Ledger`; and what every
replay command shares around it (loading a pool's questions, attaching a judge's score memo,
running one method's row, saving a result).

``deepprune prune`` and ``deepprune compare`` both run methods through :func:`run` (and DeepPrune's
tau sweeps through :func:`run_sweep`), so a method's numbers are the same in both tables.
"""

from __future__ import annotations

import dataclasses
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig
from deepprune.judges import Judge, judge_scores_indexed
from deepprune.questions import PreparedQuestion, prepare_pool
from deepprune.replay.batched import PairScores
from deepprune.replay.ledger import Ledger
from deepprune.replay.methods import DeepPrune, Method
from deepprune.truncate import PAPER_TRUNC, parse_spec


@dataclass
class OnlineConfig:
    """An online run. ``cluster`` defaults are the paper's (see ClusterConfig)."""

    trunc: str = PAPER_TRUNC  # prefix spec: tokens:K, words:K, frac:F, probe:J or full (DeepPrune §4: words:25)
    repeats: int = 4  # our choice
    seed: int = 0  # random seed (our choice: 0)
    limit: int = 0  # use only the pool's first N questions (0: all); a quick look at a big pool
    shuffle: bool = True  # seeded permutation per repeat (False: pool order, every repeat)
    tokenizer: str | None = (
        None  # local tokenizer path for token counts (default: the built-in counter)
    )
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
        if self.limit < 0:
            raise ConfigError(f"--limit must be >= 0, got {self.limit}")
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


@dataclass
class ReplayQuestion(PreparedQuestion):
    """A prepared question with the replay's memos (the question itself stays plain data)."""

    # judge id -> its PairScores (each pair scored once for every repeat and sweep)
    scores: dict[str, Any] = field(repr=False, default_factory=dict)
    # judge id -> what it reads per call (JudgeCost)
    costs: dict[str, Any] = field(repr=False, default_factory=dict)

    @classmethod
    def of(cls, q: PreparedQuestion) -> ReplayQuestion:
        return cls(**{f.name: getattr(q, f.name) for f in dataclasses.fields(PreparedQuestion)})


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


def judge_fn(judge: Judge, q: PreparedQuestion):
    def fn(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        labels = ((q.labels[i] >= 0) & (q.labels[i] == q.labels[j])).astype(int)
        return judge_scores_indexed(judge, q.prefixes, i, j, labels, q.question)

    return fn


def load_questions(
    path: str | os.PathLike, cfg: OnlineConfig, grading: str | None = None
) -> list[ReplayQuestion]:
    """Every question of a pool prepared once (:func:`deepprune.questions.prepare_pool`), only
    the held-out ones with ``cfg.holdout``; a pool without any answer, or a ``probe:J`` prefix on
    traces without probes, is an error."""
    out = [
        ReplayQuestion.of(q)
        for q in prepare_pool(path, cfg.trunc, cfg.tokenizer, grading, cfg.drop_textless)
    ]
    spec = parse_spec(cfg.trunc)
    for q in out:
        if spec.kind == "probe" and not q.readable.all():
            raise ConfigError(
                f"{path}: question {q.qid} has no answer probes; probe:J needs 'probes' and 'probe_every'"
            )
    if cfg.limit:
        out = out[: cfg.limit]
    if cfg.holdout:
        from deepprune.splits import split_questions

        _, test = split_questions([q.key for q in out], cfg.holdout, 0)
        out = [q for q in out if q.key in test]
    if not out or all((q.labels < 0).all() for q in out):
        raise ConfigError(f"{path}: no trace in the pool has an answer; nothing to vote on")
    return out


def attach_judge(questions: list[ReplayQuestion], judge: Judge) -> None:
    """Give every question a memo of this judge's scores (shared by all repeats/sweeps)."""
    for q in questions:
        if judge.id not in q.scores:
            q.scores[judge.id] = PairScores(q.n, judge_fn(judge, q))
            q.costs[judge.id] = judge.cost(q.prefixes, q.judge_tokens)


def run_method(
    method: Method, questions: list[ReplayQuestion], cfg: OnlineConfig, progress: bool = False,
    base: Ledger | None = None,
) -> dict:  # fmt: skip
    """One method's ``prune`` row (or why it was skipped: the pool lacks what it needs); with
    ``base`` (cons@N's ledger), how often it votes what cons@N votes (``agrees_with_consN``)."""
    reason = method.skip_reason(questions)
    if reason:
        return {"method": method.name, "skipped": reason}
    led = run(method, questions, cfg, progress)
    row = led.summary()
    if base is not None:
        row["agrees_with_consN"] = led.agreement(base)
    return row


def token_source(questions: list[PreparedQuestion], counter: str) -> str:
    """Which token counts a report used: the pool's shipped ``num_tokens``, a counter, or both."""
    shipped, total = sum(q.tokens_shipped for q in questions), sum(q.n for q in questions)
    if shipped == total:
        return "shipped num_tokens"
    if shipped == 0:
        return counter
    return f"mixed: {shipped} shipped num_tokens, {total - shipped} counted by {counter}"


def check_text(questions: list[PreparedQuestion], path, judges: list[Judge]) -> None:
    """A judge that reads prefix text refuses a pool without text (one line, before any work)."""
    missing = sum(q.text_missing for q in questions)
    readers = [j.id for j in judges if getattr(j, "reads", "text") == "text"]
    if missing and readers:
        total = sum(q.n for q in questions)
        raise ConfigError(f"{path}: {missing} of {total} traces have no text, and judge {readers[0]!r} reads the "
                          "prefixes' text (judges that need no text: oracle, noisy-oracle)")  # fmt: skip


def k_grid(n: int) -> list[int]:
    if n <= 64:
        return list(range(1, n + 1))
    grid = sorted({int(round(x)) for x in np.geomspace(1, n, 40)} | {n})
    return grid


# what does not decide a result: where it goes, how it is shown, how fast it is made, which pools
_NOT_SETTINGS = {"out", "markdown", "section", "json", "progress", "workers", "pool", "pools"}


def results_guard(job, paths, suffix: str) -> dict[str, tuple[str, str]]:
    """Before any work: ``{pool: (settings hash, result file stem)}``, refusing (one line) a result
    file that ``job.out`` already holds from a run with other settings (never silently overwritten;
    a result written before hashes were kept is replaced). Under the default ``--out``
    (``runs/COMMAND``) the stem carries the settings hash (``demo_pool-1a2b3c4d``): runs with other
    settings sit side by side, and the same settings rerun into the same file."""
    import dataclasses
    import json

    from deepprune.artifacts import config_hash, file_sha256

    def strip(d):
        return {
            k: strip(v) if isinstance(v, dict) else v
            for k, v in d.items()
            if k not in _NOT_SETTINGS
        }

    base = strip(json.loads(json.dumps(dataclasses.asdict(job), default=str)))
    default_out = {f.name: f.default for f in dataclasses.fields(job)}.get("out")
    out = {}
    for pool in paths:
        h = config_hash({**base, "pool_sha256": file_sha256(pool)})
        stem = Path(pool).name.removesuffix(".gz").removesuffix(".jsonl")
        stem += (f"-{h[:8]}" if job.out == default_out else "") + suffix
        f = Path(job.out) / f"{stem}.json"
        try:
            old = (
                json.loads(f.read_text(encoding="utf-8")).get("settings_hash")
                if f.is_file()
                else None
            )
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            old = None
        if old is not None and old != h:
            raise ConfigError(f"{f}: holds a result of this pool with other settings; use another --out "
                              "(or delete it): an earlier run is never overwritten silently")  # fmt: skip
        out[str(pool)] = (h, stem)
    return out


def has_gold(res: dict) -> bool:
    """Whether a prune / compare / headroom result has any accuracy to draw."""
    rows = [*res.get("rows", []), *res.get("points", []), res.get("cons@N") or {}]
    return any(r.get("accuracy") is not None or r.get("oracle_accuracy") is not None for r in rows)


def run_pools(job, paths: list, suffix: str, compute, plot, plot_suffix: str = "") -> list[dict]:
    """What every replay job does with its pools: ``job.out`` checked writable and its result files
    guarded (:func:`results_guard`) before any work, then per pool ``compute(pool)`` saved with its
    plot (:func:`save_result`); the results."""
    from deepprune.artifacts import writable_dir

    writable_dir(job.out)
    hashes = results_guard(job, paths, suffix)  # the inputs checked, before any work
    results = []
    for pool in paths:
        res = compute(pool)
        save_result(job.out, pool, res, suffix, plot, plot_suffix, hashes[str(pool)])
        results.append(res)
    return results


def save_result(
    out: str | os.PathLike,
    pool,
    res: dict,
    suffix: str,
    plot,
    plot_suffix: str,
    guard: tuple[str, str] | None = None,
) -> None:
    """``OUT/POOL{suffix}.json`` (or the stem :func:`results_guard` gave, ``guard`` = (settings
    hash, stem)) and its figure (path in ``res["plot"]``)."""
    import json

    from deepprune.artifacts import atomic_write, provenance

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    stem = (
        guard[1] if guard else Path(pool).name.removesuffix(".gz").removesuffix(".jsonl") + suffix
    )
    # a pool without gold answers has no accuracy to draw: no plot, said (never an empty one announced)
    res["plot"] = str(plot(res, out / f"{stem}{plot_suffix}.png")) if has_gold(res) else None
    res.setdefault("provenance", provenance([pool]))
    if guard is not None:
        res["settings_hash"] = guard[0]
    atomic_write(out / f"{stem}.json", json.dumps(res, indent=1, default=str))
