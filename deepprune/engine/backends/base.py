"""The backend interface: start a completion, stream its tokens, stop it, report its usage.

One request per trace (``n=1``, its own seed and id), so a single trace can be stopped.
A backend's :meth:`Backend.stream` is an async generator of :class:`Delta` items ending
with one :class:`Finish`; leaving the loop early stops the trace (the stream is closed and,
where the server offers it, the request aborted).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Request:
    """One trace to generate."""

    request_id: str
    prompt: str
    seed: int
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    logprobs: int = 0  # top-k log-probabilities per generated token (0: none)
    stop: tuple[str, ...] = ()
    meta: dict = field(
        default_factory=dict, compare=False
    )  # e.g. the replay backend's (question, trace)
    # what the model already said in this turn (a prefix to resume from, a partial trace + answer
    # cue): after ``prompt`` in the completions API, a partial assistant message in the chat API
    continuation: str = ""
    # the chat API: the conversation so far (the proxy's chat requests); empty: one user message
    # holding ``prompt``
    messages: tuple = field(default=(), compare=False)

    @property
    def text(self) -> str:
        """The whole text the model continues (the completions API's prompt)."""
        return self.prompt + self.continuation


@dataclass
class Delta:
    """Newly generated text; ``tokens`` tokens, with their top-k logprobs when asked."""

    text: str
    tokens: int
    top_logprobs: list[list[float]] | None = None  # per token: the top-k candidates' logprobs


@dataclass
class Finish:
    """The end of a completion, as the server reports it."""

    completion_tokens: int  # tokens the server generated (its usage where it reports one)
    prompt_tokens: int | None
    finished: bool  # stopped by EOS / a stop string (False: hit max_tokens)
    # "usage" (the server's usage field), "stream" (one streamed delta per token) or "estimate"
    # (the replay backend's probe answers: deepprune.probes' token model)
    usage_source: str
    # prompt tokens the server read from its prefix cache, where it reports them (OpenAI's
    # usage.prompt_tokens_details.cached_tokens); None: not reported
    cached_tokens: int | None = None
    # what the client found wrong with the server's word (usage implausible, max_tokens ignored):
    # then ``completion_tokens`` is the client's own count and ``usage_source`` says so
    flags: tuple[str, ...] = ()
    # which stop ended it, where the server says (vLLM's ``stop_reason``, SGLang's ``matched_stop``):
    # the stop string, or "eos" (the end of text or a stop token); None: the server does not say
    stopped_by: str | None = None


class Backend:
    """A model server (or a saved pool) that generates traces."""

    name = "backend"

    async def stream(self, req: Request) -> AsyncIterator[Delta | Finish]:
        raise NotImplementedError
        yield  # pragma: no cover

    async def complete(self, req: Request) -> tuple[str, Finish]:
        """A short non-streamed completion (answer probes): its text and usage."""
        text, finish = [], None
        async for item in self.stream(req):
            if isinstance(item, Finish):
                finish = item
            else:
                text.append(item.text)
        return "".join(text), finish

    context: int | None = None  # the server's context length in tokens, where check() learnt it

    async def check(self) -> None:
        """Raise a one-line error if the backend cannot serve requests (server down, unknown model);
        learn the server's context length (``context``) where it reports it."""

    async def prompt_tokens(self, req: Request) -> int | None:
        """The prompt tokens ``req`` makes the server read, by the server's own tokenizer, for a
        streamed request whose server reported no usage (llama.cpp's streams, a stream we closed);
        None where it cannot say (then the ledger counts 0 and says the server did not report)."""
        return None

    def context_warning(self, max_tokens: int) -> str | None:
        """A warning when ``max_tokens`` cannot fit the server's context (prompt included), known
        after :meth:`check`; None where it fits or the server did not say."""
        if self.context is None or max_tokens < self.context:
            return None
        return (f"warning: --max-tokens {max_tokens} is not below the server's context of "
                f"{self.context} tokens (prompt included): a long trace stops at the context, not at "
                f"--max-tokens; set --max-tokens below {self.context}")  # fmt: skip

    def require_probes(self, probe_every: int | None = None) -> None:
        """Raise a one-line error if answer probes cannot be served (a server answers any probe)."""

    def require_text(self) -> None:
        """Raise a one-line error if traces have no text for a text judge (a server's always have)."""

    def pool_question(self, qid: str):
        """The saved question ``qid`` a replayed backend serves (its traces bound a run's n); None
        for a server, which can sample any number."""
        return None

    async def generated_counter(self) -> tuple[str, float] | None:
        """(counter name, value) of the server's own generated-token counter, or None where it
        exposes none (:func:`deepprune.engine.ledger.counter_check` compares it with the ledger)."""
        return None

    async def close(self) -> None:
        """Release connections or engines."""
