"""The one way into the live engine: every caller (``solve``, the proxy, a notebook) runs a problem
through :func:`prepare` and :func:`solve_one`, and only they build judges and methods or touch
the backend's requirements (nanochat's ``Engine.generate``, vLLM's ``EngineClient``).

Example (a replayed pool, no server)::

    setup = prepare(SolveConfig(n=8, methods=("cons@N", "asc")), backend)
    out = await solve_one(setup, backend, problem, setup.methods[1])
    out.result["answer"], out.ledger.tokens, out.wall_s
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deepprune.engine.backends import Backend
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.methods import build_methods
from deepprune.engine.recipe import load_recipe
from deepprune.engine.run import GenMethod, Run
from deepprune.engine.solve_config import SolveConfig
from deepprune.problems import Problem


@dataclass
class Setup:
    """A run's settings made ready once: the judge built, the methods built, the backend checked."""

    cfg: SolveConfig
    judge: object | None
    methods: list[GenMethod]

    def method(self, name: str) -> GenMethod:
        return next(m for m in self.methods if m.name == name)


@dataclass
class LiveResult:
    """One method on one problem: its result, what it spent, the traces it completed (index ->
    (text, ended by itself)) and generated in full (index -> (text, Finish)), the run's n (a
    replayed problem has only its pool's traces) and the wall time."""

    result: dict
    ledger: LiveLedger
    completed: dict
    finished: dict
    n: int
    wall_s: float
    extra: dict = field(default_factory=dict)

    def record(self) -> dict:
        """The ledger's columns and the method's own fields (a ``solve`` record, less its keys)."""
        return {"wall_s": self.wall_s, **self.ledger.record(), **self.result}

    @property
    def cons_n_estimate(self) -> int:
        return self.ledger.cons_n_estimate(self.completed, self.n)


def prepare(cfg: SolveConfig, backend: Backend, get_judge: Callable | None = None) -> Setup:
    """Build the judge once (``get_judge``: the caller's loader, e.g. the proxy's bounded cache;
    default :func:`deepprune.judges.get_judge`) and check, once, that the backend can feed it:
    answer probes for the probe judge and Parallel-Probe, trace text for a text judge (one-line
    errors naming what is missing)."""
    judge = None
    if "deepprune" in cfg.methods:
        if get_judge is None:
            from deepprune.judges import get_judge
        judge = get_judge(cfg.judge)
    if getattr(judge, "reads", None) == "text":
        backend.require_text()
    if cfg.needs_probes():
        backend.require_probes(cfg.probe_every)
    return Setup(cfg, judge, build_methods(cfg, judge))


async def solve_one(setup: Setup, backend: Backend, problem: Problem, method: GenMethod,
                    before: dict | None = None, messages: tuple = ()) -> LiveResult:  # fmt: skip
    """Run ``method`` on ``problem`` against ``backend`` (``before``: the records of the methods
    run before it on the same problem, which cons@k's budget reads; ``messages``: a chat request's
    conversation)."""
    led, t0 = LiveLedger(), time.perf_counter()
    run = Run(backend, problem, setup.cfg, messages)
    res = await method.run(run, led, before or {})
    return LiveResult(res, led, run.completed, run.finished, run.n, time.perf_counter() - t0)


__all__ = ["LiveResult", "Setup", "load_recipe", "prepare", "solve_one"]
