"""Voting over answer classes (self-consistency).

Ties go to the class seen first in the given order (DeepPrune's rule: "the answer
seen first"). Traces without an answer (class -1) never vote.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def majority_class(labels: Sequence[int], weights: Sequence[float] | None = None) -> int:
    """The winning class of a (weighted) vote, or -1 when no trace has an answer.

    Example:
        >>> majority_class([2, 1, 1, 2])
        2
    """
    score: dict[int, float] = {}
    for k, lab in enumerate(labels):
        if lab < 0:
            continue
        score[lab] = score.get(lab, 0.0) + (1.0 if weights is None else float(weights[k]))
    if not score:
        return -1
    best = max(score.values())
    return next(lab for lab in score if score[lab] == best)  # dicts keep first-seen order


def consensus(answers: np.ndarray, err_votes: bool) -> int:
    """The answer most entries hold; ties go to the one that appears first. -1 where none."""
    keep = answers if err_votes else answers[answers >= 0]
    if keep.size == 0:
        return -1
    values, first, counts = np.unique(keep, return_index=True, return_counts=True)
    best = counts == counts.max()
    return int(values[best][np.argmin(first[best])])
