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

from deepprune.answers import has_final_answer
from deepprune.artifacts import Output
from deepprune.errors import ConfigError, MissingInputError
from deepprune.judges import JudgePair, get_judge
from deepprune.judges.base import judge_scores_by_question
from deepprune.judges.crossencoder import (
    MANIFEST,
    CrossEncoderConfig,
    CrossEncoderJudge,
    train_crossencoder,
)
from deepprune.judges.features import (
    FeatureJudgeConfig,
    PrefixEncoder,
    featurise,
    fit_weights,
    forward,
    train_feature_judge,
)
from deepprune.metrics import judge_metrics
from deepprune.pairs import (
    PairConfig,
    pair_labels,
    question_pairs,
)
from deepprune.pools import check_pools, read_pool
from deepprune.questions import PreparedQuestion, labelled_questions
from deepprune.splits import question_folds, split_questions
from deepprune.truncate import PAPER_TRUNC


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
                    "roc": _thin(m.get("roc")),
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


def _thin(roc: dict | None, n: int = 200) -> dict | None:
    """At most ``n`` points of a ROC curve (for result JSON and figures)."""
    if not roc or len(roc["fpr"]) <= n:
        return roc
    keep = np.unique(np.linspace(0, len(roc["fpr"]) - 1, n).round().astype(int))
    return {k: [v[i] for i in keep] for k, v in roc.items()}


def _within(r: dict) -> str:
    w, ci = r.get("within_question_auroc"), r.get("within_question_ci95")
    if w is None or (isinstance(w, float) and np.isnan(w)):
        return "n/a"
    return f"{w:.3f} [{ci[0]:.3f}, {ci[1]:.3f}]" if ci else f"{w:.3f}"


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

        out.append(f"| {r['pool']} | `{r['trunc']}` | {r['judge']} | {_questions(r)} | {r['pairs']:,} | "
                   f"{100 * r['same_answer_share']:.1f}% | {100 * r['answer_in_prefix_share']:.1f}% | "
                   f"{fmt('auroc')} | {_within(r)} | {fmt('tnr@0.2')} |")  # fmt: skip
    return "\n".join(out)


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
               "diff_vs_ref": None, "train_auroc": (train_auroc or {}).get(name), "roc": _thin(m.get("roc"))}  # fmt: skip
        if ref and name != ref:
            row["diff_vs_ref"] = auroc_diff_ci(s, scores[ref], y, groups, n_boot=n_boot)
        rows.append(row)
        if progress:
            print(
                f"  {Path(pool).name} {trunc} {name}: AUROC {m['auroc']:.3f} TNR@0.2 {m['tnr@0.2']:.3f}",
                file=sys.stderr,
                flush=True,
            )
    return rows


def _questions(r: dict) -> str:
    return f"{r['questions']} ({r['folds']} folds)" if r.get("folds") else str(r["questions"])


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
        lines.append(f"| {r['pool']} | `{r['trunc']}` | {r['judge']} | {_questions(r)} | {r['pairs']:,} | "
                     f"{r['auroc']:.3f} [{au[0]:.3f}, {au[1]:.3f}] | {_within(r)} | {r['tnr@0.2']:.3f} [{tn[0]:.3f}, {tn[1]:.3f}] | {dtxt} | {fit} |")  # fmt: skip
    return "\n".join(lines)


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
    losses: tuple[str, ...] = ABLATION_LOSSES
    oversamples: tuple[float, ...] = ABLATION_OVERSAMPLES
    # "last" adds late-interaction cells (CrossEncoderConfig.joint)
    joints: tuple[str, ...] = ("all",)
    max_eval_pairs: int = 2000  # held-out pairs scored per (pool, prefix), seeded sample
    baselines: tuple[str, ...] = ("sbert", "lexical:jaccard", "lexical:tfidf")
    bootstrap: int = 500
    # 40% held-out questions (more than pairs build's 20%: the intervals resample questions)
    base: CrossEncoderConfig = field(
        default_factory=lambda: CrossEncoderConfig(
            test_fraction=0.4, max_train_pairs=1000, max_length=128
        )
    )


def _cell_dir(out: Path, trunc: str, keep: str, loss: str, over: float, joint: str = "all") -> Path:
    late = "-late" if joint == "last" else ""
    return out / f"{trunc.replace(':', '')}-{keep}{late}-{loss}-x{over:g}"


def ablation(train_pools: Sequence[str], eval_pools: Sequence[str], out: str | os.PathLike,
             cfg: AblationConfig, progress: bool = True) -> list[dict]:  # fmt: skip
    """Train every cell (skipping finished ones: a rerun resumes), evaluate on held-out pairs.

    Rows: one per (eval pool, prefix, judge); the eval pools' held-out questions when a
    pool is also a training pool, all its questions otherwise (transfer).
    """
    from dataclasses import replace

    from deepprune.metrics import judge_metrics
    from deepprune.pairs import PairConfig

    out = Path(out)
    cells = {}
    for joint, trunc, loss, over in itertools.product(
        cfg.joints, cfg.truncs, cfg.losses, cfg.oversamples
    ):
        d = _cell_dir(out, trunc, cfg.base.keep, loss, over, joint)
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
                             "within_question_ci95": m.get("within_question_ci95"), "roc": _thin(m.get("roc"))})  # fmt: skip
                if progress:
                    print(
                        f"  {Path(pool).name} {trunc} {name}: AUROC {m['auroc']:.3f} TNR@0.2 {m['tnr@0.2']:.3f}",
                        file=sys.stderr,
                        flush=True,
                    )
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
                     f"{100 * r['answer_in_prefix_share']:.1f}% | {f('auroc')} | {_within(r)} | {f('tnr@0.2')} |")  # fmt: skip
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


# ---- cross-fitting: every question of a pool judged by a cross-encoder that never saw it ----


# the paper's ablation variants: focal loss vs cross-entropy, minority oversampling x2 vs none
PAPER_ABLATION = {  # the same grid as AblationConfig's, paper's recipe first
    f"{loss} x{over:g}": {"loss": loss, "oversample": over}
    for loss in reversed(ABLATION_LOSSES)
    for over in reversed(ABLATION_OVERSAMPLES)
}


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


# The commands that train judges (``deepprune crossencoder | features``), one job each.
TRAIN_FIXED = ("fold",)  # set by crossfit per fold
CROSSFIT_FIXED = ("fold", "trunc", "test_fraction")  # crossfit: every question held out once
ABLATED = ("fold", "trunc", "joint", "loss", "oversample")  # the ablation's grid sets these


@dataclass
class CrossEncoderTrainJob:
    """``deepprune crossencoder train``: train on the pools' train split (question-level, as pairs build)."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    out: str = field(default="", metadata={"required": True})  # the judge directory to write
    progress: bool = True
    config: CrossEncoderConfig = field(default_factory=CrossEncoderConfig)

    def run(self) -> list[str]:
        """Train; the manifest's summary and the judge spec to use."""
        ce = isinstance(self.config, CrossEncoderConfig)
        trainer = train_crossencoder if ce else train_feature_judge
        man = trainer(check_pools(self.pool), self.out, self.config, progress=self.progress)
        keys = (
            ("train_pairs", "steps", "loss_first20", "loss_last20")
            if ce
            else ("train_pairs", "final_loss")
        )
        summary = json.dumps({k: man[k] for k in (*keys, "seconds")})
        return [summary, f"judge spec: {'crossencoder' if ce else 'features'}:{self.out}"]


@dataclass
class FeatureTrainJob(CrossEncoderTrainJob):
    """``deepprune features train``: train on the pools' train split (question-level, as pairs build)."""

    config: FeatureJudgeConfig = field(default_factory=FeatureJudgeConfig)


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
    progress: bool = True
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


@dataclass
class AblationJob:
    """``deepprune crossencoder ablation``: the paper's ablation, prefix x loss x oversampling, plus baselines."""

    train_pool: list[str] = field(default_factory=list, metadata={"required": True})
    # held-out questions if also a train pool, else all questions (transfer)
    eval_pool: list[str] = field(default_factory=list, metadata={"required": True})
    out: str = field(
        default="", metadata={"required": True}
    )  # one model directory per cell (finished cells are reused)
    manifest: str | None = None  # write the cells' hashes, configs and metrics here (JSON)
    progress: bool = True
    config: AblationConfig = field(default_factory=AblationConfig)
    output: Output = field(default_factory=Output)

    def run(self) -> list[dict]:
        from deepprune.artifacts import atomic_write

        train_pools, eval_pools = check_pools(self.train_pool), check_pools(self.eval_pool)
        rows = ablation(train_pools, eval_pools, self.out, self.config, progress=self.progress)
        if self.manifest:
            atomic_write(self.manifest, json.dumps(cells_manifest(self.out, rows), indent=1) + "\n")
        return [{"rows": rows, "cells_dir": self.out}]


@dataclass
class CalibrateJob:
    """``deepprune judge calibrate``: fit score -> P(same answer) on the train questions; write ``out``."""

    pool: list[str] = field(default_factory=list, metadata={"required": True})  # trace pool
    judge: str = field(
        default="", metadata={"required": True}
    )  # judge spec, e.g. sbert or lexical:tfidf
    trunc: str = PAPER_TRUNC  # prefix spec
    test_fraction: float = 0.2  # held-out questions (the pair builder's split)
    seed: int = 0
    out: str = field(
        default="", metadata={"required": True}
    )  # the calibration file to write (JSON)

    def run(self) -> list[str]:
        """Fit, write ``out``; the reliability lines and a summary."""
        from deepprune.artifacts import atomic_write
        from deepprune.judges.calibration import calibrate

        paths = check_pools(self.pool)  # every input checked before any scoring
        cal = calibrate(get_judge(self.judge), paths, self.trunc, self.test_fraction, self.seed)
        atomic_write(self.out, json.dumps(cal, indent=1) + "\n")
        lines = [f"{name.removeprefix('reliability_')} (predicted -> observed on held-out pairs): "
                 + "  ".join(f"{r['predicted']:.2f}->{r['observed']:.2f} ({r['pairs']})" for r in cal[name])
                 for name in ("reliability_raw", "reliability_calibrated") if name in cal]  # fmt: skip
        train = f"{cal['train_pairs']} pairs of {cal['train_questions']} questions"
        return [*lines, f"{self.out}: {cal['judge']} calibrated on {train}"]
