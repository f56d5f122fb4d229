"""Live methods that stop traces by a signal of their own: DeepConf-online (token confidence)
and Parallel-Probe (answer probes). Each is a :class:`~deepprune.engine.run.GenMethod`."""

from __future__ import annotations

import asyncio

import numpy as np

from deepprune.answers import extract_answer
from deepprune.confidence import WindowWatch, token_confidence
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.run import GenMethod, Run, all_or_none
from deepprune.errors import DeepPruneError
from deepprune.grading import AnswerClasses, answers_equal
from deepprune.vote import consensus, majority_class


class DeepConfOnline(GenMethod):
    """DeepConf-online (Fu et al. 2025): warm-up traces set a confidence threshold; a later trace
    stops when its sliding-window confidence falls below it; votes weighted by confidence."""

    name = "deepconf"

    async def _trace(self, r: Run, i: int, led: LiveLedger, threshold: float | None):
        watch = WindowWatch(r.cfg.deepconf_window)

        async def on_delta(_parts, _tokens, _text, _n, top) -> bool:  # True: stop this trace
            if top is None:
                raise DeepPruneError("deepconf needs logprobs, and the server returned none")
            watch.add([token_confidence(x) for x in top])
            return threshold is not None and watch.below(threshold)

        text, fin, _ = await r.stream_until(i, led, on_delta, logprobs=r.cfg.logprobs)
        led.sequential_tokens = max(led.sequential_tokens, len(watch))
        return text, watch.lowest(), fin is None, fin  # no Finish: stopped below the threshold

    async def run(self, r, led, before):
        cfg = r.cfg
        warm = await all_or_none(self._trace(r, i, led, None) for i in range(cfg.deepconf_warmup))
        s = float(np.percentile([c for _, c, _, _ in warm], 100 - cfg.deepconf_keep))
        rest = await all_or_none(self._trace(r, i, led, s) for i in range(cfg.deepconf_warmup, r.n))
        voting = [
            (i, t, c, fin)
            for i, (t, c, stop, fin) in enumerate(list(warm) + list(rest))
            if c >= s and not stop
        ]
        for i, t, _, fin in voting:
            r.completed[i] = (t, fin.finished)
        voters = [(t, c) for _, t, c, _ in voting]
        answers = [extract_answer(t, r.p.answer_type) for t, _ in voters]
        classes = AnswerClasses(answers, r.p.answer_type)
        win = majority_class(classes.labels, [c for _, c in voters])
        return {"answer": None if win < 0 else answers[classes.labels.index(win)], "threshold": s,
                "stopped": sum(stop for _, _, stop, _ in rest), "completed": len(voters)}  # fmt: skip


class ParallelProbeLive(GenMethod):
    """Parallel-Probe (Zheng et al., arXiv 2602.03845) at generation time, over the same probes.

    All N traces stream at once; every ``probe_every`` tokens each live trace is probed. A round
    is every live trace's next probe (a trace that ended gives its final answer and stops). After
    each round: the consensus is the answer most traces hold (ties: the lower trace index, as the
    replay's arrival order); after ``pp_warm_up`` rounds a trace that has disagreed with it for
    ``pp_patience`` rounds in a row is stopped (deviation-based pruning); once the consensus has
    held for ``pp_T`` more rounds every trace is stopped and the consensus is the answer (early
    stop); at most ``pp_max_rounds`` rounds. The decisions are those of
    :class:`deepprune.replay.methods.probing.ParallelProbe` (published defaults); the cost is what
    the server streamed and what the probes used.
    """

    name = "parallel-probe"

    @staticmethod
    async def _chain(
        r: Run, led: LiveLedger, i: int, queue: asyncio.Queue, stop: asyncio.Event, generated
    ) -> None:
        """Trace i streamed: every ``probe_every`` tokens its probe answer goes to ``queue`` (the
        round loop's), then ("end", its final answer); a failure goes there too, so the round loop
        hears of it instead of waiting for a probe forever."""
        pe = r.cfg.probe_every
        k = [0]

        async def on_delta(parts, tokens, _text, _n, _top):
            generated[i] = tokens
            while generated[i] >= (k[0] + 1) * pe and not stop.is_set():
                await queue.put(("probe", await r.probe(i, k[0], "".join(parts), led)))
                k[0] += 1

        try:
            text, fin, _ = await r.stream_until(i, led, on_delta, stop)
        except Exception as e:  # the round loop must hear of it, not wait for a probe forever
            await queue.put(("error", e))
            raise
        if fin is not None:  # ended by itself (not stopped)
            r.completed[i] = (text, fin.finished)
        await queue.put(("end", extract_answer(text, r.p.answer_type)))

    async def run(self, r, led, before):
        cfg, n = r.cfg, r.n
        queues = [asyncio.Queue() for _ in range(n)]  # ("probe" | "end", answer) per round
        stop = [asyncio.Event() for _ in range(n)]
        generated = [0] * n

        tasks = [
            asyncio.create_task(self._chain(r, led, i, queues[i], stop[i], generated))
            for i in range(n)
        ]
        reps: list[str] = []  # one answer per class, in order of first appearance
        klass = lambda a: _klass(reps, a, r.p.answer_type)  # noqa: E731
        done, last, off = np.zeros(n, bool), np.full(n, -1, dtype=np.int64), np.zeros(n, int)
        finished, cut = np.zeros(n, bool), np.zeros(n, bool)  # ended by itself; pruned by the rule

        async def advance(live: np.ndarray) -> None:
            for i in np.flatnonzero(live):
                kind, answer = await queues[i].get()
                if kind == "error":
                    raise answer
                last[i] = klass(answer)
                if kind == "end":
                    done[i] = finished[i] = True

        try:
            await advance(np.ones(n, bool))  # every trace starts and gives its first probe
            prev, stable, rounds = None, 0, 0
            for step in range(cfg.pp_max_rounds):
                await advance(~done)
                rounds = step + 1
                winner = consensus(last, False)
                live = ~done
                if step >= cfg.pp_warm_up and live.sum() > 1:
                    off = np.where(live, np.where(last != winner, off + 1, 0), off)
                    pruned = live & (off >= cfg.pp_patience)
                    for i in np.flatnonzero(pruned):
                        stop[i].set()
                    done |= pruned
                    cut |= pruned
                stable = stable + 1 if winner == prev else 0
                prev = winner
                if stable >= cfg.pp_T or done.all():
                    break
        finally:
            for e in stop:
                e.set()
            await asyncio.gather(*tasks, return_exceptions=True)
        led.sequential_tokens = max(generated)
        # finished: every trace that ended by itself, its end heard by a round or not (one ending
        # exactly at a probe boundary as the consensus stops the run generated all it had: the
        # replay counts it so too)
        finished |= np.array([i in r.completed for i in range(n)], dtype=bool)
        answer = reps[prev] if prev is not None and prev >= 0 else None
        return {"answer": answer, "rounds": rounds, "finished": int(finished.sum()),
                "pruned": int(cut.sum())}  # fmt: skip


def _klass(reps: list[str], answer: str | None, answer_type: str) -> int:
    """The class of ``answer`` among ``reps`` (one answer per class, in order of first
    appearance; a new one appended); -1 for no answer."""
    if answer is None:
        return -1
    for c, rep in enumerate(reps):
        if answers_equal(answer, rep, answer_type):
            return c
    reps.append(answer)
    return len(reps) - 1


class ShortMKLive(GenMethod):
    """short-m@k (Hassid et al. 2025) at generation time: ``short_k`` traces (0: all N) stream at
    once; when ``short_m`` of them have ended, every other is stopped, and the answer is the vote
    over those m (ties: the first to end). The replay method is
    :class:`deepprune.replay.methods.sequential.ShortMK`; on the shared probe pools small k beats
    cons@k at the same accuracy target (Online/COMPARISON.md). Cost: what the server streamed,
    the stopped traces included; sequential tokens: the most any one trace generated."""

    name = "short-m@k"

    async def run(self, r, led, before):
        cfg = r.cfg
        k = min(cfg.short_k or r.n, r.n)
        m = min(cfg.short_m, k)
        stop, ended = asyncio.Event(), []
        generated = [0] * k

        async def chain(i: int) -> None:
            async def on_delta(parts, tokens, _text, _n, _top):
                generated[i] = tokens

            text, fin, _ = await r.stream_until(i, led, on_delta, stop)
            if fin is not None and not stop.is_set():
                ended.append(text)
                r.completed[i] = (text, fin.finished)
                if len(ended) >= m:
                    stop.set()

        await all_or_none(chain(i) for i in range(k))
        led.sequential_tokens = max(generated)
        return {"answer": r.vote(ended), "k": k, "m": m, "ended": len(ended)}
