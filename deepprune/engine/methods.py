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
import threading
import time
import weakref

import numpy as np

from deepprune.answers import extract_answer
from deepprune.engine.early_stop import DeepConfOnline, ParallelProbeLive, ShortMKLive
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.run import GenMethod, Run, all_or_none
from deepprune.engine.waves import WaveLive
from deepprune.errors import ConfigError, DeepPruneError
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
                text, fin = await r.complete(r.request(i, min(cut, r.cfg.max_tokens)), led)
                live.generated = fin.completion_tokens
                self._probes_fired(r, i, live, text, led, ended=live.generated < cut)
                return (text, live.generated, fin.finished or live.generated < cut), live
            await self._stream(
                r, i, led, live, run_on=False
            )  # earlier positions: probes on the way
            return live.prefix.result(), live
        if spec.kind == "tokens":  # the server itself stops at K and reports its usage
            text, fin = await r.complete(r.request(i, min(int(spec.value), r.cfg.max_tokens)), led)
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
        pool = r.backend.pool_question(r.p.id)
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
        """Launch n traces (prefixes in resume mode, whole streams in stream mode), cluster the
        prefixes as they arrive, complete the chosen ones, vote (a failure anywhere: nothing is left
        running, no probe behind)."""
        cfg, n = r.cfg, r.n
        meter = _JudgeMeter(self.judge, r, led, self._labels(r))
        g = GreedyClusterer(
            cfg.cluster, meter, run_key("deepprune", cfg.seed, 0, r.p.id)
        )  # prune's repeat-0 key
        stream = cfg.mode == "stream"
        lives, tasks, prefixes = self._launch(r, led, stream)
        arriving = [
            asyncio.create_task(self._tagged(r, i, stream, prefixes, lives)) for i in range(n)
        ]
        work = (tasks if stream else prefixes) + arriving
        try:
            partial, ptok, ended, arrivals = await self._cluster(r, g, meter, arriving)
            chosen, fallback = g.completed()
            if stream:  # stop every trace not chosen now; the chosen ones run to their end
                finals = await self._finish_stream(r, led, chosen, tasks, lives, ptok)
            else:  # resume: continue the chosen traces from prompt + prefix
                finals = await self._finish_resume(r, led, chosen, partial, ptok, ended)
            return {"answer": r.vote(finals), "completed": chosen, "fallback": fallback,
                    "clusters": len(g.clusters), "arrivals": arrivals}  # fmt: skip
        finally:
            work += [t for lv in lives if lv is not None for t in lv.probes.values()]
            for t in work:
                t.cancel()
            await asyncio.gather(*work, return_exceptions=True)

    def _launch(self, r: Run, led: LiveLedger, stream: bool):
        """(lives, stream tasks, prefix awaitables): stream mode runs every trace on and hands over
        its prefix when it passes the cut; resume mode generates prefixes only."""
        if stream:
            lives = [_Live() for _ in range(r.n)]
            tasks = [
                asyncio.create_task(self._stream(r, i, led, lives[i], run_on=True))
                for i in range(r.n)
            ]
            return lives, tasks, [lv.prefix for lv in lives]
        return [None] * r.n, [], [asyncio.create_task(self._prefix(r, i, led)) for i in range(r.n)]

    async def _tagged(self, r: Run, i: int, stream: bool, prefixes, lives):
        """Trace i's prefix as the judge reads it: its text, or (probe judge) the answers at the
        probed positions as a pool stores them; (i, (what the judge reads, text, tokens, ended))."""
        if stream:
            got = await prefixes[i]
        else:
            got, lives[i] = await prefixes[i]
        seen = text = got[0]
        _, positions = self._probe_plan(r)
        if positions:
            answers = {k: await t for k, t in lives[i].probes.items()}
            probes = [answers.get(k) for k in range(max(positions) + 1)]
            seen = json.dumps({"answer_type": r.p.answer_type, "probes": probes})
        return i, (seen, text, *got[1:])

    async def _cluster(self, r: Run, g: GreedyClusterer, meter: _JudgeMeter, arriving):
        """The prefixes clustered in the order they complete on the server (``--deterministic``:
        the seeded arrival order of ``deepprune prune``, repeat 0); (texts, tokens, ended, arrivals)."""
        n = r.n
        partial, ptok, ended, arrivals = [""] * n, [0] * n, [False] * n, []
        for fut in asyncio.as_completed(arriving):
            i, (seen, text, ntok, done) = await fut
            meter.seen(i, seen)
            partial[i], ptok[i], ended[i] = text, ntok, done
            arrivals.append(i)
            if not r.cfg.deterministic:
                await self._add(g, i, r.cfg.judge_timeout)
        if r.cfg.deterministic:
            order = list(range(n))
            random.Random(f"order:{r.cfg.seed}:0:{r.p.id}").shuffle(order)
            for i in order:
                await self._add(g, i, r.cfg.judge_timeout)
        return partial, ptok, ended, arrivals

    async def _add(self, g: GreedyClusterer, i: int, timeout: float) -> None:
        """Trace i joins the clusterer, in a worker thread unless the judge is ``inline``: a judge (a
        model, a judge server) never blocks the event loop, so other problems, a proxy's other clients and its /health go on, and
        a request's deadline still fires. One arrival at a time: the clusterer is never shared."""
        if self.judge.inline:  # lexical, probe, oracle: a thread hop would cost more than the score
            g.add(i)
            return
        try:
            await asyncio.wait_for(asyncio.to_thread(g.add, i), timeout)
        except TimeoutError:
            raise DeepPruneError(f"judge {self.judge.id!r}: no score within {timeout:g} s "
                                 "(--judge-timeout)") from None  # fmt: skip

    @staticmethod
    async def _finish_stream(r: Run, led: LiveLedger, chosen, tasks, lives, ptok) -> list[str]:
        """Stream mode: cancel the traces not chosen (their tokens past the prefix are the in-flight
        waste); the chosen ones run on to their end (by themselves unless at the token limit)."""
        for i in set(range(r.n)) - set(chosen):
            tasks[i].cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        failed = [results[i] for i in chosen if isinstance(results[i], BaseException)]
        if failed:
            raise failed[0]
        for i in chosen:
            r.completed[i] = (results[i][0], results[i][1] < r.cfg.max_tokens)
        led.inflight_waste = sum(
            lives[i].generated - ptok[i] for i in range(r.n) if i not in chosen
        )
        led.sequential_tokens = max(lv.generated for lv in lives)
        return [results[i][0] for i in chosen]

    @staticmethod
    async def _finish_resume(r: Run, led: LiveLedger, chosen, partial, ptok, ended) -> list[str]:
        """Resume mode: each chosen trace continues from prompt + prefix as a new request (what it
        re-reads counted); a trace that ended before its cut is already whole."""

        async def cont(i):
            if ended[i]:
                r.completed[i] = (partial[i], True)
                return partial[i], 0
            req = r.request(i, max(r.cfg.max_tokens - ptok[i], 1), partial[i], ptok[i])
            text, fin = await r.complete(req, led)
            led.reread_tokens += fin.prompt_tokens or 0
            r.completed[i] = (partial[i] + text, fin.finished)
            return partial[i] + text, fin.completion_tokens

        outs = await all_or_none(cont(i) for i in chosen)
        led.sequential_tokens = max(ptok) + max((c for _, c in outs), default=0)
        return [t for t, _ in outs]


_LOCKS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCKS_LOCK = threading.Lock()


def judge_lock(judge) -> threading.Lock:
    """The lock of ``judge``: the problems of a run (a proxy's requests) share one judge, and its
    calls run in worker threads."""
    with _LOCKS_LOCK:
        return _LOCKS.setdefault(judge, threading.Lock())


class _JudgeMeter:
    """The clusterer's score function: the judge's scores of trace t against members, its calls,
    input tokens (a judge server's own usage where it reports one) and time charged to the ledger."""

    def __init__(self, judge, r: Run, led: LiveLedger, labels):
        self.judge, self.r, self.led, self.labels = judge, r, led, labels
        self.texts = [""] * r.n  # what the judge reads of each arrived prefix
        self.view = tuple(self.texts)  # rebuilt on each arrival (judges cache per view)

    def seen(self, i: int, text: str) -> None:
        self.texts[i] = text
        self.view = tuple(self.texts)

    def __call__(self, t, members):
        with judge_lock(self.judge):  # one call at a time per judge: its usage counter is read
            return self._score(t, members)  # before and after, and a model is not thread-safe

    def _score(self, t, members):
        t0 = time.perf_counter()
        m, labels = np.asarray(members), self.labels
        lab = None if labels is None else ((labels[t] >= 0) & (labels[t] == labels[m])).astype(int)
        served = getattr(self.judge, "served_tokens", None)  # a judge server's own usage
        s = judge_scores_indexed(
            self.judge, self.view, np.full(len(m), t), m, lab, self.r.p.question
        )
        self.led.judge_calls += len(m)
        if served is not None:
            self.led.judge_tokens += self.judge.served_tokens - served
        else:
            cost = self.judge.cost([self.texts[t]] + [self.texts[x] for x in members])
            self.led.judge_tokens += int(
                cost.of(np.zeros(len(m), dtype=int), np.arange(1, len(m) + 1)).sum()
            )
        self.led.overhead_s += time.perf_counter() - t0
        return s


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
