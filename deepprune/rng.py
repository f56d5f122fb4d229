"""Counter-based randomness: every draw is a pure function of a key, never of call order.

A run of DeepPrune (one question, one repeat, one tau) draws its member samples and its
fallback sample from :func:`floyd_sample` / :func:`uniform01` keyed by :func:`run_key`, so
it gives the same result alone, inside a sweep, in the batched replay engine, in the
readable :class:`deepprune.greedy.GreedyClusterer`, or at generation time.

Example:
    >>> k = run_key(0, 1, "q7")
    >>> bool(uniform01(k, 3) == uniform01(k, 3))
    True
"""

from __future__ import annotations

import hashlib

import numpy as np

_M1, _M2 = np.uint64(0xBF58476D1CE4E5B9), np.uint64(0x94D049BB133111EB)
_G = np.uint64(0x9E3779B97F4A7C15)  # the golden-ratio increment of splitmix64
_STEPS = np.array([(k * 0x9E3779B97F4A7C15) % 2**64 for k in range(1, 257)], dtype=np.uint64)
FALLBACK_STREAM = 0xFA11BAC  # our choice: the stream id of the all-singletons fallback sample


def mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a bijective scramble of uint64 values."""
    x = np.asarray(x, dtype=np.uint64)
    with np.errstate(over="ignore"):  # wrap-around multiplication is the point
        x = (x ^ (x >> np.uint64(30))) * _M1
        x = (x ^ (x >> np.uint64(27))) * _M2
    return x ^ (x >> np.uint64(31))


def uniform01(*parts) -> np.ndarray:
    """Uniform floats in (0, 1), a deterministic function of the uint64 ``parts``."""
    x = np.zeros((), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for p in parts:
            x = mix64(x * _G + np.asarray(p, dtype=np.uint64))
    return ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def run_key(*parts) -> int:
    """A run's 64-bit key from any values (seed, repeat, question id, ...)."""
    h = hashlib.blake2b("\0".join(map(str, parts)).encode(), digest_size=8)
    return int.from_bytes(h.digest(), "little")


def floyd_sample(sizes: np.ndarray, k: int, *key_parts) -> np.ndarray:
    """A uniform k-subset of range(sizes[e]) per row e, without replacement (Floyd's algorithm).

    Args:
        sizes: (rows,) population sizes, each >= k.
        k: subset size (at most 256).
        key_parts: one uint64 value (or a (rows,) array) per part; the draws of a row
            depend only on its parts.

    Returns:
        (rows, k) indices, in draw order.
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    rows = len(sizes)
    base = np.zeros(rows, dtype=np.uint64)
    for part in key_parts:
        base = mix64(base * _G + np.asarray(part, dtype=np.uint64))
    x = mix64(base[:, None] + _STEPS[:k])  # (rows, k) independent draws
    u = ((x >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53
    # Floyd: for i in n-k .. n-1, draw t uniform in [0, i]; if t was taken already, take i
    i = sizes[:, None] - k + np.arange(k)
    t = (u * (i + 1)).astype(np.int64)
    t, i = t.T.copy(), i.T.copy()  # (k, rows): contiguous rows for the column loop
    out = np.empty((k, rows), dtype=np.int64)
    for it in range(k):
        taken = np.zeros(rows, dtype=bool)
        for prev in out[:it]:
            taken |= prev == t[it]
        out[it] = np.where(taken, i[it], t[it])
    return out.T


def fallback_pick(key: int, n: int, k: int) -> np.ndarray:
    """Arrival positions of the all-singletons fallback: a keyed uniform k-subset of range(n)."""
    u = uniform01(np.full(n, key, dtype=np.uint64), np.full(n, FALLBACK_STREAM), np.arange(n))
    return np.argsort(u, kind="stable")[: min(k, n)]
