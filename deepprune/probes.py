"""Answer probes: the cue that asks a partial trace for its answer, and what one probe costs.

A probe is one short greedy request: the prompt, the partial trace, then :data:`DEFAULT_CUE`;
the model writes the answer and closes the brace, where the request stops (stop string ``}``;
a ``}`` that closes an inner brace is put back and the probe continued: ``Run.probe``). Its cost
in reasoning-model tokens:

- **measured** (``generate``, ``solve``): the server's usage of the request: its generated
  tokens, and its prompt tokens (the new cue tokens; the prompt + partial trace re-read is a
  prefix-cache hit where the server has one, reported apart as cached where it says so);
- **estimated** (the replay of a saved pool, which records probe answers but not their cost):
  :func:`probe_tokens`, our token model: the cue's tokens plus the answer's tokens and its
  closing brace; a probe that gave no answer ran to the probe limit (:data:`PROBE_MAX_TOKENS`).
  The prompt + partial-trace re-read is not charged (a cache hit under prefix caching).
"""

from __future__ import annotations

from functools import lru_cache

from deepprune.answers import extract_answer
from deepprune.tokens import get_counter

# our choice: forces a \boxed{} answer from a partial trace
DEFAULT_CUE = "\nThe final answer is \\boxed{"
PROBE_MAX_TOKENS = 16  # our choice: max tokens of one probe answer (generate/solve --probe-tokens)


@lru_cache(maxsize=1)
def cue_tokens(cue: str = DEFAULT_CUE) -> int:
    """Tokens of the cue (the fallback counter: a pool without a tokenizer)."""
    return get_counter(None).count(cue)


@lru_cache(maxsize=65536)
def probe_tokens(answer: str | None) -> int:
    """Estimated reasoning-model tokens of one probe (our token model, see the module docstring).

    Example:
        >>> probe_tokens("42") == cue_tokens() + 2
        True
        >>> probe_tokens(None) == cue_tokens() + PROBE_MAX_TOKENS
        True
    """
    if answer is None:
        return cue_tokens() + PROBE_MAX_TOKENS
    return cue_tokens() + min(get_counter(None).count(str(answer)) + 1, PROBE_MAX_TOKENS)


def box_closed(cue: str, completion: str) -> int | None:
    """Where ``completion`` closes the brace a cue opens (``\\boxed{``): the index just past its
    closing ``}``; None while it is open. A cue that opens no brace is closed at once (0).

    Example:
        >>> box_closed(DEFAULT_CUE, r"\\frac{1}{2}} so")
        12
        >>> box_closed(DEFAULT_CUE, r"\\frac{1}{2}") is None
        True
    """
    if not cue.endswith("{"):
        return 0
    depth = 1
    for n, ch in enumerate(completion):
        depth += {"{": 1, "}": -1}.get(ch, 0)
        if depth == 0:
            return n + 1
    return None


def probe_answer(cue: str, completion: str, answer_type: str = "math") -> str | None:
    """The answer a probe gave: ``cue + completion`` parsed, where a cue that opens a brace
    (``\\boxed{``) counts only once the completion closes it (an unclosed box is no answer).

    Example:
        >>> probe_answer(DEFAULT_CUE, "42} so")
        '42'
        >>> probe_answer(DEFAULT_CUE, "42") is None
        True
    """
    if not cue.endswith("{"):
        return extract_answer(cue + completion, answer_type)
    end = box_closed(cue, completion)
    return None if end is None else extract_answer(cue + completion[:end], answer_type)
