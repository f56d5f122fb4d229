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
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from deepprune.answers import extract_answer
from deepprune.artifacts import atomic_write, config_hash
from deepprune.engine.backends import (
    Backend,
    Finish,
    Request,
    Server,
    get_backend,
    read_prompt,
    token_confidence,
)
from deepprune.engine.generate import DEFAULT_PROMPT, Problem, load_problems, trace_seed
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.grading import AnswerClasses, answers_equal
from deepprune.greedy import ClusterConfig, GreedyClusterer
from deepprune.judges import LabelledJudge, get_judge, judge_scores_indexed
from deepprune.rng import run_key
from deepprune.truncate import parse_spec, truncate
from deepprune.vote import majority_class

METHODS = (
    "cons@N",
    "deepprune",
    "cons@k",
    "deepconf",
)  # run order: cons@k takes its budget from the two before


@dataclass
class SolveConfig:
    """One solve run. Cluster defaults come from :class:`ClusterConfig` (the paper's)."""

    n: int = 16  # traces per problem
    methods: tuple[str, ...] = (
        "cons@N",
        "deepprune",
        "cons@k",
    )  # of cons@N, cons@k, deepprune, deepconf
    judge: str = "lexical:jaccard"  # our choice: a CPU judge that needs no fit
    # tokens:K or words:K; our choice for short generations (paper: words:25); frac: needs the future
    trunc: str = "tokens:64"
    mode: str = "resume"  # resume | stream
    k: float = 0.0  # cons@k traces; 0 = DeepPrune's budget on the same problem (our choice)
    # seeded arrival order (as `deepprune prune`) instead of server timing
    deterministic: bool = False
    tau: float = ClusterConfig.tau
    K: int = ClusterConfig.K
    K1: int = ClusterConfig.K1
    K2: int = ClusterConfig.K2
    K3: int = ClusterConfig.K3
    deepconf_warmup: int = 4  # our choice for small N (DeepConf: 16 of 512)
    deepconf_window: int = 2048  # DeepConf: group size (tokens) of the sliding confidence
    deepconf_keep: float = 10.0  # DeepConf-low: the warm-up threshold keeps the top 10%
    # top-k for DeepConf's token confidence (DeepConf: 20; llama.cpp is slow with more)
    logprobs: int = 5
    max_tokens: int = 256
    temperature: float = 0.8
    top_p: float = 0.95
    seed: int = 0
    concurrency: int = 8  # problems in flight at once
    prompt: str = DEFAULT_PROMPT  # a template with {question}, or @FILE
    stop: tuple[str, ...] = ()

    def __post_init__(self):
        self.prompt = read_prompt(self.prompt)
        unknown = set(self.methods) - set(METHODS)
        if unknown:
            raise ConfigError(f"unknown method(s) {sorted(unknown)}; known: {', '.join(METHODS)}")
        if self.mode not in ("resume", "stream"):
            raise ConfigError(f"mode must be resume or stream, got {self.mode!r}")
        spec = parse_spec(self.trunc)
        if spec.kind not in ("tokens", "words"):
            raise ConfigError(f"--trunc {self.trunc}: only tokens:K and words:K exist at generation time "
                              "(frac: needs the finished trace's length; full prunes nothing)")  # fmt: skip
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


@dataclass
class Ledger:
    """What one method cost on one problem (measured)."""

    tokens: int = 0  # generated tokens (the server's usage)
    # prompt tokens the server read (incl. re-reads on resume), where reported
    prompt_tokens: int = 0
    reread_tokens: int = 0  # resume: prompt + prefix tokens read again by continuation requests
    judge_calls: int = 0
    judge_tokens: int = 0
    # stream: tokens generated past the prefix by traces that were then pruned
    inflight_waste: int = 0
    sequential_tokens: int = 0  # longest chain of tokens generated one after another
    overhead_s: float = 0.0  # judge + clusterer time (the orchestrator's decisions)
    usage_source: set = field(default_factory=set)
    requests: list = field(
        default_factory=list
    )  # (request id, completion tokens) per finished request

    def add(self, fin: Finish, rid: str = "") -> None:
        self.tokens += fin.completion_tokens
        self.prompt_tokens += fin.prompt_tokens or 0
        self.usage_source.add(fin.usage_source)
        self.requests.append((rid, fin.completion_tokens))


class Run:
    """One problem: the backend, the seeds and the helpers every method shares."""

    def __init__(self, backend: Backend, p: Problem, cfg: SolveConfig):
        self.backend, self.p, self.cfg = backend, p, cfg
        self.prompt = cfg.prompt.replace("{question}", p.question)
        pool = getattr(backend, "questions", {}).get(
            p.id
        )  # a replayed problem has only its pool's traces
        self.n = min(cfg.n, len(pool.traces)) if pool is not None else cfg.n

    def request(
        self, i: int, max_tokens: int, suffix: str = "", start: int = 0, logprobs: int = 0
    ) -> Request:
        meta = {"question": self.p.id, "index": i, "start": start}
        rid = f"{self.p.id}/{i}" + (f"+{start}" if start else "")
        return Request(rid, self.prompt + suffix, trace_seed(self.cfg, self.p.id, i), max_tokens,
                       self.cfg.temperature, self.cfg.top_p, logprobs, tuple(self.cfg.stop), meta)  # fmt: skip

    async def full(self, i: int, led: Ledger) -> str:
        req = self.request(i, self.cfg.max_tokens)
        text, fin = await self.backend.complete(req)
        led.add(fin, req.request_id)
        led.sequential_tokens = max(led.sequential_tokens, fin.completion_tokens)
        return text

    def vote(self, texts: list[str]) -> str | None:
        """Majority answer of ``texts`` (ties: the answer seen first)."""
        answers = [extract_answer(t, self.p.answer_type) for t in texts]
        classes = AnswerClasses(answers, self.p.answer_type)
        win = majority_class(classes.labels)
        return None if win < 0 else answers[classes.labels.index(win)]


class GenMethod:
    name = "method"

    async def run(self, r: Run, led: Ledger, before: dict) -> dict:
        raise NotImplementedError


class ConsN(GenMethod):
    name = "cons@N"

    async def run(self, r, led, before):
        texts = await asyncio.gather(*(r.full(i, led) for i in range(r.n)))
        return {"answer": r.vote(list(texts)), "completed": list(range(r.n))}


class ConsK(GenMethod):
    name = "cons@k"

    async def run(self, r, led, before):
        k = r.cfg.k
        if k == 0:  # DeepPrune's budget: its tokens in traces of cons@N's mean length
            mean = before["cons@N"]["tokens"] / r.n
            k = before["deepprune"]["tokens"] / max(mean, 1e-9)
        k = int(min(max(round(k), 1), r.n))
        texts = await asyncio.gather(*(r.full(i, led) for i in range(k)))
        return {"answer": r.vote(list(texts)), "completed": list(range(k)), "k": k}


class _Live:
    """A streaming trace (stream mode): its prefix arrives first, the trace runs on."""

    def __init__(self):
        self.prefix: asyncio.Future = (
            asyncio.get_running_loop().create_future()
        )  # (text, tokens, done)
        self.generated = 0


class DeepPrune(GenMethod):
    name = "deepprune"

    def __init__(self, judge):
        self.judge = judge

    async def _prefix(self, r: Run, i: int, led: Ledger) -> tuple[str, int, bool]:
        """Resume mode: generate trace i up to its truncation point; (prefix, tokens, trace ended)."""
        spec = parse_spec(r.cfg.trunc)
        if spec.kind == "tokens":  # the server itself stops at K and reports its usage
            req = r.request(i, min(int(spec.value), r.cfg.max_tokens))
            text, fin = await r.backend.complete(req)
            led.add(fin, req.request_id)
            return text, fin.completion_tokens, fin.finished
        live = _Live()
        text, _ = await self._stream(r, i, led, live, run_on=False)
        return live.prefix.result()

    async def _stream(
        self, r: Run, i: int, led: Ledger, live: _Live, run_on: bool
    ) -> tuple[str, int]:
        """Stream trace i; resolve ``live.prefix`` at the truncation point; stop there unless ``run_on``."""
        spec = parse_spec(r.cfg.trunc)
        parts, fin = [], None
        req = r.request(i, r.cfg.max_tokens)
        gen = r.backend.stream(req)
        try:
            async for item in gen:
                if isinstance(item, Finish):
                    fin = item
                    break
                parts.append(item.text)
                live.generated += item.tokens
                if not live.prefix.done():
                    text = "".join(parts)
                    if spec.kind == "tokens" and live.generated >= int(spec.value):
                        live.prefix.set_result((text, live.generated, False))
                    elif spec.kind == "words" and truncate(text, spec) != text:
                        live.prefix.set_result((truncate(text, spec), live.generated, False))
                    if live.prefix.done() and not run_on:
                        break
        finally:
            await gen.aclose()
            if fin is not None:
                led.add(fin, req.request_id)
            else:  # closed by us: the tokens received (the server may have made one or two more)
                led.add(Finish(live.generated, None, False, "stream"), req.request_id)
        text = "".join(parts)
        if not live.prefix.done():  # the trace ended before its truncation point
            live.prefix.set_result((text, live.generated, True))
        return text, live.generated

    def _labels(self, r: Run):
        """The oracles read the final answers: only a replayed pool has them."""
        if not isinstance(self.judge, LabelledJudge):
            return None
        pool = getattr(r.backend, "questions", {}).get(r.p.id)
        if pool is None:
            raise ConfigError(
                f"judge {self.judge.id!r} needs the final answers: use it with --backend replay"
            )
        answers = [
            t.answer if t.answer_given else extract_answer(t.text, r.p.answer_type)
            for t in pool.traces
        ]
        return np.array(AnswerClasses(answers, r.p.answer_type).labels)

    async def run(self, r, led, before):
        cfg, n = r.cfg, r.n
        texts, labels = [""] * n, self._labels(r)

        def score(t, members):
            t0 = time.perf_counter()
            m = np.asarray(members)
            lab = (
                None
                if labels is None
                else ((labels[t] >= 0) & (labels[t] == labels[m])).astype(int)
            )
            s = judge_scores_indexed(
                self.judge, tuple(texts), np.full(len(m), t), m, lab, r.p.question
            )
            cost = self.judge.cost([texts[t]] + [texts[x] for x in members])
            led.judge_calls += len(m)
            led.judge_tokens += int(
                cost.of(np.zeros(len(m), dtype=int), np.arange(1, len(m) + 1)).sum()
            )
            led.overhead_s += time.perf_counter() - t0
            return s

        g = GreedyClusterer(
            cfg.cluster, score, run_key("deepprune", cfg.seed, 0, r.p.id)
        )  # prune's repeat-0 key
        stream = cfg.mode == "stream"
        if stream:
            lives = [_Live() for _ in range(n)]
            tasks = [
                asyncio.create_task(self._stream(r, i, led, lives[i], run_on=True))
                for i in range(n)
            ]
            prefixes = [lv.prefix for lv in lives]
        else:
            prefixes = [asyncio.create_task(self._prefix(r, i, led)) for i in range(n)]

        async def tagged(i):
            return i, await prefixes[i]

        ptok, ended, arrivals = [0] * n, [False] * n, []
        for fut in asyncio.as_completed([tagged(i) for i in range(n)]):
            i, (text, ntok, done) = await fut
            texts[i], ptok[i], ended[i] = text, ntok, done
            arrivals.append(i)
            if not cfg.deterministic:
                g.add(i)  # in the order the prefixes complete on the server
        if cfg.deterministic:  # the seeded arrival order of `deepprune prune` (repeat 0)
            order = list(range(n))
            random.Random(f"order:{cfg.seed}:0:{r.p.id}").shuffle(order)
            for i in order:
                g.add(i)
        chosen, fallback = g.completed()
        if stream:  # stop every trace not chosen now; the chosen ones run to their end
            for i in set(range(n)) - set(chosen):
                tasks[i].cancel()
            results = await asyncio.gather(*tasks, return_exceptions=True)
            finals = [results[i][0] for i in chosen]
            led.inflight_waste = sum(
                lives[i].generated - ptok[i] for i in range(n) if i not in chosen
            )
            led.sequential_tokens = max(lv.generated for lv in lives)
        else:  # resume: continue the chosen traces from prompt + prefix

            async def cont(i):
                if ended[i]:
                    return texts[i], 0
                req = r.request(i, max(cfg.max_tokens - ptok[i], 1), texts[i], ptok[i])
                text, fin = await r.backend.complete(req)
                led.add(fin, req.request_id)
                led.reread_tokens += fin.prompt_tokens or 0
                return texts[i] + text, fin.completion_tokens

            outs = await asyncio.gather(*(cont(i) for i in chosen))
            finals = [t for t, _ in outs]
            led.sequential_tokens = max(ptok) + max((c for _, c in outs), default=0)
        return {"answer": r.vote(finals), "completed": chosen, "fallback": fallback,
                "clusters": len(g.clusters), "arrivals": arrivals}  # fmt: skip


class DeepConfOnline(GenMethod):
    """DeepConf-online (Fu et al. 2025): warm-up traces set a confidence threshold; a later trace
    stops when its sliding-window confidence falls below it; votes weighted by confidence."""

    name = "deepconf"

    async def _trace(self, r: Run, i: int, led: Ledger, threshold: float | None):
        w = r.cfg.deepconf_window
        parts, confs, fin, stopped = [], [], None, False
        req = r.request(i, r.cfg.max_tokens, logprobs=r.cfg.logprobs)
        gen = r.backend.stream(req)
        async for item in gen:
            if isinstance(item, Finish):
                fin = item
                break
            if item.top_logprobs is None:
                raise DeepPruneError("deepconf needs logprobs, and the server returned none")
            parts.append(item.text)
            confs += [token_confidence(x) for x in item.top_logprobs]
            if threshold is not None and len(confs) >= w and float(np.mean(confs[-w:])) < threshold:
                stopped = True
                break
        await gen.aclose()
        led.add(
            fin if fin is not None else Finish(len(confs), None, False, "stream"), req.request_id
        )
        led.sequential_tokens = max(led.sequential_tokens, len(confs))
        means = (
            np.convolve(confs, np.ones(w) / w, mode="valid")
            if len(confs) >= w
            else [np.mean(confs or [0.0])]
        )
        return "".join(parts), float(np.min(means)), stopped

    async def run(self, r, led, before):
        cfg = r.cfg
        warm = await asyncio.gather(
            *(self._trace(r, i, led, None) for i in range(cfg.deepconf_warmup))
        )
        s = float(np.percentile([c for _, c, _ in warm], 100 - cfg.deepconf_keep))
        rest = await asyncio.gather(
            *(self._trace(r, i, led, s) for i in range(cfg.deepconf_warmup, r.n))
        )
        voters = [(t, c) for t, c, _ in warm if c >= s] + [
            (t, c) for t, c, stop in rest if not stop and c >= s
        ]
        answers = [extract_answer(t, r.p.answer_type) for t, _ in voters]
        classes = AnswerClasses(answers, r.p.answer_type)
        win = majority_class(classes.labels, [c for _, c in voters])
        return {"answer": None if win < 0 else answers[classes.labels.index(win)], "threshold": s,
                "stopped": sum(stop for _, _, stop in rest), "completed": len(voters)}  # fmt: skip


def build_methods(cfg: SolveConfig, judge) -> list[GenMethod]:
    table = {
        "cons@N": ConsN,
        "cons@k": ConsK,
        "deepprune": lambda: DeepPrune(judge),
        "deepconf": DeepConfOnline,
    }
    return [table[m]() for m in METHODS if m in cfg.methods]  # cons@k after what sets its budget


async def _solve_problem(
    backend: Backend, p: Problem, cfg: SolveConfig, methods, done: dict, write
) -> list[dict]:
    before = {m: rec for m, rec in done.items()}
    out = []
    for m in methods:
        if m.name in before:
            continue
        led = Ledger()
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
               **res}  # fmt: skip
        before[m.name] = rec
        await write(rec)
        out.append(rec)
    return out


def summarise(records: list[dict], methods: tuple[str, ...]) -> list[dict]:
    """One row per method: means per problem, and the reduction vs cons@N on the same problems."""
    rows = []
    base = {r["question"]: r["tokens"] for r in records if r["method"] == "cons@N"}
    for m in methods:
        rs = [r for r in records if r["method"] == m]
        if not rs:
            continue
        graded = [r["correct"] for r in rs if r["correct"] is not None]
        paired = [r for r in rs if r["question"] in base]
        rows.append({
            "method": m, "problems": len(rs), "accuracy": float(np.mean(graded)) if graded else None,
            "tokens": float(np.mean([r["tokens"] for r in rs])),
            "reduction_vs_consN": 1 - sum(r["tokens"] for r in paired) / sum(base[r["question"]] for r in paired)
            if paired and base else None,
            "sequential_tokens": float(np.mean([r["sequential_tokens"] for r in rs])),
            "wall_s": float(np.mean([r["wall_s"] for r in rs])),
            "judge_calls": float(np.mean([r["judge_calls"] for r in rs])),
            "judge_tokens": float(np.mean([r["judge_tokens"] for r in rs])),
            "inflight_waste": float(np.mean([r["inflight_waste"] for r in rs])),
            "reread_tokens": float(np.mean([r["reread_tokens"] for r in rs])),
            "overhead_share": sum(r["overhead_s"] for r in rs) / max(sum(r["wall_s"] for r in rs), 1e-9),
        })  # fmt: skip
    return rows


def solve_table(rows: list[dict]) -> str:
    """Markdown table of :func:`summarise` rows."""
    lines = ["| method | problems | accuracy | tokens / problem | reduction vs cons@N | sequential tokens | wall s / problem | judge calls | judge tokens | in-flight waste | re-read tokens | overhead |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        acc = "n/a" if r["accuracy"] is None else f"{100 * r['accuracy']:.1f}%"
        red = "n/a" if r["reduction_vs_consN"] is None else f"{100 * r['reduction_vs_consN']:.1f}%"
        lines.append(f"| {r['method']} | {r['problems']} | {acc} | {r['tokens']:,.0f} | {red} | {r['sequential_tokens']:,.0f} | "
                     f"{r['wall_s']:.1f} | {r['judge_calls']:.0f} | {r['judge_tokens']:,.0f} | {r['inflight_waste']:,.0f} | "
                     f"{r['reread_tokens']:,.0f} | {100 * r['overhead_share']:.2f}% |")  # fmt: skip
    return "\n".join(lines)


async def _solve(
    problems: list[Problem], backend: Backend, cfg: SolveConfig, out: Path | None, progress: bool
):
    from tqdm import tqdm

    judge = get_judge(cfg.judge) if "deepprune" in cfg.methods else None
    methods = build_methods(cfg, judge)
    results_cfg = {
        k: v for k, v in asdict(cfg).items() if k != "concurrency"
    }  # what decides the results
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
        rec_path = out / "records.jsonl"
        if rec_path.exists():
            for line in rec_path.read_text(encoding="utf-8").splitlines():
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError:
                    continue  # a line torn by a kill: that (problem, method) is redone
    done = {(r["question"], r["method"]) for r in records}
    todo = [p for p in problems if any((p.id, m.name) not in done for m in methods)]
    if todo:
        await backend.check()
    sem, lock = asyncio.Semaphore(cfg.concurrency), asyncio.Lock()
    bar = tqdm(total=len(todo), unit="problem", desc="solve", disable=not progress)

    async def write(rec):
        records.append(rec)
        if out is not None:
            async with lock:
                with open(out / "records.jsonl", "a", encoding="utf-8") as fh:
                    fh.write(
                        json.dumps({**rec, "config_hash": settings["config_hash"]}, default=list)
                        + "\n"
                    )
                    fh.flush()
                    os.fsync(fh.fileno())

    async def one(p):
        async with sem:
            mine = {r["method"]: r for r in records if r["question"] == p.id}
            await _solve_problem(backend, p, cfg, methods, mine, write)
            bar.update(1)

    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        await asyncio.gather(*(one(p) for p in todo))
    finally:
        bar.close()
        await backend.close()
    ids = {p.id for p in problems}
    mine = [r for r in records if r["question"] in ids]
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    # the client's own CPU time (asyncio, HTTP, parsing, judge, clusterer) as a share of the wall time:
    # an upper bound on the time not spent waiting for the server
    return {"rows": summarise(mine, cfg.methods), "records": mine, "seconds": wall, "client_cpu_s": cpu,
            "client_cpu_share": cpu / wall if wall > 0 else None, "solved_now": len(todo), **settings}  # fmt: skip


def solve(problems, cfg: SolveConfig, backend: str = "openai", out: str | os.PathLike | None = None,
          progress: bool = True, **backend_args) -> dict:  # fmt: skip
    """Run every method of ``cfg`` on every problem against a live backend (see the module docstring).

    Returns ``{"rows": per-method summary, "records": per (problem, method), ...}``; with ``out``,
    records are appended to ``OUT/records.jsonl`` as they finish (a rerun resumes) and the resolved
    config is written to ``OUT/config.json``.
    """
    if backend == "replay" and problems is None:
        from deepprune.pools import iter_pool

        problems = [
            Problem(q.id, q.question or "", q.gold, q.answer_type)
            for q in iter_pool(backend_args["pool"])
        ]
    probs = problems if isinstance(problems, list) else load_problems(problems)
    if "deepprune" in cfg.methods:
        get_judge(cfg.judge)  # a bad judge spec fails before any generation
    b = get_backend(backend, **backend_args)
    return asyncio.run(_solve(probs, b, cfg, Path(out) if out else None, progress))


@dataclass
class SolveJob:
    """``deepprune solve``: run DeepPrune and its baselines against a live model server; measure the saving."""

    out: str | None = None  # run directory: records.jsonl (resumable) and config.json
    markdown: str | None = None  # also write the table here
    server: Server = field(default_factory=Server)
    config: SolveConfig = field(default_factory=SolveConfig)

    def run(self) -> list[str]:
        from deepprune.artifacts import atomic_write

        sv = self.server
        res = solve(sv.problems, self.config, out=self.out, progress=sv.progress, **sv.args())
        table = solve_table(res["rows"])
        if res["client_cpu_share"] is not None:
            table += (f"\n\nWall {res['seconds']:.1f} s; the client's own CPU time {res['client_cpu_s']:.2f} s "
                      f"({100 * res['client_cpu_share']:.2f}% of the wall time).")  # fmt: skip
        if self.markdown:
            atomic_write(
                self.markdown,
                f"<!-- generated by: deepprune solve (config {res['config_hash']}) -->\n\n{table}\n",
            )
        return [json.dumps(res["rows"], indent=2) if sv.json else table]
