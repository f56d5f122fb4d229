"""Cross-fitting: every question of a pool judged by a judge that never saw it.

    deepprune crossencoder crossfit --config Offline/recipes/crossfit.yaml --json
    deepprune features crossfit --config Offline/recipes/features-qwen3.yaml --json

Part of the judge lab. K folds over questions; a judge (a cross-encoder, or the pair-feature
judge) trained on K-1 folds scores the fold left out, so all questions count, and each
variant's in-fold AUROC shows how much it memorised.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import random
import sys
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from deepprune.artifacts import Output
from deepprune.errors import ConfigError, MissingInputError
from deepprune.judgelab.ablation import PAPER_ABLATION
from deepprune.judgelab.crossencoder_training import train_crossencoder
from deepprune.judgelab.feature_training import featurise, fit_weights
from deepprune.judgelab.grid import (
    PRIOR_ORACLE,
    agreement_rate_scores,
    questions_cell,
    thin_roc,
    within_cell,
)
from deepprune.judgelab.train_configs import CrossEncoderConfig, FeatureJudgeConfig
from deepprune.judges import get_judge
from deepprune.judges.crossencoder import MANIFEST, CrossEncoderJudge
from deepprune.judges.features import PrefixEncoder, forward
from deepprune.metrics import auroc_line, judge_metrics
from deepprune.pairs import pair_labels
from deepprune.pools import check_pools
from deepprune.questions import PreparedQuestion, labelled_questions
from deepprune.splits import question_folds

# ---- cross-fitted evaluation (every question scored by a judge that never saw it) -------


def all_pair_scores(judge, questions: list[PreparedQuestion]) -> np.ndarray:
    """Scores of every pair of every question (the ``itertools.combinations`` of its
    prefixes); questions with < 2 prefixes add none."""
    parts = [np.zeros(0)]
    for q in questions:
        if q.n < 2:
            continue
        i, j = np.triu_indices(q.n, 1)
        parts.append(np.asarray(judge.score_indexed(q.prefixes, i, j), dtype=float))
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
               "within_question_auroc": m.get("within_question_auroc"),
               "within_question_ci95": m.get("within_question_ci95"),
               "diff_vs_ref": None, "train_auroc": (train_auroc or {}).get(name), "roc": thin_roc(m.get("roc"))}  # fmt: skip
        if ref and name != ref:
            row["diff_vs_ref"] = auroc_diff_ci(s, scores[ref], y, groups, n_boot=n_boot)
        rows.append(row)
        if progress:
            print(auroc_line(pool, trunc, name, m), file=sys.stderr, flush=True)
    return rows


def crossfit_table(rows: list[dict], ref: str = "sbert") -> str:
    lines = [f"| pool | prefix | judge | questions | pairs | AUROC [95% CI] | within-question AUROC [95% CI] "
             f"| TNR@0.2 [95% CI] | AUROC - {ref} [95% CI] | in-fold AUROC |",
             "|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        ci = r["ci95"] or {}
        au, tn = ci.get("auroc", [np.nan] * 2), ci.get("tnr@0.2", [np.nan] * 2)
        d = r["diff_vs_ref"]
        fit = "—" if r.get("train_auroc") is None else f"{r['train_auroc']:.3f}"
        dtxt = f"{d['diff']:+.3f} [{d['ci95'][0]:+.3f}, {d['ci95'][1]:+.3f}]" if d else "—"
        lines.append(f"| {r['pool']} | `{r['trunc']}` | {r['judge']} | {questions_cell(r)} | {r['pairs']:,} | "
                     f"{r['auroc']:.3f} [{au[0]:.3f}, {au[1]:.3f}] | {within_cell(r)} | {r['tnr@0.2']:.3f} [{tn[0]:.3f}, {tn[1]:.3f}] | {dtxt} | {fit} |")  # fmt: skip
    return "\n".join(lines)


# ---- cross-fitting: every question of a pool judged by a cross-encoder that never saw it ----


def fold_is_finished(d: Path, cfg: CrossEncoderConfig, pools: Sequence[str]) -> bool:
    """A trained directory whose manifest matches this config and these pools."""
    try:
        man = json.loads((d / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    want = json.loads(json.dumps(asdict(cfg)))
    # a field added after the model was trained counts as its default (the old behaviour)
    have = {**json.loads(json.dumps(asdict(CrossEncoderConfig()))), **man.get("config", {})}
    return have == want and man.get("pools") == [str(p) for p in pools]


def cached_fold_scores(judge: CrossEncoderJudge, d: Path, questions: list[PreparedQuestion], per_question: int | None = None,
                   seed: int = 0) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """(scores, labels) of each question's pairs in ``itertools.combinations`` order (all of
    them, or ``per_question`` sampled), cached in ``d`` under a hash of the model's weights,
    the prefixes and the pairs."""

    rng = random.Random(seed)
    chosen = []
    for q in questions:
        ij = list(itertools.combinations(range(q.n), 2))
        if per_question is not None and len(ij) > per_question:
            ij = sorted(rng.sample(ij, per_question))
        chosen.append(ij)
    y = np.concatenate(
        [np.zeros(0, dtype=np.int64)]
        + [pair_labels(q.labels, ij) for q, ij in zip(questions, chosen, strict=True)]
    )
    # keyed by the model's weights too: a retrained fold is always rescored
    weights = json.loads((d / MANIFEST).read_text())["sha256"]
    key = hashlib.sha256(
        json.dumps([weights, [q.prefixes for q in questions], chosen]).encode()
    ).hexdigest()
    cache = d / f"scores-{key[:16]}.npy"
    if cache.exists():
        return np.load(cache), y
    parts = [np.zeros(0)]
    for q, ij in zip(questions, chosen, strict=True):
        if ij:
            a = np.array(ij, dtype=int)
            parts.append(np.asarray(judge.score_indexed(q.prefixes, a[:, 0], a[:, 1]), dtype=float))
    s = np.concatenate(parts)
    tmp = cache.with_suffix(".tmp.npy")
    np.save(tmp, s)
    os.replace(tmp, cache)
    return s, y


def crossfit_manifest(out: str | os.PathLike, rows: list[dict]) -> dict:
    """Hashes, configs and sizes of every fold model under ``out`` plus the rows' metrics
    (committed in place of the models, which are rebuilt by the command)."""
    models = {}
    for man_path in sorted(Path(out).glob(f"*/*/fold*/{MANIFEST}")):
        m = json.loads(man_path.read_text())
        models[str(man_path.parent.relative_to(out))] = {
            k: m.get(k)
            for k in ("config", "train_questions", "train_pairs", "steps", "seconds", "sha256")
        }
    metrics = [{k: r[k] for k in ("pool", "trunc", "judge", "questions", "pairs", "auroc", "tnr@0.2", "ci95",
                                  "diff_vs_ref", "train_auroc")} for r in rows]  # fmt: skip
    return {"models": models, "metrics": metrics}


# ---- cross-fitting: every question held out once ----------------------------------------


@dataclass
class CrossEncoderFolds:
    """Cross-fitting a cross-encoder: fold models under ``out/POOL/TRUNC-VARIANT/foldF`` (reused
    when finished), held-out scores cached beside each model."""

    cfg: CrossEncoderConfig
    out: str | os.PathLike
    infold_pairs: int = 1000  # training-question pairs each fold's judge scores (in-fold AUROC)

    def questions(self, pool: str, trunc: str, progress: bool) -> list[PreparedQuestion]:
        return labelled_questions([pool], trunc)

    def baseline(self, name: str):
        return get_judge(name)

    def row_name(self, variant: str) -> str:
        late = (" late" if self.cfg.joint == "last" else "") + (
            " frozen" if self.cfg.freeze_lower else ""
        )
        return f"crossencoder{late} {variant}"

    def fold(self, pool, trunc, variant, over, f, folds, train, held, progress):
        from deepprune.metrics import auroc

        vcfg = replace(self.cfg, trunc=trunc, fold=f"{f}/{folds}", **over)
        late = self.row_name(variant).removeprefix("crossencoder").removesuffix(f" {variant}")
        name = f"{trunc.replace(':', '')}{late.replace(' ', '-')}-{variant.replace(' ', '')}"
        d = (
            Path(self.out)
            / Path(pool).name.removesuffix(".gz").removesuffix(".jsonl")
            / name
            / f"fold{f}"
        )
        if not fold_is_finished(d, vcfg, [pool]):
            if progress:
                print(
                    f"training {d} (fold {f + 1}/{folds}, {variant})", file=sys.stderr, flush=True
                )
            train_crossencoder([pool], d, vcfg, progress=progress)
        judge = CrossEncoderJudge(str(d))
        scored = [q for q in held if q.n >= 2]
        sf, _ = cached_fold_scores(judge, d, scored)
        seen = [q for q in train if q.n >= 2]
        per_question = max(1, self.infold_pairs // max(1, len(seen)))
        st, yt = cached_fold_scores(judge, d, seen, per_question, self.cfg.seed)
        return np.split(sf, np.cumsum([len(q.pair_labels()) for q in held])[:-1]), auroc(st, yt)


@dataclass
class FeatureFolds:
    """Cross-fitting the pair-feature judge: features computed once per question (kept in
    ``cache``), one small model fitted per fold and variant in memory."""

    cfg: FeatureJudgeConfig
    cache: str | os.PathLike | None = None

    def questions(self, pool: str, trunc: str, progress: bool) -> list[PreparedQuestion]:
        self.enc = PrefixEncoder(self.cfg.encoder, self.cfg.tail_words)
        questions = labelled_questions([pool], trunc)
        self.x = dict(
            zip([q.key for q in questions], featurise(questions, self.enc, progress, self.cache))
        )
        return questions

    def baseline(self, name: str):  # the SBERT baseline reuses the loaded encoder
        return self.enc.emb if name == "sbert" and self.cfg.encoder is None else get_judge(name)

    def row_name(self, variant: str) -> str:
        return f"trained {variant}"

    def fold(self, pool, trunc, variant, over, f, folds, train, held, progress):
        from deepprune.metrics import auroc

        train = [q for q in train if self.x[q.key] is not None]
        xf = np.concatenate([self.x[q.key] for q in train])
        yf = np.concatenate([q.pair_labels() for q in train])
        w = fit_weights(xf, yf, replace(self.cfg, trunc=trunc, **over))
        held_scores = [
            np.zeros(0) if self.x[q.key] is None else forward(w, self.x[q.key]) for q in held
        ]
        return held_scores, auroc(forward(w, xf), yf)


def crossfit(pool: str, trunc: str, trainer: CrossEncoderFolds | FeatureFolds, folds: int = 5,
             variants: dict[str, dict] | None = None,
             baselines: Sequence[str] = ("sbert", "lexical:jaccard", "lexical:tfidf"),
             n_boot: int = 1000, progress: bool = True) -> list[dict]:  # fmt: skip
    """K-fold over questions: a judge trained on K-1 folds scores the fold left out.

    Every question of the pool is scored by a judge that never saw it, so all questions count
    (not only a 20-40% split): narrower question-level intervals, and the paired bootstrap of
    the AUROC difference to the first baseline (SBERT) uses the very same pairs. Rows carry
    AUROC, TNR@0.2, their question-bootstrap CIs and each variant's in-fold (training) AUROC:
    far above the held-out one means the judge memorised questions.

    Args:
        trainer: :class:`CrossEncoderFolds` or :class:`FeatureFolds` (what is trained per fold).
        variants: name -> config overrides (e.g. :data:`PAPER_ABLATION`); default: the config
            as given, named by its loss and oversampling.
    """
    if folds < 2:
        raise ConfigError(f"folds must be >= 2, got {folds}")
    if not Path(pool).is_file():
        raise MissingInputError(f"{pool}: no such pool file")
    questions = trainer.questions(pool, trunc, progress)
    if len(questions) < folds:
        raise ConfigError(f"{pool}: {len(questions)} questions, fewer than {folds} folds")
    fold_of = question_folds([q.key for q in questions], folds, trainer.cfg.seed)
    ys = [q.pair_labels() for q in questions]
    y = np.concatenate([np.zeros(0, np.int64), *ys])
    groups = np.array([q.key for q, yq in zip(questions, ys, strict=True) for _ in yq])
    offsets = np.cumsum([0] + [len(yq) for yq in ys])
    scores = {name: all_pair_scores(trainer.baseline(name), questions) for name in baselines}
    fit_auroc = {}
    cfg = trainer.cfg
    for variant, over in (variants or {f"{cfg.loss} x{cfg.oversample:g}": {}}).items():
        s, fit = np.full(len(y), np.nan), []
        for f in range(folds):
            held = [n for n, q in enumerate(questions) if fold_of[q.key] == f]
            train = [q for q in questions if fold_of[q.key] != f]
            held_scores, auc = trainer.fold(pool, trunc, variant, over, f, folds, train,
                                            [questions[n] for n in held], progress)  # fmt: skip
            for n, hs in zip(held, held_scores, strict=True):
                s[offsets[n] : offsets[n + 1]] = hs
            fit.append(auc)
        scores[trainer.row_name(variant)] = s
        fit_auroc[trainer.row_name(variant)] = float(np.nanmean(fit))
    # not a judge: each pair scored by its question's true agreement rate; its pooled AUROC is what
    # memorising the training questions' agreement rates is worth (within a question it is 0.5)
    scores[PRIOR_ORACLE] = agreement_rate_scores(y, groups)
    rows = crossfit_rows(pool, trunc, len(questions), scores, y, groups, baselines[0] if baselines else None,
                         n_boot, fit_auroc, progress)  # fmt: skip
    return [{**r, "folds": folds} for r in rows]


@dataclass
class CrossfitJob:
    """What ``features crossfit`` and ``crossencoder crossfit`` share."""

    pool: list[str] = field(
        default_factory=list, metadata={"required": True}
    )  # trace pool (each cross-fitted alone)
    trunc: list[str] = field(
        default_factory=list
    )  # prefix spec (default: the config's, words:25 as the paper)
    folds: int = 5  # our choice: folds over questions
    ablation: bool = False  # the paper's four {ce, focal} x {x1, x2} variants
    bootstrap: int = 1000  # resamples over questions
    progress: bool = True  # show a progress bar
    output: Output = field(default_factory=Output)

    def crossfit(self, trainer, extra: dict | None = None) -> list[dict]:
        """Rows of every pool and prefix: the config's variant, or the paper's four, plus ``extra``."""
        cfg = trainer.cfg
        variants = (
            dict(PAPER_ABLATION) if self.ablation else {f"{cfg.loss} x{cfg.oversample:g}": {}}
        )
        paths = check_pools(self.pool)
        kw = {
            "folds": self.folds,
            "variants": {**variants, **(extra or {})},
            "n_boot": self.bootstrap,
            "progress": self.progress,
        }
        return [
            r
            for pool in paths
            for trunc in self.trunc or [cfg.trunc]
            for r in crossfit(pool, trunc, trainer, **kw)
        ]


@dataclass
class FeatureCrossfitJob(CrossfitJob):
    """``deepprune features crossfit``: k-fold over questions, every question judged by a judge that never saw it."""

    cache: str | None = None  # keep per-question features here (a rerun or killed run reuses them)
    scalars_too: bool = False  # also a focal x2 judge on the 6 scalar features only
    config: FeatureJudgeConfig = field(default_factory=FeatureJudgeConfig)

    def run(self) -> list[list[dict]]:
        extra = {"focal x2, scalars only": {"vectors": False}} if self.scalars_too else {}
        return [self.crossfit(FeatureFolds(self.config, self.cache), extra)]


@dataclass
class CrossEncoderCrossfitJob(CrossfitJob):
    """``deepprune crossencoder crossfit``: k-fold over questions, every question judged by a judge that never saw it."""

    # models go to OUT/POOL/TRUNC-VARIANT/foldF (finished ones are reused)
    out: str = field(default="", metadata={"required": True})
    # write every fold model's hashes and config, and the metrics, here (JSON)
    manifest: str | None = None
    config: CrossEncoderConfig = field(default_factory=CrossEncoderConfig)

    def run(self) -> list[list[dict]]:
        from deepprune.artifacts import atomic_write

        rows = self.crossfit(CrossEncoderFolds(self.config, self.out))
        if self.manifest:
            man = crossfit_manifest(self.out, rows)
            atomic_write(self.manifest, json.dumps(man, indent=1, default=float) + "\n")
        return [rows]
