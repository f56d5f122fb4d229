"""``deepprune judge score | eval | grid | calibrate``: score pairs with a judge and evaluate it."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

from deepprune.cli import calibrate
from deepprune.cli.config import add_config_args, add_output_args, emit, pools, require, resolve
from deepprune.errors import CLIError, ConfigError


def register(sub) -> None:
    from deepprune.judges.evaluation import GridConfig

    s = sub.add_parser("judge", help="score pairs with a judge and evaluate it").add_subparsers(
        required=True
    )
    g = s.add_parser(
        "grid", help="baselines over pools x truncations x judges on held-out questions"
    )
    g.add_argument("--pool", action="append", help="trace pool (repeatable)")
    g.add_argument("--trunc", action="append", help="prefix spec (repeatable)")
    g.add_argument("--judge", action="append", help="judge spec (repeatable)")
    add_config_args(g, GridConfig, exclude=("trunc", "oversample", "both_orders", "include_question"),
                    aliases={"max_pairs_per_question": "--max-pairs"})  # fmt: skip
    add_output_args(g)
    g.set_defaults(func=grid)
    calibrate.register(s)
    for name, func, text in (("score", score, "score a pair file (resumable, shardable)"),
                             ("eval", evaluate, "AUROC, TNR@0.2, accuracy/F1, bootstrap CIs")):  # fmt: skip
        c = s.add_parser(name, help=text)
        c.add_argument("pairs", help="pair file (.jsonl from `deepprune pairs build`)")
        c.add_argument(
            "--judge", required=True, help="judge spec, e.g. lexical:tfidf, sbert, llm:PATH"
        )
        c.add_argument(
            "--cache", help="cache directory: resumes a killed run, reruns make no judge calls"
        )
        c.add_argument("--shards", type=int, default=1)
        c.add_argument("--shard-id", type=int, default=0)
        c.add_argument("--batch-size", type=int, default=64)
        c.add_argument("--no-progress", action="store_true")
        c.set_defaults(func=func)
    s.choices["score"].add_argument("--out", help="write per-pair scores as JSONL")
    s.choices["eval"].add_argument(
        "--bootstrap", type=int, default=1000, help="resamples over questions (0: none)"
    )
    s.choices["eval"].add_argument("--roc", action="store_true", help="include ROC curve points")
    s.choices["eval"].add_argument("--json", action="store_true")


def _score_file(args, need_labels):
    from deepprune.judges import JudgePair, get_judge
    from deepprune.judges.scoring import score_pairs
    from deepprune.pairs import read_pair_file

    rows = read_pair_file(args.pairs, need_labels=need_labels)
    pairs = [JudgePair(r["prefix_a"], r["prefix_b"], r.get("question")) for r in rows]
    judge = get_judge(args.judge)
    kinds = {r.get("reads", "text") for r in rows}
    if kinds != {judge.reads} and judge.reads != "labels":
        raise ConfigError(f"{args.pairs}: the prefixes are {'/'.join(sorted(kinds))}, and judge {judge.id!r} reads "
                          f"{judge.reads} (answer probes: --judge probe; text: any other judge)")  # fmt: skip
    judge.prepare(list(dict.fromkeys(t for p in pairs for t in (p.prefix_a, p.prefix_b))))
    scores, info = score_pairs(judge, pairs, cache_dir=args.cache, shards=args.shards, shard_id=args.shard_id,
                               batch_size=args.batch_size, progress=not args.no_progress,
                               labels=[r.get("label") for r in rows])  # fmt: skip
    return rows, scores, info, judge


def score(args) -> int:
    from deepprune.artifacts import atomic_write

    rows, scores, info, judge = _score_file(args, need_labels=False)
    if args.out:
        missing = sum(math.isnan(s) for s in scores)
        if missing:  # never a file that looks complete but is not
            raise CLIError(f"--out {args.out}: {missing} of {len(scores)} pairs have no score yet (other shards); "
                           "run every shard with --cache, then rerun without --shards to write them all")  # fmt: skip
        keys = ("qid", "source", "i", "j", "label")
        lines = [
            json.dumps({**{k: r.get(k) for k in keys}, "score": float(s)})
            for r, s in zip(rows, scores)
        ]
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        atomic_write(Path(args.out), "\n".join(lines) + "\n")
    print(json.dumps({"judge": judge.id, **info}), file=sys.stderr)
    return 0


def evaluate(args) -> int:
    from deepprune.metrics import judge_metrics, metrics_report

    rows, scores, info, judge = _score_file(args, need_labels=True)
    groups = [f"{r.get('source')}/{r.get('qid')}" for r in rows]
    m = judge_metrics(scores, [r["label"] for r in rows], groups=groups,
                      sources=[r.get("source") for r in rows], n_boot=args.bootstrap)  # fmt: skip
    if not args.roc:
        m.pop("roc", None)
    m = {"judge": judge.id, "pair_file": str(args.pairs), **info, **m}
    return emit(args, [m], lambda m: metrics_report(m, len(set(groups))), "judge eval")


def grid(args) -> int:
    from deepprune.judges.evaluation import GridConfig, grid, grid_table

    cfg = resolve(
        args, GridConfig, exclude=("trunc", "oversample", "both_orders", "include_question")
    )
    paths = pools(args)
    require(args, "trunc", "judge")
    return emit(args, [grid(paths, args.trunc, args.judge, cfg)], grid_table, "judge grid")
