"""The live engine's methods and their registry: each one way to spend a problem's traces on a server.

``cons@N`` (every trace), ``cons@k`` (k traces; by default DeepPrune's budget on the same
problem), ``deepprune`` (prefixes, greedy clustering with a judge, the largest cluster
completed; resume or stream mode; with ``--judge probe`` the judge reads answer probes asked of
each trace at its cut), and, from :mod:`deepprune.engine.early_stop`, ``deepconf``
(DeepConf-online from streamed logprobs), ``parallel-probe`` and ``short-m@k``, and, from
:mod:`deepprune.engine.waves`, ``asc``, ``consol`` and ``esc`` in parallel waves. A method is a :class:`GenMethod` over a :class:`Run` (the problem, its backend
and seeds) and a :class:`~deepprune.engine.ledger.LiveLedger`; the orchestrator
(:mod:`deepprune.engine.solve`) runs them and records what they return. Parameters are the
fields of :class:`~deepprune.engine.solve.SolveConfig` each method reads.
"""

from __future__ import annotations

import asyncio
import json
import random
import time

import numpy as np

from deepprune.answers import extract_answer
from deepprune.engine.early_stop import DeepConfOnline, ParallelProbeLive, ShortMKLive
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.run import GenMethod, Run, all_or_none
from deepprune.engine.waves import WaveLive
from deepprune.errors import ConfigError
from deepprune.grading import AnswerClasses
from deepprune.greedy import GreedyClusterer
from deepprune.judges import LabelledJudge, judge_scores_indexed
from deepprune.rng import run_key
from deepprune.truncate import PrefixWatch, parse_spec

# run order: cons@k takes its budget from the two before it
METHODS = (
    "cons@N",
    "deepprune",
    "cons@k",
    "deepconf",
    "parallel-probe",
    "short-m@k",
    "asc",
    "consol",
    "esc",
)


class ConsN(GenMethod):
    name = "cons@N"

    async def run(self, r, led, before):
        texts = await all_or_none(r.full(i, led) for i in range(r.n))
        return {"answer": r.vote(list(texts)), "completed": list(range(r.n))}


class ConsK(GenMethod):
    name = "cons@k"

    async def run(self, r, led, before):
        k = r.cfg.k
        if k == 0:  # DeepPrune's budget: its tokens in traces of cons@N's mean length
            mean = before["cons@N"]["tokens"] / r.n
            k = before["deepprune"]["tokens"] / max(mean, 1e-9)
        k = int(min(max(round(k), 1), r.n))
        texts = await all_or_none(r.full(i, led) for i in range(k))
        return {"answer": r.vote(list(texts)), "completed": list(range(k)), "k": k}


class _Live:
    """A streaming trace: its prefix arrives first (stream mode: the trace runs on), with the
    answer probes fired on the way (probe position -> task giving its answer)."""

    def __init__(self):
        self.prefix: asyncio.Future = (
            asyncio.get_running_loop().create_future()
        )  # (text, tokens, done)
        self.generated = 0
        self.probes: dict[int, asyncio.Task] = {}


class DeepPrune(GenMethod):
    name = "deepprune"

    def __init__(self, judge):
        self.judge = judge

    def _probe_plan(self, r: Run) -> tuple[int, set[int]]:
        """(cut in tokens, probe positions the judge reads) for ``probe:J``; (0, {}) otherwise.
        The probe judge reads the last ``last`` positions before the cut (0-based J-last .. J-1)."""
        spec = parse_spec(r.cfg.trunc)
        if spec.kind != "probe":
            return 0, set()
        j, last = int(spec.value), getattr(self.judge, "last", 1)
        return j * r.cfg.probe_every, set(range(max(j - last, 0), j))

    def _probes_fired(
        self, r: Run, i: int, live: _Live, text: str, led: LiveLedger, ended: bool
    ) -> None:
        """Fire the probes the generated tokens have reached; at the trace's end, one more for the
        partial block it ended in (the probe a pool records there)."""
        cut, positions = self._probe_plan(r)
        pe = r.cfg.probe_every
        for k in sorted(positions - set(live.probes)):
            at_end = ended and k * pe < live.generated < (k + 1) * pe
            if live.generated >= (k + 1) * pe or at_end:
                live.probes[k] = asyncio.create_task(r.probe(i, k, text, led))

    async def _prefix(self, r: Run, i: int, led: LiveLedger) -> tuple[str, int, bool]:
        """Resume mode: generate trace i up to its truncation point; (prefix, tokens, trace ended)."""
        spec = parse_spec(r.cfg.trunc)
        if spec.kind == "probe":
            cut, positions = self._probe_plan(r)
            live = _Live()
            if positions == {int(spec.value) - 1}:  # only the probe at the cut: one plain request
                req = r.request(i, min(cut, r.cfg.max_tokens))
                text, fin = await r.backend.complete(req)
                led.add(fin, req.request_id)
                live.generated = fin.completion_tokens
                self._probes_fired(r, i, live, text, led, ended=live.generated < cut)
                return (text, live.generated, fin.finished or live.generated < cut), live
            await self._stream(
                r, i, led, live, run_on=False
            )  # earlier positions: probes on the way
            return live.prefix.result(), live
        if spec.kind == "tokens":  # the server itself stops at K and reports its usage
            req = r.request(i, min(int(spec.value), r.cfg.max_tokens))
            text, fin = await r.backend.complete(req)
            led.add(fin, req.request_id)
            return (text, fin.completion_tokens, fin.finished), None
        live = _Live()
        text, _ = await self._stream(r, i, led, live, run_on=False)
        return live.prefix.result(), None

    async def _stream(
        self, r: Run, i: int, led: LiveLedger, live: _Live, run_on: bool
    ) -> tuple[str, int]:
        """Stream trace i; resolve ``live.prefix`` at the truncation point; stop there unless ``run_on``."""
        cut, positions = self._probe_plan(r)
        watch = PrefixWatch(f"tokens:{cut}" if cut else r.cfg.trunc)

        async def on_delta(parts, _tokens, text, n, _top) -> bool:
            live.generated += n
            if positions and not live.prefix.done():
                self._probes_fired(r, i, live, "".join(parts), led, ended=False)
            if not live.prefix.done():
                prefix = watch.feed(text, n)
                if prefix is not None:
                    live.prefix.set_result((prefix, live.generated, False))
                    return not run_on and not cut  # probe:J: the server stops at the cut itself
            return False

        # resume mode with probes: the server stops at the cut
        max_tokens = r.cfg.max_tokens if run_on or not cut else min(cut, r.cfg.max_tokens)
        try:
            text, _, _ = await r.stream_until(i, led, on_delta, max_tokens=max_tokens)
        except BaseException as e:  # whoever waits for this prefix hears of the failure
            if not live.prefix.done() and isinstance(e, asyncio.CancelledError):
                live.prefix.cancel()
            elif not live.prefix.done():
                live.prefix.set_exception(e)
                live.prefix.exception()  # retrieved: in resume mode nobody else awaits it
            raise
        if not live.prefix.done():  # the trace ended before its truncation point
            if positions:
                self._probes_fired(r, i, live, text, led, ended=True)
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
        view = [tuple(texts)]  # the judge's view, rebuilt on each arrival (judges cache per view)

        def score(t, members):
            t0 = time.perf_counter()
            m = np.asarray(members)
            lab = (
                None
                if labels is None
                else ((labels[t] >= 0) & (labels[t] == labels[m])).astype(int)
            )
            served = getattr(self.judge, "served_tokens", None)  # a judge server's own usage
            s = judge_scores_indexed(self.judge, view[0], np.full(len(m), t), m, lab, r.p.question)
            led.judge_calls += len(m)
            if served is not None:
                led.judge_tokens += self.judge.served_tokens - served
            else:
                cost = self.judge.cost([texts[t]] + [texts[x] for x in members])
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
            lives = [None] * n
            prefixes = [asyncio.create_task(self._prefix(r, i, led)) for i in range(n)]
        cut, positions = self._probe_plan(r)

        async def tagged(i):
            if stream:
                got = await prefixes[i]
            else:
                got, lives[i] = await prefixes[i]
            seen = text = got[0]
            if positions:  # what the probe judge reads: the answers at the probed positions, as a pool stores them
                answers = {k: await t for k, t in lives[i].probes.items()}
                probes = [answers.get(k) for k in range(max(positions) + 1)]
                seen = json.dumps({"answer_type": r.p.answer_type, "probes": probes})
            return i, (seen, text, *got[1:])

        async def finish() -> dict:
            """The prefixes arrive and are clustered; the chosen traces are completed; the vote."""
            partial, ptok, ended, arrivals = [""] * n, [0] * n, [False] * n, []
            for fut in asyncio.as_completed(arriving):
                i, (seen, text, ntok, done) = await fut
                texts[i], partial[i], ptok[i], ended[i] = seen, text, ntok, done
                view[0] = tuple(texts)
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
                failed = [results[i] for i in chosen if isinstance(results[i], BaseException)]
                if failed:
                    raise failed[0]
                finals = [results[i][0] for i in chosen]
                for i in chosen:  # ran on to its end: by itself unless at the token limit
                    r.completed[i] = (results[i][0], results[i][1] < cfg.max_tokens)
                led.inflight_waste = sum(
                    lives[i].generated - ptok[i] for i in range(n) if i not in chosen
                )
                led.sequential_tokens = max(lv.generated for lv in lives)
            else:  # resume: continue the chosen traces from prompt + prefix

                async def cont(i):
                    if ended[i]:
                        r.completed[i] = (partial[i], True)
                        return partial[i], 0
                    req = r.request(i, max(cfg.max_tokens - ptok[i], 1), partial[i], ptok[i])
                    text, fin = await r.backend.complete(req)
                    led.add(fin, req.request_id)
                    led.reread_tokens += fin.prompt_tokens or 0
                    r.completed[i] = (partial[i] + text, fin.finished)
                    return partial[i] + text, fin.completion_tokens

                outs = await all_or_none(cont(i) for i in chosen)
                finals = [t for t, _ in outs]
                led.sequential_tokens = max(ptok) + max((c for _, c in outs), default=0)
            return {"answer": r.vote(finals), "completed": chosen, "fallback": fallback,
                    "clusters": len(g.clusters), "arrivals": arrivals}  # fmt: skip

        work = tasks if stream else prefixes
        arriving = [asyncio.create_task(tagged(i)) for i in range(n)]
        work = work + arriving
        try:
            return await finish()
        finally:  # on a failure: nothing keeps running, no probe is left behind
            work += [t for lv in lives if lv is not None for t in lv.probes.values()]
            for t in work:
                t.cancel()
            await asyncio.gather(*work, return_exceptions=True)


def build_methods(cfg, judge) -> list[GenMethod]:
    """The methods of ``cfg.methods``, in :data:`METHODS` order (cons@k after what sets its budget)."""
    table = {
        "cons@N": ConsN,
        "cons@k": ConsK,
        "deepprune": lambda: DeepPrune(judge),
        "deepconf": DeepConfOnline,
        "parallel-probe": ParallelProbeLive,
        "short-m@k": ShortMKLive,
        **{m: (lambda m=m: WaveLive.from_config(m, cfg)) for m in ("asc", "consol", "esc")},
    }
    return [table[m]() for m in METHODS if m in cfg.methods]  # cons@k after what sets its budget
