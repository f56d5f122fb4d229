"""Adaptive stopping live, in parallel waves: ASC, ConSol and ESC as ``solve`` and the proxy run them.

``asc`` (Adaptive-Consistency, Aggarwal et al. 2023: Beta or Dirichlet criterion at
``asc_threshold``) and ``consol`` (ConSol as Wald's SPRT at ``consol_alpha``) stream ``wave``
traces at once and decide as they end: each trace that ends adds its answer to the counts, and
once the rule says stop, every other trace of the wave is stopped. A wave that ends without a
stop is followed by the next, up to n traces. ``esc`` (Li et al. 2024) streams windows of
``wave`` traces and stops after the first window whose answers are all the same. The replay
methods are :class:`deepprune.replay.methods.waves.WaveStop` and
:class:`deepprune.replay.methods.sequential.ESC`; on the replay backend each makes the same
decisions. Cost: what the server streamed, the stopped traces included; sequential tokens: each
wave's longest stream, summed over waves.
"""

from __future__ import annotations

import asyncio

from deepprune.answers import extract_answer
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.run import GenMethod, Run, all_or_none
from deepprune.grading import answers_equal
from deepprune.stopping import AscRule, ConsolRule
from deepprune.vote import majority_class


class _Classes:
    """Answer classes in order of first appearance (equivalent answers share one; None is -1)."""

    def __init__(self, answer_type: str):
        self.reps: list[str] = []
        self.answer_type = answer_type

    def of(self, answer: str | None) -> int:
        if answer is None:
            return -1
        for c, rep in enumerate(self.reps):
            if answers_equal(answer, rep, self.answer_type):
                return c
        self.reps.append(answer)
        return len(self.reps) - 1


class WaveLive(GenMethod):
    """One wave method (see the module): ``rule`` is the replay rule whose ``stop(counts, drawn)``
    decides after each trace ends (ASC, ConSol); ``rule=None`` is ESC's window test instead."""

    def __init__(self, name: str, rule=None):
        self.name, self.rule = name, rule

    @classmethod
    def from_config(cls, name: str, cfg) -> WaveLive:
        """The method ``name`` (asc, consol, esc) with the settings of a SolveConfig."""
        if name == "asc":
            return cls(name, AscRule(cfg.asc_threshold, cfg.asc_criterion))
        if name == "consol":
            return cls(name, ConsolRule(alpha=cfg.consol_alpha))
        return cls(name)

    async def _wave(self, r: Run, led: LiveLedger, ids, state) -> bool:
        """Stream traces ``ids`` at once; True when the rule stopped the run (or ESC's window agrees)."""
        stop, generated, mine = asyncio.Event(), dict.fromkeys(ids, 0), []

        async def chain(i: int) -> None:
            async def on_delta(_parts, tokens, _text, _n, _top):
                generated[i] = tokens

            text, fin, _ = await r.stream_until(i, led, on_delta, stop)
            if fin is None or stop.is_set():
                return  # stopped: no answer
            lab = state["classes"].of(extract_answer(text, r.p.answer_type))
            state["counts"][lab] = state["counts"].get(lab, 0) + 1
            state["ended"].append((i, lab, text))
            mine.append(lab)
            r.completed[i] = (text, fin.finished)
            if self.rule is not None and self.rule.stop(state["counts"], len(state["ended"])):
                stop.set()

        await all_or_none(chain(i) for i in ids)
        state["seq"] += max(generated.values())
        if self.rule is not None:
            return stop.is_set()
        return len(mine) == len(ids) and min(mine) >= 0 and len(set(mine)) == 1  # ESC's window test

    async def run(self, r, led, before):
        w = max(r.cfg.wave, 1)
        state = {"classes": _Classes(r.p.answer_type), "counts": {}, "ended": [], "seq": 0}
        waves = 0
        for s in range(0, r.n, w):
            waves += 1
            if await self._wave(r, led, range(s, min(s + w, r.n)), state):
                break
        led.sequential_tokens = state["seq"]
        ended = state["ended"]
        if (
            self.rule is None
        ):  # ESC votes over its windows in launch order (ties: the first launched)
            ended = sorted(ended)
        win = majority_class([lab for _, lab, _ in ended])
        answer = None if win < 0 else state["classes"].reps[win]
        return {"answer": answer, "ended": len(ended), "waves": waves, "wave": w}
