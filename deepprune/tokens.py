"""Token counting: a local HF tokenizer, or a deterministic fallback.

Pools may lack ``num_tokens``. :func:`get_counter` returns a counter built from a
tokenizer at a local path (``AutoTokenizer``), or, with no path, the fallback
counter ``regex-4char``: one token per run of up to 4 word characters and one per
other non-space character (our choice; close to BPE counts on English and LaTeX,
within ~20% of Qwen tokenizers on the shared pools). Every report names the
counter that produced its token figures (``counter.name``).
"""

from __future__ import annotations

import os
import re
from functools import lru_cache

from deepprune.errors import MissingInputError

_PIECE_RE = re.compile(r"\w{1,4}|[^\w\s]")


class TokenCounter:
    """Counts tokens and finds token boundaries (character offsets) in text."""

    name = "regex-4char"

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Character spans of each token, in order."""
        return [m.span() for m in _PIECE_RE.finditer(text)]

    def count(self, text: str | None) -> int:
        if not text:
            return 0
        return sum(1 for _ in _PIECE_RE.finditer(text))

    def prefix(self, text: str, k: int) -> str:
        """The first ``k`` tokens of ``text`` (the whole text when it is shorter)."""
        if k <= 0:
            return ""
        for i, m in enumerate(_PIECE_RE.finditer(text), start=1):
            if i == k:
                return text[: m.end()]
        return text


class HFTokenCounter(TokenCounter):
    """Token counts from a local Hugging Face tokenizer directory."""

    def __init__(self, path: str | os.PathLike):
        if not os.path.isdir(path):
            raise MissingInputError(f"tokenizer path {path}: no such directory")
        from transformers import AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(path))
        self.name = f"hf:{os.path.basename(os.path.normpath(str(path)))}"

    def spans(self, text: str) -> list[tuple[int, int]]:
        enc = self.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
        return [tuple(o) for o in enc["offset_mapping"]]

    def count(self, text: str | None) -> int:
        if not text:
            return 0
        return len(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def prefix(self, text: str, k: int) -> str:
        if k <= 0:
            return ""
        spans = self.spans(text)
        return text if k >= len(spans) else text[: spans[k - 1][1]]


@lru_cache(maxsize=8)
def get_counter(tokenizer_path: str | None = None) -> TokenCounter:
    """The counter for a tokenizer path, or the fallback counter when None."""
    return HFTokenCounter(tokenizer_path) if tokenizer_path else TokenCounter()


def trace_tokens(text: str | None, num_tokens: int | None, counter: TokenCounter) -> int:
    """Generated tokens of a trace: the pool's ``num_tokens`` when given, else counted."""
    return num_tokens if num_tokens is not None else counter.count(text)
