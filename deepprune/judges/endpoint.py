"""The LLM judge served by an OpenAI-compatible endpoint (vLLM, SGLang, llama.cpp): one request per pair.

    deepprune prune --pool POOL --judge llm:endpoint=http://127.0.0.1:8001/v1,model=judge

Each pair is one request (``api=completions``, the default: ``/v1/completions`` with the judge
prompt of :func:`deepprune.judges.prompt.judge_prompt`, instruction and input on two lines, then
``Answer:``; ``api=chat``: ``/v1/chat/completions`` with that instruction and input as the user
turn, as the judge was fine-tuned, the server applying the model's chat template), ``max_tokens=1``, ``temperature=0`` and the top ``logprobs`` of that one
token; the score is P(yes) / (P(yes) + P(no)) over the label words' log-probabilities (every
token that is the label word up to case and surrounding spaces, summed; a label the server did
not list among the top ones counts as absent). Pairs scored together go out concurrently, at
most ``concurrency`` at once (a thread pool, so it also works inside a running event loop). Its
cost is what the judge server reports: :attr:`served_tokens` sums every response's
``usage.prompt_tokens + usage.completion_tokens``; the live engine charges that to the ledger.
"""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from deepprune.errors import ConfigError, DeepPruneError
from deepprune.judges.base import Judge, JudgeCost, JudgePair
from deepprune.judges.llm import yes_probability
from deepprune.judges.prompt import NEGATIVE, POSITIVE, judge_prompt

TOP_LOGPROBS = 20  # our choice: vLLM's usual cap on logprobs; llama.cpp and SGLang accept it too


ANSWER_CUE = (
    "Answer:"  # our choice: a completions prompt has no assistant turn; this asks for the label
)


def endpoint_prompt(pair: JudgePair, use_question: bool = False, api: str = "completions") -> str:
    """The user turn (``chat``: the SFT data's instruction and input, one turn; the server applies
    its chat template) or the raw completions prompt (that text, then :data:`ANSWER_CUE`)."""
    instruction, inp = judge_prompt(
        pair.prefix_a, pair.prefix_b, pair.question if use_question else None
    )
    user = f"{instruction}\n{inp}"
    return user if api == "chat" else f"{user}\n{ANSWER_CUE}"


def label_logprob(top: dict[str, float], word: str) -> float | None:
    """log of the summed probability of every listed token that is ``word`` (case, spaces aside)."""
    hits = [lp for tok, lp in top.items() if tok.strip().lower() == word]
    if not hits:
        return None
    m = max(hits)
    return m + math.log(sum(math.exp(h - m) for h in hits))


def top_logprobs(choice) -> dict[str, float]:
    """The first generated token's top log-probabilities from a completions or chat choice (pure)."""
    lp = getattr(choice, "logprobs", None)
    content = getattr(lp, "content", None) if lp is not None else None
    if content:  # chat: logprobs.content[0].top_logprobs = [{token, logprob}, ...]
        return {t.token: t.logprob for t in content[0].top_logprobs or []}
    tops = getattr(lp, "top_logprobs", None) if lp is not None else None
    if not tops or tops[0] is None:
        raise DeepPruneError("judge endpoint: the response has no top_logprobs for its token")
    return dict(tops[0])


class EndpointLLMJudge(Judge):
    """A yes/no LLM judge behind an OpenAI-compatible ``/v1/completions`` endpoint."""

    def __init__(self, endpoint: str, model: str, both_orders: bool = False, use_question: bool = False,
                 concurrency: int = 8, api_key: str | None = None, timeout: float = 120.0,
                 api: str = "completions"):  # fmt: skip
        if api not in ("completions", "chat"):
            raise ConfigError(f"judge endpoint: api must be completions or chat, got {api!r}")
        self.api = api
        if not endpoint.startswith(("http://", "https://")):
            raise ConfigError(
                f"judge endpoint {endpoint!r}: expected an http(s) URL such as http://127.0.0.1:8001/v1"
            )
        if not model:
            raise ConfigError("judge endpoint: model=NAME is required (the served model's name)")
        if concurrency < 1:
            raise ConfigError(f"judge endpoint: concurrency must be >= 1, got {concurrency}")
        import openai

        self.endpoint, self.model = endpoint.rstrip("/"), model
        self.both_orders, self.use_question, self.concurrency = (
            both_orders,
            use_question,
            concurrency,
        )
        key = api_key or os.environ.get("OPENAI_API_KEY") or "EMPTY"
        self.client = openai.OpenAI(
            base_url=self.endpoint, api_key=key, timeout=timeout, max_retries=1
        )
        self.id = f"llm-endpoint:{self.endpoint}|{model}|{api}|both={int(both_orders)}|q={int(use_question)}"
        self.served_tokens = 0  # prompt + completion tokens the judge server reported
        self.requests = 0
        self._lock = threading.Lock()

    def _one(self, prompt: str) -> float:
        import openai

        try:
            if self.api == "chat":
                r = self.client.chat.completions.create(
                    model=self.model, messages=[{"role": "user", "content": prompt}], max_tokens=1,
                    temperature=0.0, logprobs=True, top_logprobs=TOP_LOGPROBS)  # fmt: skip
            else:
                r = self.client.completions.create(model=self.model, prompt=prompt, max_tokens=1, temperature=0.0,
                                                   logprobs=TOP_LOGPROBS)  # fmt: skip
        except openai.APIConnectionError:
            raise DeepPruneError(
                f"judge endpoint {self.endpoint}: no server answers there"
            ) from None
        except openai.APIStatusError as e:
            raise DeepPruneError(
                f"judge endpoint {self.endpoint}: HTTP {e.status_code}: {e.message}"
            ) from None
        if not r.choices:
            raise DeepPruneError(f"judge endpoint {self.endpoint}: a response without choices")
        top = top_logprobs(r.choices[0])
        with self._lock:
            self.requests += 1
            if r.usage is not None:
                self.served_tokens += int(r.usage.prompt_tokens or 0) + int(
                    r.usage.completion_tokens or 0
                )
        return yes_probability(label_logprob(top, POSITIVE), label_logprob(top, NEGATIVE))

    def _run(self, prompts: list[str]) -> np.ndarray:
        if not prompts:
            return np.zeros(0)
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(prompts))) as pool:
            return np.array(list(pool.map(self._one, prompts)))

    def score(self, pairs: Sequence[JudgePair]) -> np.ndarray:
        s = self._run([endpoint_prompt(p, self.use_question, self.api) for p in pairs])
        if self.both_orders:
            swapped = [JudgePair(p.prefix_b, p.prefix_a, p.question) for p in pairs]
            s = (
                s + self._run([endpoint_prompt(p, self.use_question, self.api) for p in swapped])
            ) / 2
        return s

    def cost(self, texts, counts=None):
        """An estimate for replays (the server's tokenizer is not here): the prompt around the
        prefixes and each prefix by the built-in counter; live runs charge :attr:`served_tokens`."""
        from deepprune.tokens import get_counter

        counter = get_counter(None)
        per_pair = counter.count(endpoint_prompt(JudgePair("", ""), api=self.api))
        per_prefix = np.asarray([counter.count(t) for t in texts], dtype=np.int64)
        return JudgeCost(per_prefix, per_pair, 2 if self.both_orders else 1)
