"""``deepprune pools | answers | synth | pairs``: trace pools and pair datasets."""

from __future__ import annotations

import argparse
import sys

from deepprune.cli.config import add_config_args, emit, resolve


def register(sub) -> None:
    from deepprune.pairs import PairConfig
    from deepprune.synth import SynthConfig

    s = sub.add_parser("pools", help="validate and describe trace pools").add_subparsers(
        required=True
    )
    v = s.add_parser("validate", help="check pool files against the trace-pool format")
    st = s.add_parser("stats", help="questions, traces, answer agreement, voting accuracy, tokens")
    for c, func in ((v, validate), (st, stats)):
        c.add_argument("files", nargs="+")
        c.add_argument("--skip-invalid", action=argparse.BooleanOptionalAction, default=False,
                       help="skip malformed lines (each reported, and counted) instead of failing")  # fmt: skip
        c.set_defaults(func=func)
    st.add_argument(
        "--tokenizer", help="local HF tokenizer directory (default: the regex-4char counter)"
    )
    st.add_argument("--json", action="store_true")
    a = sub.add_parser("answers", help="answer extraction and grading").add_subparsers(
        required=True
    )
    c = a.add_parser(
        "check", help="cross-check extraction/grading against a pool's answer/correct fields"
    )
    c.add_argument("files", nargs="+")
    c.add_argument("--examples", type=int, default=10, help="disagreements to list per file")
    c.add_argument("--json", action="store_true")
    c.set_defaults(func=check)
    y = sub.add_parser("synth", help="generate a deterministic synthetic trace pool")
    y.add_argument("--out", required=True)
    add_config_args(y, SynthConfig)
    y.set_defaults(func=synth)
    b = sub.add_parser("pairs", help="pairwise judge datasets").add_subparsers(required=True)
    b = b.add_parser("build", help="build train/test pairs (split by question) for judge training")
    b.add_argument("pools", nargs="+")
    b.add_argument("--out", required=True, help="output directory")
    b.add_argument(
        "--name", default="deepprune_pairs", help="dataset name prefix in dataset_info.json"
    )
    b.add_argument("--json", action="store_true")
    add_config_args(b, PairConfig, aliases={"max_pairs_per_question": "--max-pairs"})
    b.set_defaults(func=pairs)


def validate(args) -> int:
    from deepprune.pools import ReadReport, iter_pool

    bad = 0
    for f in args.files:
        report = ReadReport()
        try:
            traces = sum(
                len(q.traces) for q in iter_pool(f, skip_invalid=args.skip_invalid, report=report)
            )
        except Exception as e:  # PoolError, OSError: one line per file, keep checking the others
            print(f"deepprune: error: {e}", file=sys.stderr)
            bad += 1
            continue
        for msg in report.errors:
            print(f"skipped {msg}", file=sys.stderr)
        print(
            f"{f}: ok, {report.questions} questions, {traces} traces, {report.skipped} invalid lines skipped"
        )
    return 2 if bad else 0


def stats(args) -> int:
    from deepprune.stats import pool_stats, stats_line

    rows = [
        pool_stats(f, tokenizer=args.tokenizer, skip_invalid=args.skip_invalid) for f in args.files
    ]
    return emit(args, rows, stats_line, "pools stats")


def check(args) -> int:
    from deepprune.answers import check_extraction, check_report

    rows = [check_extraction(f, max_examples=args.examples) for f in args.files]
    return emit(args, rows, check_report, "answers check")


def synth(args) -> int:
    from deepprune.pools import write_pool
    from deepprune.synth import SynthConfig, synth_pool

    cfg = resolve(args, SynthConfig)
    n = write_pool(args.out, synth_pool(cfg))
    print(f"wrote {n} synthetic questions x {cfg.traces} traces to {args.out}")
    return 0


def pairs(args) -> int:
    from deepprune.pairs import PairConfig, build_pairs, write_pairs

    cfg = resolve(args, PairConfig)
    m = write_pairs(args.out, build_pairs(args.pools, cfg), cfg, name=args.name)
    render = lambda m: (f"wrote pairs to {args.out}: train {m['train_labels']} (before oversampling "  # noqa: E731
                        f"{m['train_labels_before_oversampling']}), test {m['test_labels']}")  # fmt: skip
    return emit(args, [m], render, "pairs build")
