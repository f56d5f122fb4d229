"""``deepprune generate | solve | serve | proxy``: traces from a live model server, pruned as they come."""

from __future__ import annotations

from deepprune.cli.config import command


def register(sub) -> None:
    from deepprune.engine.generate import GenerateJob
    from deepprune.engine.server import ServeJob
    from deepprune.engine.solve import SolveJob
    from deepprune.proxy.job import PROXY_FIXED, ProxyJob

    command(sub, "generate", GenerateJob, str)
    command(sub, "solve", SolveJob, str)
    command(sub, "serve", ServeJob)
    # n, the methods, the stop strings, the prompt and the seed come from each request (PROXY_FIXED)
    command(
        sub,
        "proxy",
        ProxyJob,
        exclude=PROXY_FIXED,
    )
