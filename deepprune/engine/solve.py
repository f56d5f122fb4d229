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
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deepprune.artifacts import atomic_write, check_outputs, config_hash
from deepprune.engine.backends import Backend, Server, get_backend, read_prompt
from deepprune.engine.ledger import LiveLedger, counter_check, run_notes, solve_table, summarise
from deepprune.engine.methods import METHODS, build_methods
from deepprune.engine.problems import DEFAULT_PROMPT, Problem, RecordFile, resolve_problems
from deepprune.engine.run import Run, all_or_none
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.grading import answers_equal
from deepprune.greedy import ClusterConfig
from deepprune.judges import JUDGES, get_judge, parse_judge_spec
from deepprune.probes import DEFAULT_CUE, PROBE_MAX_TOKENS
from deepprune.truncate import parse_spec


@dataclass
class SolveConfig:
    """One solve run. Cluster defaults come from :class:`ClusterConfig` (the paper's)."""

    n: int = 16  # traces per problem
    methods: tuple[str, ...] = (
        "cons@N",
        "deepprune",
        "cons@k",
    )  # of cons@N, cons@k, deepprune, deepconf, parallel-probe, short-m@k
    # our choice, from the committed tables: the answer-probe judge is the cheap judge that matches
    # the oracle (Online/PROBES.md); any judge spec works (lexical:jaccard, sbert,calib=FILE, ...)
    judge: str = "probe"
    # probe:J (the J-th answer probe, with --judge probe), tokens:K or words:K (paper: words:25);
    # frac: needs the finished length. Our choice: the first probe
    trunc: str = "probe:1"
    # generated tokens between answer probes (probe:J cuts at J x this; Parallel-Probe's spacing on
    # the shared probe pools is 500); our choice for the default's short local traces: 32
    probe_every: int = 32
    probe_tokens: int = PROBE_MAX_TOKENS  # max tokens of one probe answer (greedy)
    answer_cue: str = DEFAULT_CUE  # text after the partial trace that asks for its answer
    # Parallel-Probe (Zheng et al., arXiv 2602.03845), the published configuration:
    pp_T: int = 40  # rounds the consensus must hold before the early stop
    pp_patience: int = 7  # rounds a trace may disagree with the consensus before it is pruned
    pp_warm_up: int = 15  # rounds before any pruning
    pp_max_rounds: int = 100  # rounds at most
    short_k: int = 0  # short-m@k (Hassid et al. 2025): traces started at once (0: all N)
    # short-m@k: traces that must end before every other is stopped (paper: 1 or 3)
    short_m: int = 1
    mode: str = "resume"  # resume | stream
    k: float = 0.0  # cons@k traces; 0 = DeepPrune's budget on the same problem (our choice)
    # seeded arrival order (as `deepprune prune`) instead of server timing
    deterministic: bool = False
    tau: float = ClusterConfig.tau  # DeepPrune §4: similarity threshold
    K: int = ClusterConfig.K  # DeepPrune §4: maximum number of clusters
    K1: int = ClusterConfig.K1  # DeepPrune §4: members sampled per cluster when comparing
    K2: int = ClusterConfig.K2  # DeepPrune §4: maximum traces completed from the largest cluster
    # our choice (not reported in the paper): fallback sample when all are singletons
    K3: int = ClusterConfig.K3
    deepconf_warmup: int = 4  # our choice for small N (DeepConf: 16 of 512)
    deepconf_window: int = 2048  # DeepConf: group size (tokens) of the sliding confidence
    deepconf_keep: float = 10.0  # DeepConf-low: the warm-up threshold keeps the top 10%
    # top-k for DeepConf's token confidence (DeepConf: 20; llama.cpp is slow with more)
    logprobs: int = 5
    max_tokens: int = 256  # token limit per trace (our choice for the local 270M model)
    temperature: float = 0.8  # sampling temperature
    top_p: float = 0.95  # nucleus sampling top-p
    seed: int = 0  # random seed (our choice: 0)
    concurrency: int = 8  # problems in flight at once
    prompt: str = DEFAULT_PROMPT  # a template with {question}, or @FILE
    stop: tuple[str, ...] = ()  # stop strings

    def __post_init__(self):
        self.prompt = read_prompt(self.prompt)
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ConfigError(f"unknown method(s) {sorted(unknown)}; known: {', '.join(METHODS)}")
        if self.mode not in ("resume", "stream"):
            raise ConfigError(f"mode must be resume or stream, got {self.mode!r}")
        spec = parse_spec(self.trunc)
        if spec.kind not in ("tokens", "words", "probe"):
            raise ConfigError(f"--trunc {self.trunc}: only tokens:K, words:K and probe:J exist at generation time "
                              "(frac: needs the finished trace's length; full prunes nothing)")  # fmt: skip
        kind = parse_judge_spec(self.judge)[0]
        if kind not in JUDGES:  # a typo fails here, before any generation
            raise ConfigError(
                f"unknown judge {kind!r} in spec {self.judge!r}; known kinds: {', '.join(JUDGES)}"
            )
        probe_judge = kind == "probe"
        if "deepprune" in self.methods and (spec.kind == "probe") != probe_judge:
            raise ConfigError(f"--judge {self.judge} with --trunc {self.trunc}: the probe judge reads answer probes "
                              "(--trunc probe:J) and every other judge reads text (tokens:K or words:K)")  # fmt: skip
        needs_probes = (
            "deepprune" in self.methods and probe_judge
        ) or "parallel-probe" in self.methods
        if needs_probes and self.probe_every < 1:
            raise ConfigError(
                "the probe judge and parallel-probe need --probe-every >= 1 (tokens between probes)"
            )
        for name in ("probe_tokens", "pp_T", "pp_patience", "pp_max_rounds", "short_m"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.short_k < 0 or self.short_k and self.short_m > self.short_k:
            raise ConfigError(
                f"short-m@k needs 0 <= m <= k (k = 0: N), got m={self.short_m}, k={self.short_k}"
            )
        if self.pp_warm_up < 0:
            raise ConfigError(f"pp_warm_up must be >= 0, got {self.pp_warm_up}")
        if (
            "cons@k" in self.methods
            and self.k == 0
            and not {"cons@N", "deepprune"} <= set(self.methods)
        ):
            raise ConfigError(
                "cons@k with k=0 (DeepPrune's budget) needs cons@N and deepprune too (or set --k)"
            )
        for name in ("n", "max_tokens", "concurrency", "deepconf_warmup", "deepconf_window"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if "deepconf" in self.methods and not 0 < self.deepconf_warmup < self.n:
            raise ConfigError(f"deepconf_warmup must be in [1, n), got {self.deepconf_warmup}")
        if "{question}" not in self.prompt:
            raise ConfigError("the prompt template must contain {question}")
        _ = self.cluster  # validates tau and K*

    @property
    def cluster(self) -> ClusterConfig:
        return ClusterConfig(self.tau, self.K, self.K1, self.K2, self.K3)


async def _solve_problem(
    backend: Backend, p: Problem, cfg: SolveConfig, methods, done: dict, write
) -> list[dict]:
    before = {m: rec for m, rec in done.items()}
    out = []
    for m in methods:
        if m.name in before:
            continue
        led = LiveLedger()
        t0 = time.perf_counter()
        res = await m.run(Run(backend, p, cfg), led, before)
        wall = time.perf_counter() - t0
        correct = (
            None if p.gold is None else bool(answers_equal(res["answer"], p.gold, p.answer_type))
        )
        rec = {"question": p.id, "method": m.name, "seed": cfg.seed, "correct": correct, "wall_s": wall,
               "tokens": led.tokens, "prompt_tokens": led.prompt_tokens, "reread_tokens": led.reread_tokens,
               "judge_calls": led.judge_calls, "judge_tokens": led.judge_tokens,
               "sequential_tokens": led.sequential_tokens, "inflight_waste": led.inflight_waste,
               "overhead_s": led.overhead_s, "token_count": sorted(led.usage_source), "requests": led.requests,
               "usage_flags": led.usage_flags,
               "probe_calls": led.probe_calls, "probe_tokens": led.probe_tokens,
               "probe_prompt_tokens": led.probe_prompt_tokens, "probe_cached_tokens": led.probe_cached_tokens,
               "net_tokens": led.net_tokens,
               **res}  # fmt: skip
        before[m.name] = rec
        await write(rec)
        out.append(rec)
    return out


async def _solve(
    problems: list[Problem], backend: Backend, cfg: SolveConfig, out: Path | None, progress: bool
):
    from tqdm import tqdm

    judge = get_judge(cfg.judge) if "deepprune" in cfg.methods else None
    methods = build_methods(cfg, judge)
    results_cfg = {
        k: v for k, v in asdict(cfg).items() if k != "concurrency"
    }  # what decides results
    settings = {"config": asdict(cfg), "config_hash": config_hash(results_cfg)}
    records: list[dict] = []
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        cfg_path = out / "config.json"
        if (
            cfg_path.exists()
            and json.loads(cfg_path.read_text())["config_hash"] != settings["config_hash"]
        ):
            raise DeepPruneError(
                f"{cfg_path}: this run directory holds another configuration; use another --out"
            )
        atomic_write(cfg_path, json.dumps(settings, indent=1))
        records = RecordFile(out / "records.jsonl").read()  # a torn line: set aside, redone
    done = {(r["question"], r["method"]) for r in records}
    todo = [p for p in problems if any((p.id, m.name) not in done for m in methods)]
    if todo:
        await backend.check()
    sem = asyncio.Semaphore(cfg.concurrency)
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
            await _solve_problem(backend, p, cfg, methods, mine, write)
            bar.update(1)

    t0, cpu0 = time.perf_counter(), time.process_time()
    n0, c0 = len(records), await backend.generated_counter() if todo else None
    try:
        await all_or_none(one(p) for p in todo)
        counters = counter_check(
            c0, await backend.generated_counter() if todo else None, records[n0:]
        )
    finally:
        bar.close()
        await backend.close()
    ids = {p.id for p in problems}
    mine = [r for r in records if r["question"] in ids]
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    # the client's own CPU time (asyncio, HTTP, parsing, judge, clusterer) as a share of the wall time:
    # an upper bound on the time not spent waiting for the server
    return {"rows": summarise(mine, cfg.methods), "records": mine, "seconds": wall, "client_cpu_s": cpu,
            "client_cpu_share": cpu / wall if wall > 0 else None, "solved_now": len(todo), "counters": counters,
            **settings}  # fmt: skip


def solve(problems, cfg: SolveConfig, backend: str = "openai", out: str | os.PathLike | None = None,
          progress: bool = True, **backend_args) -> dict:  # fmt: skip
    """Run every method of ``cfg`` on every problem against a live backend (see the module docstring).

    Returns ``{"rows": per-method summary, "records": per (problem, method), ...}``; with ``out``,
    records are appended to ``OUT/records.jsonl`` as they finish (a rerun resumes) and the resolved
    config is written to ``OUT/config.json``.
    """
    probs = resolve_problems(problems, backend, backend_args)
    if "deepprune" in cfg.methods:
        get_judge(cfg.judge)  # a bad judge spec fails before any generation
    b = get_backend(backend, **backend_args)
    pool = getattr(
        b, "questions", None
    )  # a replayed pool: what a method needs must be there, before any output
    needs = "parallel-probe" in cfg.methods or (
        "deepprune" in cfg.methods and cfg.judge.split(":")[0] == "probe"
    )
    if pool and needs and not all("probes" in t.extra for q in pool.values() for t in q.traces):
        raise ConfigError(f"{backend_args.get('pool')}: the pool has no answer probes, which --judge probe and "
                          "parallel-probe need (use --judge lexical:jaccard --trunc tokens:K, or a pool with probes)")  # fmt: skip
    return asyncio.run(_solve(probs, b, cfg, Path(out) if out else None, progress))


@dataclass
class SolveJob:
    """``deepprune solve``: run DeepPrune and its baselines against a live model server; measure the saving."""

    out: str | None = None  # run directory: records.jsonl (resumable) and config.json
    markdown: str | None = None  # also write the table here
    server: Server = field(default_factory=Server)
    config: SolveConfig = field(default_factory=SolveConfig)

    def run(self) -> list[str]:
        check_outputs(self)  # every output checked before the first request
        if self.out and Path(self.out).exists() and not Path(self.out).is_dir():
            raise ConfigError(f"--out {self.out}: is a file; --out takes a run directory")
        sv = self.server
        res = solve(sv.problems, self.config, out=self.out, progress=sv.progress, **sv.args())
        table = solve_table(res["rows"]) + run_notes(res)
        if self.markdown:
            atomic_write(
                self.markdown,
                f"<!-- generated by: deepprune solve (config {res['config_hash']}) -->\n\n{table}\n",
            )
        return [json.dumps(res["rows"], indent=2) if sv.json else table]
