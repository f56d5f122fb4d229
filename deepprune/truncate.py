"""Truncation of traces into prefixes, addressed by spec strings.

Specs (used by every command):

- ``tokens:K`` -- the first K tokens (DeepPrune §3, "first k tokens"; the paper uses 500).
- ``words:K`` -- the text before the K-th occurrence of a reasoning word (DeepPrune §3;
  the paper uses 25). A trace with fewer than K reasoning words is kept whole.
- ``frac:F`` -- the first F of the trace's tokens (0 < F <= 1), for short traces where
  the two strategies above cover the whole trace, final answer included (our addition).
- ``full`` -- the whole trace.

Reasoning words match case-insensitively as whole words.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from deepprune.errors import ConfigError
from deepprune.tokens import TokenCounter, get_counter

# our choice of list; covers the words the paper names as reasoning-step markers
REASONING_WORDS: tuple[str, ...] = (
    "wait", "thus", "since", "so", "therefore", "but", "however", "alternatively",
    "hmm", "let me", "first", "then", "now", "hence", "because", "okay", "maybe",
)  # fmt: skip


PAPER_TRUNC = "words:25"  # DeepPrune §4: prefixes cut before the 25th reasoning word


@lru_cache(maxsize=16)
def _words_regex(words: tuple[str, ...]) -> re.Pattern:
    alts = sorted((re.escape(w).replace(r"\ ", r"\s+") for w in words), key=len, reverse=True)
    return re.compile(r"\b(?:" + "|".join(alts) + r")\b", re.IGNORECASE)


@dataclass(frozen=True)
class Truncation:
    """A parsed truncation spec. Build with :func:`parse_spec`."""

    kind: str  # tokens | words | frac | full
    value: float = 0
    words: tuple[str, ...] = field(default=REASONING_WORDS, compare=False)

    @property
    def spec(self) -> str:
        if self.kind == "full":
            return "full"
        v = int(self.value) if self.kind != "frac" else self.value
        return f"{self.kind}:{v}"


def parse_spec(spec: str | Truncation, words: Sequence[str] | None = None) -> Truncation:
    """Parse ``tokens:500`` / ``words:25`` / ``frac:0.3`` / ``full``.

    Raises:
        ValueError: naming the spec and the accepted forms.

    Example:
        >>> parse_spec("words:25").value
        25
    """
    if isinstance(spec, Truncation):
        return spec
    wl = tuple(w.lower() for w in words) if words else REASONING_WORDS
    s = spec.strip()
    if s == "full":
        return Truncation("full", 0, wl)
    kind, _, val = s.partition(":")
    try:
        if kind in ("tokens", "words", "probe"):
            k = int(val)
            if k <= 0:
                raise ValueError
            return Truncation(kind, k, wl)
        if kind == "frac":
            f = float(val)
            if not 0 < f <= 1:
                raise ValueError
            return Truncation(kind, f, wl)
    except ValueError:
        pass
    raise ConfigError(
        f"bad truncation spec {spec!r}: expected tokens:K, words:K or probe:J (a positive integer), "
        "frac:F (0 < F <= 1) or full"
    )


def truncate(text: str | None, spec: str | Truncation, counter: TokenCounter | None = None) -> str:
    """Cut a trace to its prefix under ``spec``.

    Args:
        text: the trace text (None is treated as empty).
        spec: a spec string or parsed :class:`Truncation`.
        counter: token counter for ``tokens``/``frac`` (default: the fallback counter).

    Returns:
        The prefix (the whole text when the trace is shorter than the cut).

    Example:
        >>> truncate("First a. Then b. So c.", "words:2")
        'First a. '
    """
    t = parse_spec(spec)
    if t.kind == "probe":
        raise ConfigError(
            "probe:J cuts a trace at its J-th answer probe: it needs a pool's probes, not text"
        )
    text = text or ""
    counter = counter or get_counter(None)
    if t.kind == "full":
        return text
    if t.kind == "tokens":
        return counter.prefix(text, int(t.value))
    if t.kind == "frac":
        n = counter.count(text)
        return counter.prefix(text, math.ceil(t.value * n))
    k = int(t.value)
    for i, m in enumerate(_words_regex(t.words).finditer(text), start=1):
        if i == k:
            return text[: m.start()]
    return text


class PrefixWatch:
    """The truncation point of a trace that is still streaming, found incrementally.

    Feed each delta with :meth:`feed`; it returns the prefix once the cut is reached (then
    the watch is done), else None. ``tokens:K``: the text when K tokens have arrived;
    ``words:K``: the text before the K-th reasoning word, exactly as :func:`truncate` cuts
    the text received so far. Each delta is scanned once from the end of the last reasoning
    word that can no longer change, not the whole growing text again.

    Example:
        >>> w = PrefixWatch("words:2")
        >>> w.feed("First a. Th", 3) is None
        True
        >>> w.feed("en b.", 2)
        'First a. '
    """

    def __init__(self, spec: str | Truncation):
        self.spec = parse_spec(spec)
        if self.spec.kind not in ("tokens", "words"):
            raise ConfigError(f"--trunc {self.spec.spec}: only tokens:K and words:K can be watched "
                              "while a trace streams")  # fmt: skip
        self.parts: list[str] = []
        self.tokens = 0
        self.prefix: str | None = None
        self._found, self._pos = 0, 0  # settled matches; where the next scan starts

    @property
    def done(self) -> bool:
        return self.prefix is not None

    def text(self) -> str:
        return "".join(self.parts)

    def feed(self, delta: str, tokens: int) -> str | None:
        if self.done:
            return None
        self.parts.append(delta)
        self.tokens += tokens
        if self.spec.kind == "tokens":
            if self.tokens >= int(self.spec.value):
                self.prefix = self.text()
            return self.prefix
        text, k = self.text(), int(self.spec.value)
        found = self._found
        for m in _words_regex(self.spec.words).finditer(text, self._pos):
            found += 1
            if found == k:
                self.prefix = text[: m.start()]
                return self.prefix
            if m.end() < len(text):  # a character follows: this match is settled
                self._found, self._pos = found, m.end()
        return None
