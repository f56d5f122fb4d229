"""Build a trace pool from a model server: N traces per problem, with token counts, confidences, probes.

    deepprune generate --problems ../shared/data/problems/aime24.jsonl --n 16 \
        --base-url http://127.0.0.1:8000/v1 --model Qwen/Qwen3-8B --max-tokens 32768 --out runs/aime24.jsonl

Each trace is one streamed request (its own seed, derived from ``--seed``, the problem id and
the trace index). A trace records ``text``, the extracted ``answer``, ``num_tokens`` (the
server's usage), ``finished`` (EOS / stop string vs the token limit), ``confs`` with
``--logprobs K`` (DeepConf's token confidence, K = 20 in DeepConf) and, with
``--probe-every P``, ``probes``: every P generated tokens a short greedy request (prompt +
partial trace + an answer cue) asks the model for its answer so far (cheap under prefix
caching). Finished problems are appended to ``OUT.partial`` as they complete, so a killed run
resumes with only unfinished problems redone; the pool is written atomically at the end.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from deepprune.artifacts import check_outputs
from deepprune.engine.backends import Backend, Server, get_backend, read_prompt
from deepprune.engine.live import LiveLedger, Run, sample_trace
from deepprune.engine.problems import (
    DEFAULT_PROMPT,
    Problem,
    RecordFile,
    resolve_problems,
)
from deepprune.engine.run import all_or_none, check_backend, run_sync
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.pools import Question, iter_pool, write_pool
from deepprune.probes import DEFAULT_CUE, PROBE_MAX_TOKENS


@dataclass
class GenerateConfig:
    """Sampling settings (all values our choice unless a paper is named)."""

    n: int = 8  # traces per problem
    max_tokens: int = 4096  # token limit per trace
    temperature: float = 0.8  # sampling temperature
    top_p: float = 0.95  # nucleus sampling top-p
    seed: int = 0  # random seed (our choice: 0)
    logprobs: int = 0  # top-k logprobs per token for confs (DeepConf: 20); 0 = no confs
    probe_every: int = 0  # generated tokens between answer probes; 0 = no probes
    probe_tokens: int = PROBE_MAX_TOKENS  # max tokens of one probe answer
    concurrency: int = 8  # traces in flight at once (across problems)
    prompt: str = DEFAULT_PROMPT  # a template with {question}, or @FILE
    answer_cue: str = DEFAULT_CUE  # text appended to a partial trace to ask for its answer (probes)
    stop: tuple[str, ...] = ()  # stop strings

    def __post_init__(self):
        for name in ("n", "max_tokens", "concurrency", "probe_tokens"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        for name in ("logprobs", "probe_every"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 <= self.temperature <= 5 or not 0 < self.top_p <= 1:
            raise ConfigError(
                f"temperature must be in [0, 5] and top_p in (0, 1], got {self.temperature}, {self.top_p}"
            )
        self.prompt = read_prompt(self.prompt)
        if "{question}" not in self.prompt:
            raise ConfigError("the prompt template must contain {question}")


@dataclass
class GenerateJob:
    """``deepprune generate``: sample a trace pool from a model server (OpenAI-compatible, vLLM, or a replayed pool)."""

    out: str = field(
        default="", metadata={"required": True}
    )  # the pool to write (resumes from OUT.partial / OUT)
    server: Server = field(default_factory=Server)
    config: GenerateConfig = field(default_factory=GenerateConfig)

    def run(self) -> list[str]:
        check_outputs(self)  # before the first request
        sv = self.server
        res = generate(sv.problems, self.out, self.config, progress=sv.progress, **sv.args())
        if res["usage_flags"]:
            rid, what = res["usage_flags"][0]
            print(f"warning: {len(res['usage_flags'])} request(s) had a server usage the client did not "
                  f"trust (counted by the client instead), e.g. {rid}: {what}", file=sys.stderr)  # fmt: skip
        if sv.json:
            return [json.dumps(res, indent=2)]
        rate = f", {res['tokens_per_s']:.1f} tokens/s" if res["tokens_per_s"] else ""
        return [f"{res['out']}: {res['problems']} problems ({res['generated_problems']} generated now), "
                f"{res['tokens_generated']} tokens in {res['seconds']:.1f} s{rate}"]  # fmt: skip


def _settings(cfg: GenerateConfig, backend: str, model: str | None) -> dict:
    return {"generated_by": "deepprune generate", "backend": backend, "model": model, **asdict(cfg)}


def _read_done(paths: list[Path], settings: dict) -> dict[str, Question]:
    """Questions already finished by an earlier run with the same settings (a torn last line is redone)."""
    done = {}
    keys = [k for k in settings if k not in ("concurrency",)]
    for path in paths:
        if not path.exists() or path.stat().st_size == 0:  # a partial whose only line was torn
            continue
        for q in iter_pool(path, skip_invalid=True):
            old = q.meta.get("generate", {})
            diff = [k for k in keys if json.dumps(old.get(k)) != json.dumps(settings[k])]
            if diff:
                raise DeepPruneError(
                    f"{path}: generated with other settings ({', '.join(diff)}); use another --out"
                )
            done[q.id] = q
    return done


async def _generate(problems: list[Problem], backend: Backend, cfg: GenerateConfig, out: Path,
                    settings: dict, progress: bool) -> dict:  # fmt: skip
    from tqdm import tqdm

    partial = out.with_name(out.name + ".partial")
    records = RecordFile(partial)
    records.repair()  # a torn last line: set aside (and said), so it neither blocks nor swallows the next
    done = _read_done([out, partial], settings)
    todo = [p for p in problems if p.id not in done]
    led = LiveLedger()  # the one ledger of the whole run
    t0 = time.perf_counter()
    if todo:
        await check_backend(backend, cfg.max_tokens)
    sem, probe_sem = asyncio.Semaphore(cfg.concurrency), asyncio.Semaphore(cfg.concurrency)
    bar = tqdm(total=len(todo) * cfg.n, unit="trace", desc="generate", disable=not progress)

    async def one(p: Problem):
        run = Run(backend, p, cfg)

        async def counted(i):
            t = await sample_trace(run, i, cfg, sem, probe_sem, led)
            bar.update(1)
            bar.set_postfix(tok_s=f"{led.tokens / max(time.perf_counter() - t0, 1e-9):.1f}")
            return t

        traces = await all_or_none(counted(i) for i in range(cfg.n))
        q = Question(p.id, list(traces), question=p.question, gold=p.gold, answer_type=p.answer_type,
                     meta={"generate": settings}, extra={"probe_every": cfg.probe_every} if cfg.probe_every else {})  # fmt: skip
        await records.append(
            json.dumps(q.to_dict(), ensure_ascii=False)
        )  # one whole line per problem
        done[p.id] = q

    try:
        await all_or_none(one(p) for p in todo)
    finally:
        bar.close()
        await backend.close()
    seconds = time.perf_counter() - t0
    write_pool(out, [done[p.id] for p in problems])
    partial.unlink(missing_ok=True)
    return {"out": str(out), "problems": len(problems), "generated_problems": len(todo),
            "traces_generated": len(todo) * cfg.n, "tokens_generated": led.tokens,
            "probe_tokens": led.probe_tokens, "seconds": seconds,
            "tokens_per_s": led.tokens / seconds if todo and seconds > 0 else None,
            "token_count": sorted(led.usage_source), "usage_flags": led.usage_flags}  # fmt: skip


def _start(problems, out, cfg: GenerateConfig, backend: str, progress: bool, backend_args: dict):
    probs = resolve_problems(problems, backend, backend_args)
    out = Path(out)
    if out.is_dir():
        raise DeepPruneError(f"{out}: is a directory; --out takes a pool file name")
    out.parent.mkdir(parents=True, exist_ok=True)
    b = get_backend(backend, **backend_args)
    settings = _settings(cfg, backend, backend_args.get("model"))
    return _generate(probs, b, cfg, out, settings, progress)


def generate(problems: str | os.PathLike | list[Problem], out: str | os.PathLike, cfg: GenerateConfig,
             backend: str = "openai", progress: bool = True, **backend_args) -> dict:  # fmt: skip
    """Generate a pool (see the module docstring); returns counts, tokens and tokens/s.

    ``backend_args``: ``base_url`` and ``model`` (openai), ``model`` (vllm), ``pool`` (replay).
    With the replay backend and no problems file, the pool's own questions are the problems.
    Where an event loop already runs (Jupyter), the run gets a worker thread of its own;
    ``await generate_async(...)`` runs on the caller's loop.
    """
    return run_sync(_start(problems, out, cfg, backend, progress, backend_args))


async def generate_async(problems, out, cfg: GenerateConfig, backend: str = "openai", progress: bool = True,
                         **backend_args) -> dict:  # fmt: skip
    """:func:`generate` on the caller's event loop."""
    return await _start(problems, out, cfg, backend, progress, backend_args)
