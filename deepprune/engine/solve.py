"""Generation-time pruning: run DeepPrune (and its baselines) against a live server, measure what it saves.

    deepprune solve --problems DeepPrune_data/problems/arith24.jsonl --base-url http://127.0.0.1:8765/v1 \
        --model gemma3-270m --n 16 --judge lexical:jaccard --trunc tokens:32 --out runs/solve

For one problem, DeepPrune launches N traces (one request each, its own seed); each trace is
generated up to its truncation point (``tokens:K``: the server stops at K tokens; ``words:K``:
the stream is closed at the K-th reasoning word), and its prefix goes to a
:class:`~deepprune.greedy.GreedyClusterer` in the order the prefixes complete on the server
(or a seeded order with ``deterministic``). When all N are in, the paper's rule picks the
traces to complete (K2 earliest members of the largest cluster; K3 when all are singletons);
``resume`` mode continues them as new requests from prompt + prefix (prefix caching makes the
re-read cheap; the re-read prompt tokens are reported), ``stream`` mode lets all traces run on
and stops the others at that moment (the tokens they generated past their prefix are the
in-flight waste). The answers of the completed traces are majority-voted.

Every method is one :class:`GenMethod` over the same problem, seeds and ledger: ``cons@N``,
``cons@k``, ``deepprune``, ``deepconf`` (online, from streamed logprobs). The ledger is measured:
tokens generated (the server's usage; closed streams: the tokens received), prompt tokens,
judge calls and input tokens, wall time, sequential tokens (the longest chain of tokens
generated one after another: the latency proxy), in-flight waste, and the orchestrator's own
time (not spent waiting for the server).
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deepprune.artifacts import atomic_write, check_outputs, config_hash, file_sha256, provenance
from deepprune.engine.backends import Backend, Server, get_backend
from deepprune.engine.ledger import counter_check, run_notes, solve_table, summarise
from deepprune.engine.live import Setup, prepare, solve_one
from deepprune.engine.problems import RecordFile, TraceFile, resolve_problems
from deepprune.engine.run import all_or_none, check_backend, run_sync
from deepprune.engine.solve_config import SolveConfig
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.grading import answers_equal
from deepprune.problems import Problem
from deepprune.redact import redact_config


async def _solve_problem(
    backend: Backend, p: Problem, setup: Setup, done: dict, write, traces=None
) -> list[dict]:
    cfg = setup.cfg
    before = {m: rec for m, rec in done.items()}
    out = []
    for m in setup.methods:
        if m.name in before:
            continue
        live = await solve_one(setup, backend, p, m, before)
        res = live.result
        if traces is not None and m.name == "cons@N":  # --save-traces: cons@N's N full traces
            await traces.add(
                p, live.finished, {"generated_by": "deepprune solve", "seed": cfg.seed}
            )
        correct = (
            None if p.gold is None else bool(answers_equal(res["answer"], p.gold, p.answer_type))
        )
        # the label-free measure: does this method vote what cons@N votes (None: cons@N not run)
        base = before.get("cons@N")
        agrees = (
            None
            if base is None
            else bool(answers_equal(res["answer"], base["answer"], p.answer_type))
        )
        rec = {"question": p.id, "method": m.name, "seed": cfg.seed, "correct": correct,
               "agrees_with_consN": agrees, **live.record()}  # fmt: skip
        before[m.name] = rec
        await write(rec)
        out.append(rec)
    return out


def _open_run(cfg: SolveConfig, out: Path | None, source: dict) -> tuple[dict, list[dict]]:
    """(the run's settings, the records an earlier run of the same settings left): the resume key
    is the settings and where the traces come from (backend, server, model, inputs); a run
    directory holding a run of other settings is refused, naming what differs."""
    results_cfg = {
        k: v for k, v in asdict(cfg).items() if k != "concurrent_problems"
    }  # what decides results
    settings = {
        "config": asdict(cfg),
        "source": source,
        "config_hash": config_hash({**results_cfg, **source}),
    }
    if out is None:
        return settings, []
    out.mkdir(parents=True, exist_ok=True)
    cfg_path = out / "config.json"
    old = json.loads(cfg_path.read_text()) if cfg_path.exists() else None
    if old is not None and old["config_hash"] != settings["config_hash"]:
        was = {**old.get("config", {}), **old.get("source", {})}
        diff = [
            k
            for k, v in {**results_cfg, **source}.items()
            if was.get(k) != json.loads(json.dumps(v))
        ]
        raise DeepPruneError(f"{cfg_path}: this run directory holds a run with other settings "
                             f"({', '.join(diff) or 'its format'}); use another --out")  # fmt: skip
    settings["provenance"] = provenance([source.get("problems"), source.get("pool")])
    atomic_write(cfg_path, json.dumps(redact_config(settings), indent=1))
    return settings, RecordFile(out / "records.jsonl").read()  # a torn line: set aside, redone


def _refuse_empty(new: list[dict]) -> None:
    """A run whose every trace came back empty (0 generated tokens) measured nothing: an error
    naming the likely cause, not a table of 0% accuracy (its records stay for inspection)."""
    if new and all(r["tokens"] == 0 for r in new):
        raise DeepPruneError("every trace came back empty (0 generated tokens): the server returned no text. "
                             "A base model under --api chat often does (its chat template is empty): use "
                             "--api completions with a few-shot --prompt")  # fmt: skip


def _times(t0: float, cpu0: float) -> dict:
    """The run's wall time and the client's own CPU time (asyncio, HTTP, parsing, judge, clusterer)
    as a share of it: an upper bound on the time not spent waiting for the server."""
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {
        "seconds": wall,
        "client_cpu_s": cpu,
        "client_cpu_share": cpu / wall if wall > 0 else None,
    }


async def _solve(
    problems: list[Problem],
    backend: Backend,
    setup: Setup,
    out: Path | None,
    progress: bool,
    source: dict | None = None,
    save_traces: str | os.PathLike | None = None,
):
    from tqdm import tqdm

    cfg = setup.cfg
    source = source or {}
    traces = TraceFile(out / "traces.partial" if out is not None else None) if save_traces else None
    methods = setup.methods
    settings, records = _open_run(cfg, out, source)
    done = {(r["question"], r["method"]) for r in records}
    todo = [p for p in problems if any((p.id, m.name) not in done for m in methods)]
    if records and out is not None:  # a resume says what it kept
        print(f"resuming {out}: {len(problems) - len(todo)} of {len(problems)} problems already solved, "
              f"{len(todo)} to go", file=sys.stderr)  # fmt: skip
    if todo:
        await check_backend(backend, cfg.max_tokens)
    sem = asyncio.Semaphore(cfg.concurrent_problems)
    rec_file = RecordFile(out / "records.jsonl") if out is not None else None
    bar = tqdm(total=len(todo), unit="problem", desc="solve", disable=not progress)

    async def write(rec):
        records.append(rec)
        if rec_file is not None:
            await rec_file.append(
                json.dumps({**rec, "config_hash": settings["config_hash"]}, default=list)
            )

    async def one(p):
        async with sem:
            mine = {r["method"]: r for r in records if r["question"] == p.id}
            await _solve_problem(backend, p, setup, mine, write, traces)
            bar.update(1)

    t0, cpu0 = time.perf_counter(), time.process_time()
    n0, c0 = len(records), await backend.generated_counter() if todo else None
    try:
        await all_or_none(one(p) for p in todo)
        new = records[n0:]
        counters = counter_check(c0, await backend.generated_counter() if todo else None, new)
        _refuse_empty(new)
    finally:
        bar.close()
        await backend.close()
    ids = {p.id for p in problems}
    mine = [r for r in records if r["question"] in ids]
    res = {"kind": "solve", "rows": summarise(mine, cfg.methods), "records": mine, "solved_now": len(todo),
           "counters": counters, **_times(t0, cpu0), **settings}  # fmt: skip
    if out is not None:  # what `deepprune figures` draws (the records stay in records.jsonl)
        results = redact_config({k: v for k, v in res.items() if k != "records"})
        atomic_write(out / "results.json", json.dumps(results, indent=1))
    if traces is not None:  # the problems solved before a resume are in OUT/traces.partial
        traces.write(save_traces, [p.id for p in problems])
    return res


def _start(problems, cfg: SolveConfig, backend: str, out, progress: bool, backend_args: dict):
    """Every check before the first request, then the run's coroutine."""
    save = backend_args.pop("save_traces", None)
    if save and "cons@N" not in cfg.methods:
        raise ConfigError(
            "--save-traces saves cons@N's traces (every trace generated in full): add cons@N"
        )
    probs = resolve_problems(problems, backend, backend_args)
    b = get_backend(backend, **backend_args)
    setup = prepare(cfg, b)  # the judge built once; probes and text the backend lacks: said first
    src = {k: backend_args.get(k) for k in ("base_url", "model", "pool")} | {"backend": backend}
    for k, path in (
        ("problems", problems),
        ("pool", backend_args.get("pool")),
    ):  # inputs by content
        if isinstance(path, (str, os.PathLike)):
            src[k], src[f"{k}_sha256"] = str(path), file_sha256(path)
    for w in cfg.warnings():  # every check passed: the run starts, with what it cannot do said
        print(f"warning: {w}", file=sys.stderr)
    return _solve(probs, b, setup, Path(out) if out else None, progress, src, save)


def solve(problems, cfg: SolveConfig, backend: str = "openai", out: str | os.PathLike | None = None,
          progress: bool = True, **backend_args) -> dict:  # fmt: skip
    """Run every method of ``cfg`` on every problem against a live backend (see the module docstring).

    Returns ``{"rows": per-method summary, "records": per (problem, method), ...}``; with ``out``,
    records are appended to ``OUT/records.jsonl`` as they finish (a rerun resumes) and the resolved
    config is written to ``OUT/config.json``. Where an event loop already runs (Jupyter), the run
    gets a worker thread of its own; ``await solve_async(...)`` runs on the caller's loop.
    """
    return run_sync(_start(problems, cfg, backend, out, progress, backend_args))


async def solve_async(problems, cfg: SolveConfig, backend: str = "openai", out: str | os.PathLike | None = None,
                      progress: bool = True, **backend_args) -> dict:  # fmt: skip
    """:func:`solve` on the caller's event loop (``await solve_async(...)`` in a notebook)."""
    return await _start(problems, cfg, backend, out, progress, backend_args)


@dataclass
class SolveJob:
    """``deepprune solve``: run DeepPrune and its baselines against a live model server; measure the saving."""

    # run directory: records.jsonl (resumable), config.json, results.json; runs/COMMAND as prune,
    # compare and headroom (commands that write an artifact, a pool or a judge, take a required --out)
    out: str = "runs/solve"
    markdown: str | None = None  # also write the table here
    # also write cons@N's traces (every trace generated in full) as a pool here, for prune / compare
    save_traces: str | None = None
    server: Server = field(default_factory=Server)
    config: SolveConfig = field(default_factory=SolveConfig)

    def run(self) -> list[str]:
        check_outputs(self)  # every output checked before the first request
        if self.out and Path(self.out).exists() and not Path(self.out).is_dir():
            raise ConfigError(f"--out {self.out}: is a file; --out takes a run directory")
        for flag, path in (("markdown", self.markdown), ("save-traces", self.save_traces)):
            # the run directory's files (records.jsonl: what a resume reads) are the run's own
            if path and self.out and Path(self.out).resolve() in Path(path).resolve().parents:
                raise ConfigError(f"--{flag} {path}: is inside the run directory --out {self.out}, "
                                  "whose files the run owns; write it elsewhere")  # fmt: skip
        sv = self.server
        res = solve(sv.problems, self.config, out=self.out, progress=sv.progress, save_traces=self.save_traces,
                    **sv.args())  # fmt: skip
        table = solve_table(res["rows"]) + run_notes(res)
        if self.markdown:
            atomic_write(
                self.markdown,
                f"<!-- generated by: deepprune solve (config {res['config_hash']}) -->\n\n{table}\n",
            )
        return [json.dumps(res["rows"], indent=2) if sv.json else table]
