"""Question-level splits: no question is ever on both sides (pair datasets, trained judges,
held-out replays and cross-fitting all split here, with the same seeds).

    >>> train, test = split_questions(["a", "b", "c", "d", "e"], 0.4, seed=0)
    >>> sorted(train | test) == ["a", "b", "c", "d", "e"] and not train & test and len(test) == 2
    True
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from deepprune.errors import ConfigError


def split_questions(
    keys: Sequence[str], test_fraction: float, seed: int
) -> tuple[set[str], set[str]]:
    """Split question keys into (train, test), never one key in both."""
    keys = sorted(set(keys))
    rng = random.Random(seed)
    rng.shuffle(keys)
    n_test = round(len(keys) * test_fraction)
    if test_fraction > 0 and len(keys) >= 2:
        n_test = min(max(n_test, 1), len(keys) - 1)
    return set(keys[n_test:]), set(keys[:n_test])


def question_folds(keys: Sequence[str], folds: int, seed: int) -> dict[str, int]:
    """Assign question keys to ``folds`` folds (sorted, seeded shuffle, round robin).

    Cross-fitting trains on every fold but one and scores the one left out, so each
    question is judged by a model that never saw it.
    """
    if folds < 2:
        raise ConfigError(f"folds must be >= 2, got {folds}")
    keys = sorted(set(keys))
    random.Random(seed).shuffle(keys)
    return {k: n % folds for n, k in enumerate(keys)}
