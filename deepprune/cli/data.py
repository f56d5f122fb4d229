"""``deepprune pools | answers | synth | pairs``: trace pools and pair datasets."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.answers import check_report
    from deepprune.importers import ImportJob
    from deepprune.pairs import PairsJob
    from deepprune.stats import CheckJob, StatsJob, ValidateJob, stats_line
    from deepprune.synth import SynthJob

    s = sub.add_parser("pools", help="validate and describe trace pools").add_subparsers(
        required=True
    )
    command(s, "validate", ValidateJob)
    command(s, "stats", StatsJob, stats_line)
    command(s, "import", ImportJob, ImportJob.summary)
    s = sub.add_parser("answers", help="answer extraction and grading").add_subparsers(
        required=True
    )
    command(s, "check", CheckJob, check_report)
    command(sub, "synth", SynthJob, str)
    s = sub.add_parser("pairs", help="pairwise judge datasets").add_subparsers(required=True)
    command(
        s, "build", PairsJob, PairsJob.summary, aliases={"max_pairs_per_question": "--max-pairs"}
    )
