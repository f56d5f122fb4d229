"""The one way into the live engine: every caller (``solve``, the proxy, a notebook) runs a problem
through :func:`prepare` and :func:`solve_one`, and only they build judges and methods or touch
the backend's requirements (nanochat's ``Engine.generate``, vLLM's ``EngineClient``);
``generate`` samples whole traces through :func:`sample_trace`, on the same :class:`Run`.

Example (a replayed pool, no server)::

    setup = prepare(SolveConfig(n=8, methods=("cons@N", "asc")), backend)
    out = await solve_one(setup, backend, problem, setup.methods[1])
    out.result["answer"], out.ledger.tokens, out.wall_s
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from deepprune.answers import extract_answer
from deepprune.confidence import token_confidence
from deepprune.engine.backends import Backend
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.methods import build_methods
from deepprune.engine.recipe import load_recipe
from deepprune.engine.run import GenMethod, Run, all_or_none
from deepprune.engine.solve_config import SolveConfig
from deepprune.errors import DeepPruneError
from deepprune.pools import Trace
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


async def sample_trace(run: Run, index: int, cfg, sem: asyncio.Semaphore,
                       probe_sem: asyncio.Semaphore, led: LiveLedger) -> Trace:  # fmt: skip
    """``generate``'s way in: trace ``index`` of ``run``'s problem generated whole (``cfg``: a
    :class:`~deepprune.engine.generate.GenerateConfig`, its logprobs and probes), through :class:`~deepprune.engine.run.Run` (its one
    request builder, stream loop and probe), charged to ``led``. ``sem`` bounds traces in flight,
    ``probe_sem`` probes: separate slots, so probes never wait behind the traces they probe."""
    p = run.p
    if not cfg.logprobs and not cfg.probe_every:  # nothing to watch token by token: one plain
        async with (
            sem
        ):  # request, whose usage is the server's exact count (stop-string tokens included)
            text = await run.full(index, led)
        fin = run.finished[index][1]
        return Trace(text=text, answer=extract_answer(text, p.answer_type), answer_given=True,
                     num_tokens=fin.completion_tokens, finished=fin.finished)  # fmt: skip
    confs, probes = [], []

    async def probe(k: int, partial: str) -> str | None:
        async with probe_sem:
            return await run.probe(index, k, partial, led)

    async def on_delta(parts, n, _text, _tokens, top) -> bool:
        if top:
            confs.extend(token_confidence(r) for r in top)
        while cfg.probe_every and n >= (len(probes) + 1) * cfg.probe_every:
            probes.append(asyncio.create_task(probe(len(probes), "".join(parts))))
        return False  # never stop early: generate samples every trace whole

    try:
        async with sem:
            text, fin, n = await run.stream_until(index, led, on_delta, logprobs=cfg.logprobs)
        if fin is None:
            raise DeepPruneError(f"{p.id}/{index}: the stream ended without a finish")
        if cfg.logprobs and len(confs) != n:
            raise DeepPruneError(
                f"{p.id}/{index}: the server returned logprobs for {len(confs)} of {n} tokens"
            )
        answers = await all_or_none(probes)
    except BaseException:
        for t in probes:  # no probe outlives its failed trace
            t.cancel()
        await asyncio.gather(*probes, return_exceptions=True)
        raise
    extra = {"probes": list(answers)} if cfg.probe_every else {}
    return Trace(text=text, answer=extract_answer(text, p.answer_type), answer_given=True,
                 num_tokens=fin.completion_tokens, finished=fin.finished, confs=confs if cfg.logprobs else None,
                 extra=extra)  # fmt: skip


__all__ = [
    "LiveLedger",
    "LiveResult",
    "Run",
    "Setup",
    "load_recipe",
    "prepare",
    "sample_trace",
    "solve_one",
]
