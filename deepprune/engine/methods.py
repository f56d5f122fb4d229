"""The live engine's methods: each one way to spend a problem's traces on a server.

``cons@N`` (every trace), ``cons@k`` (k traces; by default DeepPrune's budget on the same
problem), ``deepprune`` (prefixes, greedy clustering with a judge, the largest cluster
completed; resume or stream mode) and ``deepconf`` (DeepConf-online from streamed
logprobs). A method is a :class:`GenMethod` over a :class:`Run` (the problem, its backend
and seeds) and a :class:`~deepprune.engine.ledger.LiveLedger`; the orchestrator
(:mod:`deepprune.engine.solve`) runs them and records what they return. Parameters are the
fields of :class:`~deepprune.engine.solve.SolveConfig` each method reads.
"""

from __future__ import annotations

import asyncio
import random
import time

import numpy as np

from deepprune.answers import extract_answer
from deepprune.confidence import WindowWatch, token_confidence
from deepprune.engine.backends import Backend, Finish, Request
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.problems import Problem, trace_seed
from deepprune.errors import ConfigError, DeepPruneError
from deepprune.grading import AnswerClasses
from deepprune.greedy import GreedyClusterer
from deepprune.judges import LabelledJudge, judge_scores_indexed
from deepprune.rng import run_key
from deepprune.truncate import PrefixWatch, parse_spec
from deepprune.vote import majority_class

METHODS = (
    "cons@N",
    "deepprune",
    "cons@k",
    "deepconf",
)  # run order: cons@k takes its budget from the two before


class Run:
    """One problem: the backend, the seeds and the helpers every method shares."""

    def __init__(self, backend: Backend, p: Problem, cfg):
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

    async def full(self, i: int, led: LiveLedger) -> str:
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

    async def run(self, r: Run, led: LiveLedger, before: dict) -> dict:
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

    async def _prefix(self, r: Run, i: int, led: LiveLedger) -> tuple[str, int, bool]:
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
        self, r: Run, i: int, led: LiveLedger, live: _Live, run_on: bool
    ) -> tuple[str, int]:
        """Stream trace i; resolve ``live.prefix`` at the truncation point; stop there unless ``run_on``."""
        watch = PrefixWatch(r.cfg.trunc)
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
                    prefix = watch.feed(item.text, item.tokens)
                    if prefix is not None:
                        live.prefix.set_result((prefix, live.generated, False))
                        if not run_on:
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

    async def _trace(self, r: Run, i: int, led: LiveLedger, threshold: float | None):
        watch = WindowWatch(r.cfg.deepconf_window)
        parts, fin, stopped = [], None, False
        req = r.request(i, r.cfg.max_tokens, logprobs=r.cfg.logprobs)
        gen = r.backend.stream(req)
        async for item in gen:
            if isinstance(item, Finish):
                fin = item
                break
            if item.top_logprobs is None:
                raise DeepPruneError("deepconf needs logprobs, and the server returned none")
            parts.append(item.text)
            watch.add([token_confidence(x) for x in item.top_logprobs])
            if threshold is not None and watch.below(threshold):
                stopped = True
                break
        await gen.aclose()
        led.add(
            fin if fin is not None else Finish(len(watch), None, False, "stream"), req.request_id
        )
        led.sequential_tokens = max(led.sequential_tokens, len(watch))
        return "".join(parts), watch.lowest(), stopped

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


def build_methods(cfg, judge) -> list[GenMethod]:
    """The methods of ``cfg.methods``, in :data:`METHODS` order (cons@k after what sets its budget)."""
    table = {
        "cons@N": ConsN,
        "cons@k": ConsK,
        "deepprune": lambda: DeepPrune(judge),
        "deepconf": DeepConfOnline,
    }
    return [table[m]() for m in METHODS if m in cfg.methods]  # cons@k after what sets its budget
