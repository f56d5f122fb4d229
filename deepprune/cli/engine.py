"""``deepprune generate | solve | serve``: traces from a live model server, pruned as they come."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.engine.generate import GenerateJob
    from deepprune.engine.server import ServeJob
    from deepprune.engine.solve import SolveJob

    command(sub, "generate", GenerateJob, str)
    command(sub, "solve", SolveJob, str)
    command(sub, "serve", ServeJob)
