"""A saved pool streamed as if a server were generating it (deterministic; tests and cross-checks).

A request names its trace in ``meta`` (``question`` id, trace ``index`` and, for a continuation,
the ``start`` token it resumes from). The trace's text
is cut into its tokens (the pool's counter), streamed in order at ``rate`` tokens per second
(0: as fast as possible), and the shipped ``num_tokens`` is reported as the server's usage.
A pool with ``confs`` streams them as one-candidate log-probabilities (-conf), so the
confidences computed downstream equal the shipped ones.

A pool without text (the probe pools) streams each trace's ``num_tokens`` as empty deltas of
:data:`CHUNK` tokens and ends a finished trace with ``\\boxed{ANSWER}`` (its recorded answer,
zero tokens), so votes read what the pool says. An answer-probe request (``meta["probe"] = k``)
is answered with the trace's recorded probe k (``ANSWER}`` after the cue; nothing where the
pool has none), its usage the token model of :func:`deepprune.probes.probe_tokens` (an estimate).
"""

from __future__ import annotations

import asyncio

from deepprune.engine.backends.base import Backend, Delta, Finish, Request
from deepprune.errors import ConfigError
from deepprune.pools import Question, read_pool
from deepprune.probes import cue_tokens, probe_tokens
from deepprune.tokens import get_counter, trace_tokens

CHUNK = 50  # our choice: tokens per delta of a trace without text (probe_every 500 is a multiple)


class ReplayBackend(Backend):
    name = "replay"

    def __init__(self, pool, rate: float = 0.0, tokenizer: str | None = None):
        questions = pool if isinstance(pool, list) else read_pool(pool)
        self.source = "replay" if isinstance(pool, list) else str(pool)
        self.questions: dict[str, Question] = {q.id: q for q in questions}
        self.rate = rate
        self.counter = get_counter(tokenizer)
        self.served: dict[
            str, int
        ] = {}  # request id -> tokens streamed (what a pruned request really cost)

    def require_probes(self, probe_every: int | None = None) -> None:
        """A pool without answer probes cannot serve a probe judge or Parallel-Probe, and probe k of
        a pool is the answer at its own spacing, not another's: both said up front."""
        if not all("probes" in t.extra for q in self.questions.values() for t in q.traces):
            raise ConfigError(f"{self.source}: the pool has no answer probes, which --judge probe and parallel-probe "
                              "need (use --judge lexical:jaccard --trunc tokens:K, or a pool with probes)")  # fmt: skip
        spacing = {q.extra.get("probe_every") for q in self.questions.values()}
        if probe_every is not None and spacing != {probe_every}:
            raise ConfigError(f"{self.source}: the pool's probes are every {', '.join(map(str, sorted(spacing, key=str)))} "
                              f"tokens, not --probe-every {probe_every}: set --probe-every to the pool's")  # fmt: skip

    def require_text(self) -> None:
        """A judge that reads prefixes' text cannot run on a pool without text (it would compare
        empty strings): said up front, as ``prune`` says it."""
        missing = sum(not t.text for q in self.questions.values() for t in q.traces)
        if missing:
            total = sum(len(q.traces) for q in self.questions.values())
            raise ConfigError(f"{self.source}: {missing} of {total} traces have no text, and the judge reads the "
                              "prefixes' text (use --judge probe with a pool with probes, or a pool with text)")  # fmt: skip

    def pool_question(self, qid: str) -> Question | None:
        return self.questions.get(qid)

    def trace(self, req: Request):
        qid, index = req.meta.get("question"), req.meta.get("index")
        q = self.questions.get(qid)
        if q is None or index is None or not 0 <= index < len(q.traces):
            raise ConfigError(f"replay: the pool has no trace {index!r} of question {qid!r}")
        return q.traces[index]

    async def _probe(self, req: Request, t):
        k = int(req.meta["probe"])
        probes = t.extra.get("probes")
        if probes is None:
            raise ConfigError(f"replay: trace {req.meta.get('index')} of {req.meta.get('question')!r} has no "
                              "answer probes to serve (a probe judge needs a pool with probes)")  # fmt: skip
        answer = probes[k] if k < len(probes) else None
        self.served[req.request_id] = n = probe_tokens(answer) - cue_tokens()
        if answer is not None:
            yield Delta(f"{answer}}}", n)
        yield Finish(n, None, answer is not None, "estimate")

    async def _textless(self, req: Request, t):
        total, start = int(t.num_tokens or 0), int(req.meta.get("start", 0))
        end = min(total, start + req.max_tokens)
        self.served[req.request_id] = 0
        for k in range(start, end, CHUNK):
            n = min(CHUNK, end - k)
            self.served[req.request_id] += n
            yield Delta("", n)
            await asyncio.sleep(n / self.rate if self.rate else 0)
        done = end >= total
        if done and t.answer is not None:  # the recorded answer, as prune votes it
            yield Delta(f"\\boxed{{{t.answer}}}", 0)
        yield Finish(end - start, None, done and t.finished, "usage")

    async def stream(self, req: Request):
        t = self.trace(req)
        if "probe" in req.meta:
            async for item in self._probe(req, t):
                yield item
            return
        if not t.text:
            if t.num_tokens is None:
                raise ConfigError(f"replay: trace {req.meta.get('index')} of {req.meta.get('question')!r} "
                                  "has neither text nor num_tokens to stream")  # fmt: skip
            async for item in self._textless(req, t):
                yield item
            return
        spans = self.counter.spans(t.text)
        total = trace_tokens(t.text, t.num_tokens, self.counter)
        cut = [0] + [e for _, e in spans[:-1]] + [len(t.text)] if spans else [0, len(t.text)]
        start = int(req.meta.get("start", 0))
        end = min(len(cut) - 1, start + req.max_tokens)
        self.served[req.request_id] = 0
        for k in range(start, end):
            self.served[req.request_id] += 1
            top = [[-t.confs[k]]] if (req.logprobs and t.confs and k < len(t.confs)) else None
            yield Delta(t.text[cut[k] : cut[k + 1]], 1, top)
            if self.rate:
                await asyncio.sleep(1.0 / self.rate)
            else:
                await asyncio.sleep(0)
        if end < len(cut) - 1:
            yield Finish(end - start, None, False, "usage")
        else:  # the shipped count of the whole trace, less what an earlier request generated
            yield Finish(max(total - start, 0), None, t.finished, "usage")
