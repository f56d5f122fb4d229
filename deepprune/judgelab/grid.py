"""Judge evaluation over a grid: pools x truncations x judges, on held-out questions.

    deepprune judge grid --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl \
        --trunc words:25 --trunc tokens:500 --judge sbert --judge lexical:jaccard --markdown runs/grid.md

Part of the judge lab (training and evaluating judges; :mod:`deepprune.judges` only scores).
For each (pool, truncation) the pairs are built exactly as ``deepprune pairs build``
would (same :class:`~deepprune.pairs.PairConfig`, same question-level split) and every
judge is scored on the test questions' pairs. Each row reports AUROC and TNR@0.2 with
bootstrap 95% intervals over questions, and the share of pairs in which at least one
prefix already states a final answer (:func:`deepprune.answers.has_final_answer`): where
that share is high, a judge can read the answer instead of predicting it.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from deepprune.answers import has_final_answer
from deepprune.artifacts import Output
from deepprune.errors import ConfigError
from deepprune.judges import JudgePair, get_judge
from deepprune.judges.base import judge_scores_by_question
from deepprune.metrics import judge_metrics
from deepprune.pairs import PairConfig, question_pairs
from deepprune.pools import check_pools
from deepprune.questions import prepare_pool
from deepprune.splits import split_questions


@dataclass
class GridConfig:
    pairs: PairConfig = None  # type: ignore[assignment]  # default: PairConfig() (20% test questions)
    bootstrap: int = 1000  # our choice: resamples over questions for the 95% intervals
    all_questions: bool = False  # evaluate on every question instead of the test split

    def __post_init__(self):
        if self.pairs is None:
            self.pairs = PairConfig()


GRID_EXCLUDE = ("trunc", "oversample", "both_orders", "include_question")  # the grid sets these


@dataclass
class GridJob:
    """``deepprune judge grid``: baselines over pools x truncations x judges on held-out questions."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    trunc: list[str] = field(default_factory=list, metadata={"required": True})  # prefix spec
    judge: list[str] = field(default_factory=list, metadata={"required": True})  # judge spec
    progress: bool = True  # a bar per judge over the questions it scores, on stderr
    config: GridConfig = field(default_factory=GridConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[list[dict]]:
        return [grid(check_pools(self.pool), self.trunc, self.judge, self.config, self.progress)]


def eval_pairs(pool: str | os.PathLike, trunc: str, cfg: GridConfig) -> tuple[list, list[bool]]:
    """Held-out pairs of one pool at one truncation, and whether each shows an answer already."""
    pc = replace(cfg.pairs, trunc=trunc)
    rng = random.Random(pc.seed)
    questions = prepare_pool(pool, trunc, pc.tokenizer)
    by_q = {q.key: question_pairs(q, pc, rng) for q in questions}
    answer_type = {q.key: q.answer_type for q in questions}
    _, test = split_questions(list(by_q), pc.test_fraction, pc.seed)
    keys = sorted(by_q) if cfg.all_questions else sorted(test)
    pairs, shows = [], []
    for k in keys:
        for p in by_q[k]:
            pairs.append(p)
            shows.append(
                has_final_answer(p.prefix_a, answer_type[k])
                or has_final_answer(p.prefix_b, answer_type[k])
            )
    if not pairs:
        raise ConfigError(f"{pool}: no labelled pairs in the evaluation questions")
    return pairs, shows


def grid(
    pools: list[str],
    truncs: list[str],
    judges: list[str],
    cfg: GridConfig | None = None,
    progress: bool = False,
) -> list[dict]:
    """One row per (pool, truncation, judge)."""
    cfg = cfg or GridConfig()
    built = {spec: get_judge(spec) for spec in judges}  # load every model once
    rows = []
    for pool in pools:
        for trunc in truncs:
            pairs, shows = eval_pairs(pool, trunc, cfg)
            jp = [JudgePair(p.prefix_a, p.prefix_b, p.question) for p in pairs]
            labels = [p.label for p in pairs]
            groups = [f"{p.source}/{p.qid}" for p in pairs]
            scored = {spec: None for spec in built} | {
                PRIOR_ORACLE: agreement_rate_scores(labels, groups)
            }
            for spec in scored:
                if spec in built:
                    scored[spec] = judge_scores_by_question(
                        built[spec], jp, groups, labels, progress
                    )
                m = judge_metrics(scored[spec], labels, groups=groups, n_boot=cfg.bootstrap)
                rows.append({
                    "pool": Path(pool).name, "trunc": trunc, "judge": spec, "questions": len(set(groups)),
                    "pairs": len(pairs), "same_answer_share": float(np.mean(labels)),
                    "answer_in_prefix_share": float(np.mean(shows)),
                    "auroc": m["auroc"], "tnr@0.2": m["tnr@0.2"], "ci95": m.get("ci95"),
                    "within_question_auroc": m.get("within_question_auroc"),
                    "within_question_ci95": m.get("within_question_ci95"),
                    "roc": thin_roc(m.get("roc")),
                })  # fmt: skip
    return rows


PRIOR_ORACLE = "question agreement rate (oracle)"


def agreement_rate_scores(labels, groups) -> np.ndarray:
    """The reference "judge": each pair scored by its own question's share of agreeing pairs.
    It knows which questions agree more and tells no two traces of a question apart: its pooled
    AUROC is what memorising questions is worth; its within-question AUROC is 0.5."""
    y, g = np.asarray(labels, dtype=float), np.asarray(groups)
    rate = {k: y[g == k].mean() for k in np.unique(g)}
    return np.array([rate[k] for k in g])


def thin_roc(roc: dict | None, n: int = 200) -> dict | None:
    """At most ``n`` points of a ROC curve (for result JSON and figures)."""
    if not roc or len(roc["fpr"]) <= n:
        return roc
    keep = np.unique(np.linspace(0, len(roc["fpr"]) - 1, n).round().astype(int))
    return {k: [v[i] for i in keep] for k, v in roc.items()}


def within_cell(r: dict) -> str:
    w, ci = r.get("within_question_auroc"), r.get("within_question_ci95")
    if w is None or (isinstance(w, float) and np.isnan(w)):
        return "n/a"
    return f"{w:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{w:.3f}"


def questions_cell(r: dict) -> str:
    return f"{r['questions']} ({r['folds']} folds)" if r.get("folds") else str(r["questions"])


def grid_table(rows: list[dict]) -> str:
    """Markdown table of :func:`grid` rows."""
    out = ["| pool | prefix | judge | questions | pairs | same-answer share | answer already in a prefix | AUROC [95% CI] "
           "| within-question AUROC [95% CI] | TNR@0.2 [95% CI] |",
           "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ci = r.get("ci95") or {}

        def fmt(key, r=r, ci=ci):
            v = r[key]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return "n/a"
            lo_hi = ci.get(key)
            return f"{v:.3f} [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else f"{v:.3f}"

        out.append(f"| {r['pool']} | `{r['trunc']}` | {r['judge']} | {questions_cell(r)} | {r['pairs']:,} | "
                   f"{100 * r['same_answer_share']:.1f}% | {100 * r['answer_in_prefix_share']:.1f}% | "
                   f"{fmt('auroc')} | {within_cell(r)} | {fmt('tnr@0.2')} |")  # fmt: skip
    return "\n".join(out)
