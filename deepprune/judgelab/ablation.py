"""The paper's ablation on real pools: prefix x loss x oversampling cross-encoder cells, plus baselines.

    deepprune crossencoder ablation --config Offline/recipes/ablation.yaml --json

Part of the judge lab. Every cell is a cross-encoder trained on the pools' train split (a
finished cell is reused: a rerun resumes) and evaluated beside the untrained baselines on
held-out pairs (the cells' own split) or, for a pool not trained on, on all its questions.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.judgelab.crossencoder_training import train_crossencoder
from deepprune.judgelab.grid import (
    PRIOR_ORACLE,
    GridConfig,
    agreement_rate_scores,
    eval_pairs,
    thin_roc,
    within_cell,
)
from deepprune.judgelab.train_configs import CrossEncoderConfig
from deepprune.judges import JudgePair, get_judge
from deepprune.judges.base import judge_scores_by_question
from deepprune.judges.crossencoder import MANIFEST
from deepprune.pools import check_pools
from deepprune.truncate import PAPER_TRUNC

# ---- the paper's ablation, on real pools ------------------------------------------------


# the paper's ablation: cross-entropy vs focal loss, no oversampling vs the minority class x2
ABLATION_LOSSES = ("ce", "focal")
ABLATION_OVERSAMPLES = (1.0, 2.0)


@dataclass
class AblationConfig:
    """Grid and sizes of the ablation. Every value is our choice (sized for 2 CPU cores)."""

    truncs: tuple[str, ...] = (
        PAPER_TRUNC,
        "tokens:500",
    )  # DeepPrune ablation: words:25 vs tokens:500
    losses: tuple[str, ...] = ABLATION_LOSSES  # losses of the grid (paper: ce vs focal)
    oversamples: tuple[float, ...] = (
        ABLATION_OVERSAMPLES  # minority oversampling factors of the grid (paper: x1 vs x2)
    )
    # "last" adds late-interaction cells (CrossEncoderConfig.joint)
    joints: tuple[str, ...] = ("all",)
    max_eval_pairs: int = 2000  # held-out pairs scored per (pool, prefix), seeded sample
    baselines: tuple[str, ...] = (
        "sbert",
        "lexical:jaccard",
        "lexical:tfidf",
    )  # untrained judges evaluated beside the cells
    bootstrap: int = 500  # resamples over questions for the 95% intervals
    # 40% held-out questions (more than pairs build's 20%: the intervals resample questions)
    base: CrossEncoderConfig = field(
        default_factory=lambda: CrossEncoderConfig(
            test_fraction=0.4, max_train_pairs=1000, max_length=128
        )
    )


# the paper's ablation variants: focal loss vs cross-entropy, minority oversampling x2 vs none
PAPER_ABLATION = {  # the same grid as AblationConfig's, paper's recipe first
    f"{loss} x{over:g}": {"loss": loss, "oversample": over}
    for loss in reversed(ABLATION_LOSSES)
    for over in reversed(ABLATION_OVERSAMPLES)
}


def cell_dir(out: Path, trunc: str, keep: str, loss: str, over: float, joint: str = "all") -> Path:
    late = "-late" if joint == "last" else ""
    return out / f"{trunc.replace(':', '')}-{keep}{late}-{loss}-x{over:g}"


def ablation(train_pools: Sequence[str], eval_pools: Sequence[str], out: str | os.PathLike,
             cfg: AblationConfig, progress: bool = True) -> list[dict]:  # fmt: skip
    """Train every cell (skipping finished ones: a rerun resumes), evaluate on held-out pairs.

    Rows: one per (eval pool, prefix, judge); the eval pools' held-out questions when a
    pool is also a training pool, all its questions otherwise (transfer).
    """
    from dataclasses import replace

    from deepprune.metrics import auroc_line, judge_metrics
    from deepprune.pairs import PairConfig

    out = Path(out)
    cells = {}
    for joint, trunc, loss, over in itertools.product(
        cfg.joints, cfg.truncs, cfg.losses, cfg.oversamples
    ):
        d = cell_dir(out, trunc, cfg.base.keep, loss, over, joint)
        c = replace(cfg.base, trunc=trunc, loss=loss, oversample=over, joint=joint)
        if not (d / MANIFEST).exists():
            if progress:
                print(f"training {d.name}", file=sys.stderr, flush=True)
            train_crossencoder(train_pools, d, c, progress=progress)
        cells[(joint, trunc, loss, over)] = d
    rows = []  # evaluation uses the cells' own split (same seed, same test fraction): no leakage
    train_names = {Path(p).name for p in train_pools}
    for pool in eval_pools:
        held_out = Path(pool).name in train_names
        for trunc in cfg.truncs:
            gc = GridConfig(pairs=PairConfig(test_fraction=cfg.base.test_fraction, seed=cfg.base.seed),
                            all_questions=not held_out)  # fmt: skip
            pairs, shows = eval_pairs(pool, trunc, gc)
            rng = random.Random(cfg.base.seed)
            idx = sorted(rng.sample(range(len(pairs)), min(cfg.max_eval_pairs, len(pairs))))
            pairs, shows = [pairs[i] for i in idx], [shows[i] for i in idx]
            jp = [JudgePair(p.prefix_a, p.prefix_b, p.question) for p in pairs]
            labels = [p.label for p in pairs]
            groups = [p.qid for p in pairs]
            judges = [(b, b, None) for b in cfg.baselines]
            judges += [(f"crossencoder{' late' if joint == 'last' else ''} {loss} x{over:g}", f"crossencoder:{d}", d.name)
                       for (joint, ctrunc, loss, over), d in cells.items() if ctrunc == trunc]  # fmt: skip
            judges.append((PRIOR_ORACLE, None, None))
            for name, spec, cell in judges:
                if spec is None:  # the reference row
                    s = agreement_rate_scores(labels, groups)
                else:
                    s = judge_scores_by_question(get_judge(spec), jp, groups, labels, progress)
                m = judge_metrics(s, labels, groups=groups, n_boot=cfg.bootstrap)
                rows.append({"pool": Path(pool).name, "eval": "held-out questions" if held_out else "all questions (transfer)",
                             "trunc": trunc, "judge": name, "questions": len(set(groups)), "pairs": len(pairs),
                             "answer_in_prefix_share": float(np.mean(shows)), "auroc": m["auroc"],
                             "tnr@0.2": m["tnr@0.2"], "ci95": m["ci95"], "cell": cell,
                             "within_question_auroc": m.get("within_question_auroc"),
                             "within_question_ci95": m.get("within_question_ci95"), "roc": thin_roc(m.get("roc"))})  # fmt: skip
                if progress:
                    print(auroc_line(pool, trunc, name, m), file=sys.stderr, flush=True)
    return rows


def ablation_table(rows: list[dict], cells_dir: str | os.PathLike | None = None) -> str:
    lines = ["| eval pool | questions | prefix | judge | pairs | answer in a prefix | AUROC [95% CI] "
             "| within-question AUROC [95% CI] | TNR@0.2 [95% CI] |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ci = r["ci95"] or {}

        def f(k, r=r, ci=ci):
            v = r[k]
            if v is None or np.isnan(v):
                return "n/a"
            lo, hi = ci.get(k, [np.nan, np.nan])
            return f"{v:.3f} [{lo:.3f}, {hi:.3f}]"

        lines.append(f"| {r['pool']} | {r['questions']} ({r['eval']}) | `{r['trunc']}` | {r['judge']} | {r['pairs']:,} | "
                     f"{100 * r['answer_in_prefix_share']:.1f}% | {f('auroc')} | {within_cell(r)} | {f('tnr@0.2')} |")  # fmt: skip
    if cells_dir is not None:
        lines += ["", "| cell | train pairs (after oversampling) | steps | loss first/last 20 steps | seconds |",
                  "|---|---|---|---|---|"]  # fmt: skip
        for man_path in sorted(Path(cells_dir).glob(f"*/{MANIFEST}")):
            m = json.loads(man_path.read_text())
            lines.append(f"| {man_path.parent.name} | {m['train_pairs']} | {m['steps']} | "
                         f"{m['loss_first20']:.4f} / {m['loss_last20']:.4f} | {m['seconds']:.0f} |")  # fmt: skip
    return "\n".join(lines)


def cells_manifest(cells_dir: str | os.PathLike, rows: list[dict] | None = None) -> dict:
    """Hashes and metrics of every trained cell under ``cells_dir`` (committed; checkpoints are not)."""
    out = {}
    for man_path in sorted(Path(cells_dir).glob(f"*/{MANIFEST}")):
        m = json.loads(man_path.read_text())
        name = man_path.parent.name
        out[name] = {"config": m["config"], "train_pairs": m["train_pairs"], "steps": m["steps"],
                     "seconds": m["seconds"], "sha256": m["sha256"],
                     "eval": [{k: r[k] for k in ("pool", "eval", "trunc", "pairs", "auroc", "tnr@0.2")}
                              for r in rows or [] if r.get("cell") == name]}  # fmt: skip
    return out


@dataclass
class AblationJob:
    """``deepprune crossencoder ablation``: the paper's ablation, prefix x loss x oversampling, plus baselines."""

    train_pool: list[str] = field(
        default_factory=list, metadata={"required": True}
    )  # trace pool to train the cells on
    # held-out questions if also a train pool, else all questions (transfer)
    eval_pool: list[str] = field(default_factory=list, metadata={"required": True})
    out: str = field(
        default="", metadata={"required": True}
    )  # one model directory per cell (finished cells are reused)
    manifest: str | None = None  # write the cells' hashes, configs and metrics here (JSON)
    progress: bool = True  # show a progress bar
    config: AblationConfig = field(default_factory=AblationConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        from deepprune.artifacts import atomic_write

        train_pools, eval_pools = check_pools(self.train_pool), check_pools(self.eval_pool)
        rows = ablation(train_pools, eval_pools, self.out, self.config, progress=self.progress)
        if self.manifest:
            atomic_write(self.manifest, json.dumps(cells_manifest(self.out, rows), indent=1) + "\n")
        return [{"rows": rows, "cells_dir": self.out}]
