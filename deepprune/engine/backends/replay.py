"""A saved pool streamed as if a server were generating it (deterministic; tests and cross-checks).

A request names its trace in ``meta`` (``question`` id, trace ``index`` and, for a continuation,
the ``start`` token it resumes from). The trace's text
is cut into its tokens (the pool's counter), streamed in order at ``rate`` tokens per second
(0: as fast as possible), and the shipped ``num_tokens`` is reported as the server's usage.
A pool with ``confs`` streams them as one-candidate log-probabilities (-conf), so the
confidences computed downstream equal the shipped ones.
"""

from __future__ import annotations

import asyncio

from deepprune.engine.backends.base import Backend, Delta, Finish, Request
from deepprune.errors import ConfigError
from deepprune.pools import Question, read_pool
from deepprune.tokens import get_counter, trace_tokens


class ReplayBackend(Backend):
    name = "replay"

    def __init__(self, pool, rate: float = 0.0, tokenizer: str | None = None):
        questions = pool if isinstance(pool, list) else read_pool(pool)
        self.questions: dict[str, Question] = {q.id: q for q in questions}
        self.rate = rate
        self.counter = get_counter(tokenizer)
        self.served: dict[
            str, int
        ] = {}  # request id -> tokens streamed (what a pruned request really cost)

    def trace(self, req: Request):
        qid, index = req.meta.get("question"), req.meta.get("index")
        q = self.questions.get(qid)
        if q is None or index is None or not 0 <= index < len(q.traces):
            raise ConfigError(f"replay: the pool has no trace {index!r} of question {qid!r}")
        return q.traces[index]

    async def stream(self, req: Request):
        t = self.trace(req)
        if not t.text:
            raise ConfigError(
                f"replay: trace {req.meta.get('index')} of {req.meta.get('question')!r} has no text to stream"
            )
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
