"""``deepprune judge calibrate``: fit a judge's score -> P(same answer) map (see :mod:`deepprune.judges.calibration`)."""

from __future__ import annotations

import json


def register(judge_sub) -> None:
    c = judge_sub.add_parser(
        "calibrate",
        help="fit score -> P(same answer) on the train questions; write FILE for calib=FILE",
    )
    c.add_argument("--pool", action="append", required=True, help="trace pool (repeatable)")
    c.add_argument("--judge", required=True, help="judge spec, e.g. sbert or lexical:tfidf")
    c.add_argument("--trunc", default="words:25", help="prefix spec (default words:25, paper)")
    c.add_argument(
        "--test-fraction",
        type=float,
        default=0.2,
        help="held-out questions (the pair builder's split)",
    )
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--out", required=True, help="the calibration file to write (JSON)")
    c.set_defaults(func=run)


def run(args) -> int:
    from deepprune.artifacts import atomic_write
    from deepprune.judges import get_judge
    from deepprune.judges.calibration import calibrate
    from deepprune.pools import iter_pool

    for p in args.pool:  # every input checked before any scoring
        for _ in iter_pool(p):
            pass
    cal = calibrate(get_judge(args.judge), args.pool, args.trunc, args.test_fraction, args.seed)
    atomic_write(args.out, json.dumps(cal, indent=1) + "\n")
    for name in ("reliability_raw", "reliability_calibrated"):
        if name in cal:
            cells = "  ".join(
                f"{r['predicted']:.2f}->{r['observed']:.2f} ({r['pairs']})" for r in cal[name]
            )
            print(
                f"{name.removeprefix('reliability_')} (predicted -> observed on held-out pairs): {cells}"
            )
    print(
        f"{args.out}: {cal['judge']} calibrated on {cal['train_pairs']} pairs of {cal['train_questions']} questions"
    )
    return 0
