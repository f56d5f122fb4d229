"""Offline judge baselines over a grid: pools x truncations x judges, on held-out questions.

    deepprune judge grid --pool ../shared/data/pools/qwen3-8b-mmlu-think-n50.jsonl \
        --trunc words:25 --trunc tokens:500 --judge sbert --judge lexical:jaccard --markdown runs/grid.md

For each (pool, truncation) the pairs are built exactly as ``deepprune pairs build``
would (same :class:`~deepprune.pairs.PairConfig`, same question-level split) and every
judge is scored on the test questions' pairs. Each row reports AUROC and TNR@0.2 with
bootstrap 95% intervals over questions, and the share of pairs in which at least one
prefix already states a final answer (:func:`deepprune.answers.has_final_answer`): where
that share is high, a judge can read the answer instead of predicting it.
"""

from __future__ import annotations

import itertools
import os
import random
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from deepprune.answers import has_final_answer
from deepprune.judges import JudgePair, get_judge
from deepprune.metrics import judge_metrics
from deepprune.pairs import PairConfig, question_pairs, split_questions
from deepprune.pools import read_pool


@dataclass
class GridConfig:
    pairs: PairConfig = None  # type: ignore[assignment]  # default: PairConfig() (20% test questions)
    bootstrap: int = 1000  # our choice: resamples over questions for the 95% intervals
    all_questions: bool = False  # evaluate on every question instead of the test split

    def __post_init__(self):
        if self.pairs is None:
            self.pairs = PairConfig()


def eval_pairs(pool: str | os.PathLike, trunc: str, cfg: GridConfig) -> tuple[list, list[bool]]:
    """Held-out pairs of one pool at one truncation, and whether each shows an answer already."""
    pc = replace(cfg.pairs, trunc=trunc)
    rng = random.Random(pc.seed)
    source = Path(pool).name.removesuffix(".gz").removesuffix(".jsonl")
    questions = read_pool(pool)
    by_q = {f"{source}/{q.id}": (q, question_pairs(q, source, pc, rng)) for q in questions}
    _, test = split_questions(list(by_q), pc.test_fraction, pc.seed)
    keys = sorted(by_q) if cfg.all_questions else sorted(test)
    pairs, shows = [], []
    for k in keys:
        q, ps = by_q[k]
        for p in ps:
            pairs.append(p)
            shows.append(
                has_final_answer(p.prefix_a, q.answer_type)
                or has_final_answer(p.prefix_b, q.answer_type)
            )
    if not pairs:
        raise ValueError(f"{pool}: no labelled pairs in the evaluation questions")
    return pairs, shows


def grid(
    pools: list[str], truncs: list[str], judges: list[str], cfg: GridConfig | None = None
) -> list[dict]:
    """One row per (pool, truncation, judge)."""
    cfg = cfg or GridConfig()
    built = {spec: get_judge(spec) for spec in judges}  # load every model once
    rows = []
    for pool in pools:
        for trunc in truncs:
            pairs, shows = eval_pairs(pool, trunc, cfg)
            jp = [JudgePair(p.prefix_a, p.prefix_b, p.question, p.label) for p in pairs]
            labels = [p.label for p in pairs]
            groups = [f"{p.source}/{p.qid}" for p in pairs]
            for spec, judge in built.items():
                judge.prepare(list(dict.fromkeys(t for p in jp for t in (p.prefix_a, p.prefix_b))))
                scores = np.asarray(judge.score(jp), dtype=float)
                m = judge_metrics(scores, labels, groups=groups, n_boot=cfg.bootstrap)
                rows.append({
                    "pool": Path(pool).name, "trunc": trunc, "judge": spec, "questions": len(set(groups)),
                    "pairs": len(pairs), "same_answer_share": float(np.mean(labels)),
                    "answer_in_prefix_share": float(np.mean(shows)),
                    "auroc": m["auroc"], "tnr@0.2": m["tnr@0.2"], "ci95": m.get("ci95"),
                })  # fmt: skip
    return rows


def grid_table(rows: list[dict]) -> str:
    """Markdown table of :func:`grid` rows."""
    out = ["| pool | prefix | judge | questions | pairs | same-answer share | answer already in a prefix | AUROC [95% CI] | TNR@0.2 [95% CI] |",
           "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ci = r.get("ci95") or {}

        def fmt(key, r=r, ci=ci):
            v = r[key]
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return "n/a"
            lo_hi = ci.get(key)
            return f"{v:.3f} [{lo_hi[0]:.3f}, {lo_hi[1]:.3f}]" if lo_hi else f"{v:.3f}"

        out.append(f"| {r['pool']} | `{r['trunc']}` | {r['judge']} | {r['questions']} | {r['pairs']:,} | "
                   f"{100 * r['same_answer_share']:.1f}% | {100 * r['answer_in_prefix_share']:.1f}% | "
                   f"{fmt('auroc')} | {fmt('tnr@0.2')} |")  # fmt: skip
    return "\n".join(out)


# ---- cross-fitted evaluation (every question scored by a judge that never saw it) -------


def all_pair_scores(judge, questions: list[dict]) -> np.ndarray:
    """Scores of every pair of every question (``labelled_questions`` order: the
    ``itertools.combinations`` of its prefixes); questions with < 2 prefixes add none."""
    parts = [np.zeros(0)]
    for q in questions:
        if len(q["texts"]) < 2:
            continue
        ij = np.array(list(itertools.combinations(range(len(q["texts"])), 2)), dtype=int)
        judge.prepare(q["texts"])
        parts.append(np.asarray(judge.score_indexed(q["texts"], ij[:, 0], ij[:, 1]), dtype=float))
    return np.concatenate(parts)


def crossfit_rows(pool: str, trunc: str, n_questions: int, scores: dict[str, np.ndarray], y, groups,
                  ref: str | None, n_boot: int, train_auroc: dict | None = None, progress: bool = True) -> list[dict]:  # fmt: skip
    """One row per judge: AUROC, TNR@0.2, question-bootstrap CIs, and a paired bootstrap of
    the AUROC difference against ``ref`` on the same pairs."""
    from deepprune.metrics import auroc_diff_ci

    rows = []
    for name, s in scores.items():
        m = judge_metrics(s, y, groups=groups, n_boot=n_boot)
        row = {"pool": Path(pool).name, "trunc": trunc, "judge": name, "questions": n_questions,
               "pairs": int(len(y)), "auroc": m["auroc"], "tnr@0.2": m["tnr@0.2"], "ci95": m["ci95"],
               "diff_vs_ref": None, "train_auroc": (train_auroc or {}).get(name)}  # fmt: skip
        if ref and name != ref:
            row["diff_vs_ref"] = auroc_diff_ci(s, scores[ref], y, groups, n_boot=n_boot)
        rows.append(row)
        if progress:
            print(
                f"  {Path(pool).name} {trunc} {name}: AUROC {m['auroc']:.3f} TNR@0.2 {m['tnr@0.2']:.3f}",
                flush=True,
            )
    return rows


def crossfit_table(rows: list[dict], ref: str = "sbert") -> str:
    lines = [f"| pool | prefix | judge | questions | pairs | AUROC [95% CI] | TNR@0.2 [95% CI] | AUROC - {ref} [95% CI] | in-fold AUROC |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ci = r["ci95"] or {}
        au, tn = ci.get("auroc", [np.nan] * 2), ci.get("tnr@0.2", [np.nan] * 2)
        d = r["diff_vs_ref"]
        fit = "—" if r.get("train_auroc") is None else f"{r['train_auroc']:.3f}"
        dtxt = f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d else "—"
        lines.append(f"| {r['pool']} | `{r['trunc']}` | {r['judge']} | {r['questions']} | {r['pairs']:,} | "
                     f"{r['auroc']:.3f} [{au[0]:.3f}, {au[1]:.3f}] | {r['tnr@0.2']:.3f} [{tn[0]:.3f}, {tn[1]:.3f}] | {dtxt} | {fit} |")  # fmt: skip
    return "\n".join(lines)
