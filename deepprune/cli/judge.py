"""``deepprune judge grid | calibrate | score | eval``: score pairs with a judge and evaluate it."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.judgelab.calibrate import CalibrateJob
    from deepprune.judgelab.grid import GRID_EXCLUDE, GridJob, grid_table
    from deepprune.judgelab.scoring import EvalJob, ScoreJob
    from deepprune.metrics import metrics_report

    s = sub.add_parser("judge", help="score pairs with a judge and evaluate it")
    s = s.add_subparsers(required=True)
    aliases = {"max_pairs_per_question": "--max-pairs"}
    command(s, "grid", GridJob, grid_table, exclude=GRID_EXCLUDE, aliases=aliases)
    command(s, "calibrate", CalibrateJob, str)
    command(s, "score", ScoreJob)
    command(s, "eval", EvalJob, lambda m: metrics_report(m, m["questions"]))
