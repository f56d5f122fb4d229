"""What every live method shares: :class:`Run` (one problem: its backend, prompt, seeds, the
trace and probe requests, the vote) and the :class:`GenMethod` interface."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from deepprune.answers import extract_answer
from deepprune.engine.backends import Backend, Finish, Request
from deepprune.engine.ledger import LiveLedger
from deepprune.engine.problems import trace_seed
from deepprune.grading import AnswerClasses
from deepprune.probes import box_closed, probe_answer
from deepprune.problems import Problem
from deepprune.vote import majority_class


async def all_or_none(aws) -> list:
    """``asyncio.gather`` that, when one awaitable fails, cancels the others and waits for them to
    unwind (their streams closed) before raising: nothing keeps running, nothing waits on a dead task."""
    tasks = [asyncio.ensure_future(a) for a in aws]
    try:
        return await asyncio.gather(*tasks)
    finally:
        for t in tasks:
            t.cancel()  # a no-op for the finished ones
        await asyncio.gather(*tasks, return_exceptions=True)


async def check_backend(backend: Backend, max_tokens: int) -> None:
    """Before the first request: the backend's :meth:`~Backend.check` (one-line errors), then a
    warning on stderr where ``max_tokens`` cannot fit the server's context."""
    import sys

    await backend.check()
    if warn := backend.context_warning(max_tokens):
        print(warn, file=sys.stderr)


def run_sync(coro):
    """``asyncio.run(coro)``; where an event loop already runs in this thread (Jupyter, IPython),
    in a worker thread with a loop of its own instead of failing with "asyncio.run() cannot be
    called from a running event loop"."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    import concurrent.futures

    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="deepprune") as pool:
        return pool.submit(asyncio.run, coro).result()


class Run:
    """One problem: the backend, the seeds and the helpers every method shares."""

    def __init__(self, backend: Backend, p: Problem, cfg, messages: tuple = ()):
        self.backend, self.p, self.cfg = backend, p, cfg
        self.prompt = cfg.prompt.replace("{question}", p.question)
        pool = backend.pool_question(p.id)  # a replayed problem has only its pool's traces
        self.n = min(cfg.n, len(pool.traces)) if pool is not None else cfg.n
        self.finished: dict[
            int, tuple
        ] = {}  # index -> (text, Finish) of every trace generated in full
        # index -> (whole text, ended by itself) of every trace the method completed and voted over
        # (the proxy returns them as choices)
        self.completed: dict[int, tuple[str, bool]] = {}
        self.messages = tuple(
            messages
        )  # the chat API's conversation (the proxy), sent with every request

    def request(
        self, i: int, max_tokens: int, suffix: str = "", start: int = 0, logprobs: int = 0
    ) -> Request:
        meta = {"question": self.p.id, "index": i, "start": start}
        rid = f"{self.p.id}/{i}" + (f"+{start}" if start else "")
        return Request(rid, self.prompt, trace_seed(self.cfg, self.p.id, i), max_tokens, self.cfg.temperature,
                       self.cfg.top_p, logprobs, tuple(self.cfg.stop), meta, continuation=suffix,
                       messages=self.messages)  # fmt: skip

    async def complete(self, req: Request, led: LiveLedger) -> tuple[str, Finish]:
        """One non-streamed request (a prefix cut by the server, a continuation), charged to the
        ledger: the one way a method asks the backend for a whole completion."""
        text, fin = await self.backend.complete(req)
        led.add(fin, req.request_id)
        return text, fin

    async def full(self, i: int, led: LiveLedger) -> str:
        text, fin = await self.complete(self.request(i, self.cfg.max_tokens), led)
        led.sequential_tokens = max(led.sequential_tokens, fin.completion_tokens)
        self.finished[i] = (text, fin)
        self.completed[i] = (text, fin.finished)
        return text

    async def stream_until(self, i: int, led: LiveLedger, on_delta, stop=None, max_tokens: int | None = None,
                           logprobs: int = 0) -> tuple[str, Finish | None, int]:  # fmt: skip
        """Stream trace i (``max_tokens``, default the config's; ``logprobs``: top-k per token), calling
        ``await on_delta(parts so far, tokens so far, this delta's text, its tokens, its top-k logprobs)``
        after each delta, until the trace ends,
        ``on_delta`` returns True or ``stop`` (an asyncio.Event) is set; the request is charged to the
        ledger either way (a stream we closed: the tokens received; the server may have made one or
        two more). Returns (text, the server's Finish or None, tokens)."""
        req = self.request(
            i, self.cfg.max_tokens if max_tokens is None else max_tokens, logprobs=logprobs
        )
        parts, fin, generated, cancelled = [], None, 0, False
        gen = self.backend.stream(req)
        try:
            async for item in gen:
                if isinstance(item, Finish):
                    fin = item
                    break
                parts.append(item.text)
                generated += item.tokens
                if await on_delta(parts, generated, item.text, item.tokens, item.top_logprobs) or (
                    stop is not None and stop.is_set()
                ):
                    break
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            await gen.aclose()
            got = fin if fin is not None else Finish(generated, None, False, "stream")
            if got.prompt_tokens is None and not cancelled:  # a stream without usage: the server's
                got = replace(got, prompt_tokens=await self.backend.prompt_tokens(req))  # tokenizer
            led.add(got, req.request_id)
        return "".join(parts), fin, generated

    async def probe(self, i: int, k: int, partial: str, led: LiveLedger) -> str | None:
        """Answer probe k of trace i: the model's answer from ``partial`` (prompt + partial trace +
        the cue; greedy, at most ``probe_tokens`` generated), charged to the ledger's probe columns.

        A cue that opens a brace (``\\boxed{``) stops at ``}``: the probe ends with the answer, not
        at ``probe_tokens``. A ``}`` that closes an inner brace (``\\frac{1}{2}``) is put back and
        the probe continues, in a new request, with the tokens it has left. Where the server says
        which stop ended a request (vLLM, SGLang), an end of text inside the box is no answer; where
        it does not (llama.cpp), a stopped request is read as stopped at the brace."""
        cfg, said = self.cfg, ""
        brace = cfg.answer_cue.endswith("{")
        left = cfg.probe_tokens
        for part in range(cfg.probe_tokens):  # each request generates at least one token
            rid = f"{self.p.id}/{i}/probe{k}" + (f".{part}" if part else "")
            req = Request(rid, self.prompt, 0, left, 0.0, 1.0, 0, ("}",) if brace else (),
                          {"question": self.p.id, "index": i, "probe": k},
                          continuation=partial + cfg.answer_cue + said, messages=self.messages)  # fmt: skip
            text, fin = await self.backend.complete(req)
            led.add_probe(fin, req.request_id)
            said += text
            left -= fin.completion_tokens
            if box_closed(cfg.answer_cue, said) is not None:
                break  # no brace to wait for, or the server gave the closing brace itself
            if not fin.finished or fin.stopped_by not in (None, "}") or left <= 0:
                break  # out of tokens, or an end of text inside the box: no answer
            said += "}"  # the stop string, which the server leaves out of the text
            if box_closed(cfg.answer_cue, said) is not None:
                break
        return probe_answer(cfg.answer_cue, said, self.p.answer_type)

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
