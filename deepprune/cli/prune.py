"""``deepprune prune`` and ``deepprune compare``: online pruning replayed over saved pools."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from deepprune.cli.config import (
    add_config_args,
    add_output_args,
    emit,
    pools,
    require,
    resolve,
    writable_dir,
)
from deepprune.errors import ConfigError
from deepprune.judges.oracle import PAPER_JUDGE_AUROC

COMPARE_EXCLUDE = ("cluster", "workers", "holdout", "shuffle")  # each family sets its own


def register(sub) -> None:
    from deepprune.replay.compare import CompareConfig
    from deepprune.replay.prune import OnlineConfig
    from deepprune.replay.reproduce import ReproduceConfig

    p = sub.add_parser(
        "prune", help="online pruning over trace pools: DeepPrune vs baselines (the main job)"
    )
    p.add_argument(
        "--pool", action="append", help="trace pool (repeatable; default: the bundled demo pool)"
    )
    p.add_argument("--judge", action="append",
                   help="judge spec (repeatable; default lexical:tfidf, CPU-only); the first one is swept")  # fmt: skip
    p.add_argument("--sweep", help="e.g. tau=0.1:0.9:0.05")
    p.add_argument(
        "--ceiling", action="store_true", default=None, help="also run the oracle judge (default)"
    )
    p.add_argument("--no-ceiling", dest="ceiling", action="store_false")
    p.add_argument("--noisy-auroc", type=float,
                   help=f"also run a noisy oracle of this AUROC (default: the paper judge's {PAPER_JUDGE_AUROC}; 0 = off)")  # fmt: skip
    add_config_args(p, OnlineConfig)
    c = sub.add_parser(
        "compare", help="every published way to cut self-consistency cost, on the same pools"
    )
    c.add_argument("--pool", action="append", help="trace pool (repeatable)")
    add_config_args(
        c,
        CompareConfig,
        exclude=COMPARE_EXCLUDE,
        aliases={"families": "--methods", "n_boot": "--bootstrap"},
    )
    r = sub.add_parser(
        "reproduce",
        help="the Parallel-Probe authors' published table, replayed on their probe pools",
    )
    r.add_argument("--pool", action="append", help="probe pool (repeatable, one --published each)")
    r.add_argument("--published", action="append", help="the authors' results CSV for that pool")
    add_config_args(r, ReproduceConfig)
    add_output_args(r)
    r.set_defaults(func=reproduce)
    f = sub.add_parser(
        "figures", help="every figure from saved prune / compare / judge grid result JSON"
    )
    f.add_argument(
        "--results", default="Online/results", help="a result JSON file or a folder of them"
    )
    f.add_argument("--out", default="runs/figures", help="where the PNGs go (untracked)")
    f.set_defaults(func=figures)
    for q, func, out in ((p, prune, "runs/prune"), (c, compare, "runs/compare")):
        q.add_argument("--out", help=f"directory for results JSON and plots (default: {out})")
        add_output_args(q)
        q.set_defaults(func=func, default_out=out)


def _save(args, pool, res, suffix, plot, plot_suffix) -> None:
    from deepprune.artifacts import atomic_write

    out = Path(args.out or args.default_out)
    out.mkdir(parents=True, exist_ok=True)
    stem = Path(pool).name.removesuffix(".gz").removesuffix(".jsonl") + suffix
    res["plot"] = str(plot(res, out / f"{stem}{plot_suffix}.png"))
    atomic_write(out / f"{stem}.json", json.dumps(res, indent=1, default=str))


def prune(args) -> int:
    from deepprune.replay.figures import tradeoff_plot
    from deepprune.replay.prune import OnlineConfig, parse_sweep, prune_pool, results_table
    from deepprune.synth import DEMO_POOL

    cfg = resolve(args, OnlineConfig)
    paths = pools(args) if args.pool else [str(DEMO_POOL)]
    writable_dir(args.out or args.default_out)
    sweep = parse_sweep(args.sweep) if args.sweep else None
    noisy = PAPER_JUDGE_AUROC if args.noisy_auroc is None else args.noisy_auroc
    results = []
    for pool in paths:
        res = prune_pool(pool, args.judge or ["lexical:tfidf"], cfg, sweep=sweep, ceiling=args.ceiling is not False,
                         noisy_auroc=noisy or None, progress=not args.json)  # fmt: skip
        _save(args, pool, res, "", tradeoff_plot, "_tradeoff")
        results.append(res)
    return emit(args, results, results_table, "prune", lambda r: f"\n\nplot: {r['plot']}\n")


def compare(args) -> int:
    from deepprune.replay.compare import CompareConfig, compare_pool, comparison_markdown
    from deepprune.replay.figures import comparison_plot

    cfg = resolve(args, CompareConfig, exclude=COMPARE_EXCLUDE)
    paths = pools(args)
    writable_dir(args.out or args.default_out)
    results = []
    for pool in paths:
        log = (
            None
            if args.json
            else (lambda name, pool=pool: print(f"  {Path(pool).name}: {name}", file=sys.stderr))
        )
        res = compare_pool(pool, cfg, progress=log)
        _save(args, pool, res, "_compare", comparison_plot, "")
        results.append(res)
    return emit(args, results, comparison_markdown, "compare", lambda r: f"\n\nplot: {r['plot']}\n")


def reproduce(args) -> int:
    from deepprune.replay.reproduce import ReproduceConfig, reproduce, reproduce_table

    cfg = resolve(args, ReproduceConfig)
    paths = pools(args)
    require(args, "published")
    if len(args.published) != len(paths):
        raise ConfigError(
            f"{len(paths)} --pool but {len(args.published)} --published: give one table per pool"
        )
    results = [reproduce(p, t, cfg) for p, t in zip(paths, args.published, strict=True)]
    return emit(args, results, reproduce_table, "reproduce")


def figures(args) -> int:
    from deepprune.replay.figures import render_figures

    for path in render_figures(args.results, writable_dir(args.out)):
        print(path)
    return 0
