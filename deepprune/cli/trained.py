"""``deepprune crossencoder | features``: train judges on pools, ablate them, cross-fit them."""

from __future__ import annotations

import argparse
import json

from deepprune.cli.config import add_config_args, add_output_args, emit, pools, require, resolve

CE_FIXED = ("fold",)  # set by crossfit per fold
ABLATED = ("fold", "trunc", "joint", "loss", "oversample")  # the ablation's grid sets these
CROSSFIT_FIXED = ("fold", "trunc", "test_fraction")  # crossfit: every question held out once


def register(sub) -> None:
    from deepprune.judges.crossencoder import CrossEncoderConfig
    from deepprune.judges.evaluation import AblationConfig
    from deepprune.judges.features import FeatureJudgeConfig

    ce = sub.add_parser(
        "crossencoder", help="train a cross-encoder judge (MiniLM backbone, focal loss)"
    )
    ce = ce.add_subparsers(required=True)
    fe = sub.add_parser(
        "features", help="a trained pair-feature judge (per-trace MiniLM embeddings, focal loss)"
    )
    fe = fe.add_subparsers(required=True)
    for s, cls, what in ((ce, CrossEncoderConfig, "model"), (fe, FeatureJudgeConfig, "judge")):
        t = s.add_parser(
            "train", help="train on the pools' train split (question-level, as pairs build)"
        )
        t.add_argument("--pool", action="append", help="trace pool (repeatable)")
        t.add_argument("--out", help=f"{what} directory to write")
        add_config_args(t, cls, exclude=CE_FIXED)
        t.set_defaults(func=train, cls=cls)
        x = s.add_parser(
            "crossfit",
            help="k-fold over questions: every question judged by a judge that never saw it",
        )
        x.add_argument(
            "--pool", action="append", help="trace pool (repeatable; each cross-fitted alone)"
        )
        x.add_argument(
            "--trunc", action="append", help="prefix spec (repeatable; default words:25, paper)"
        )
        x.add_argument("--folds", type=int, help="folds over questions (default: 5)")
        x.add_argument(
            "--ablation",
            action="store_true",
            help="the paper's four {ce, focal} x {x1, x2} variants",
        )
        x.add_argument("--bootstrap", type=int, help="resamples over questions (default: 1000)")
        add_config_args(x, cls, exclude=CROSSFIT_FIXED)
        add_output_args(x, json=False)
        x.set_defaults(func=crossfit_cmd, cls=cls)
    x = ce.choices["crossfit"]
    x.add_argument(
        "--out", help="models go to OUT/POOL/TRUNC-VARIANT/foldF (finished ones are reused)"
    )
    x.add_argument(
        "--manifest",
        help="write every fold model's hashes and config, and the metrics, here (JSON)",
    )
    x = fe.choices["crossfit"]
    x.add_argument(
        "--cache", help="keep per-question features here (a rerun or killed run reuses them)"
    )
    x.add_argument(
        "--scalars-too",
        action="store_true",
        help="also a focal x2 judge on the 6 scalar features only",
    )
    a = ce.add_parser(
        "ablation", help="the paper's ablation: prefix x loss x oversampling, plus baselines"
    )
    a.add_argument("--train-pool", action="append")
    a.add_argument("--eval-pool", action="append",
                   help="held-out questions if also a train pool, else all questions (transfer)")  # fmt: skip
    a.add_argument("--out", help="one model directory per cell (finished cells are reused)")
    a.add_argument("--manifest", help="write the cells' hashes, configs and metrics here (JSON)")
    add_config_args(
        a, AblationConfig, exclude=ABLATED, aliases={"truncs": "--trunc", "joints": "--joint"}
    )
    add_output_args(a, json=False)
    a.set_defaults(func=ablation)
    for s in (ce, fe):
        for c in s.choices.values():
            c.add_argument("--progress", action=argparse.BooleanOptionalAction, default=True)


def train(args) -> int:
    from deepprune.judges.crossencoder import CrossEncoderConfig, train_crossencoder
    from deepprune.judges.features import train_feature_judge

    cfg = resolve(args, args.cls, exclude=CE_FIXED)
    paths = pools(args)
    require(args, "out")
    ce = args.cls is CrossEncoderConfig
    man = (train_crossencoder if ce else train_feature_judge)(
        paths, args.out, cfg, progress=args.progress
    )
    keys = (
        ("train_pairs", "steps", "loss_first20", "loss_last20", "seconds")
        if ce
        else ("train_pairs", "final_loss", "seconds")
    )
    print(json.dumps({k: man[k] for k in keys}))
    print(f"judge spec: {'crossencoder' if ce else 'features'}:{args.out}")
    return 0


def crossfit_cmd(args) -> int:
    from deepprune.artifacts import atomic_write
    from deepprune.judges.crossencoder import CrossEncoderConfig
    from deepprune.judges.evaluation import (
        PAPER_ABLATION,
        CrossEncoderFolds,
        FeatureFolds,
        crossfit,
        crossfit_manifest,
        crossfit_table,
    )

    cfg = resolve(args, args.cls, exclude=CROSSFIT_FIXED, options={"folds": 5, "bootstrap": 1000})
    paths = pools(args)
    ce = args.cls is CrossEncoderConfig
    variants = dict(PAPER_ABLATION) if args.ablation else {f"{cfg.loss} x{cfg.oversample:g}": {}}
    if not ce and args.scalars_too:
        variants["focal x2, scalars only"] = {"vectors": False}
    if ce:
        require(args, "out")
    trainer = CrossEncoderFolds(cfg, args.out) if ce else FeatureFolds(cfg, args.cache)
    kw = {
        "folds": args.folds,
        "variants": variants,
        "n_boot": args.bootstrap,
        "progress": args.progress,
    }
    rows = [
        r
        for pool in paths
        for trunc in args.trunc or [cfg.trunc]
        for r in crossfit(pool, trunc, trainer, **kw)
    ]
    if ce and args.manifest:
        atomic_write(
            args.manifest,
            json.dumps(crossfit_manifest(args.out, rows), indent=1, default=float) + "\n",
        )
    return emit(args, [rows], crossfit_table, f"{'crossencoder' if ce else 'features'} crossfit")


def ablation(args) -> int:
    from deepprune.artifacts import atomic_write
    from deepprune.judges.evaluation import AblationConfig, ablation, ablation_table, cells_manifest

    cfg = resolve(args, AblationConfig, exclude=ABLATED)
    train_pools, eval_pools = pools(args, "train_pool"), pools(args, "eval_pool")
    require(args, "out")
    rows = ablation(train_pools, eval_pools, args.out, cfg, progress=args.progress)
    if args.manifest:
        atomic_write(args.manifest, json.dumps(cells_manifest(args.out, rows), indent=1) + "\n")
    return emit(args, [rows], lambda r: ablation_table(r, args.out), "crossencoder ablation")
