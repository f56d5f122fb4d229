"""The vote by hand: weights, ties to the first seen, traces without an answer (issue 38: the
mutation score of ``vote.py``)."""

import numpy as np
import pytest

from deepprune.vote import consensus, majority_class


@pytest.mark.parametrize("labels,weights,want", [
    ([2, 1, 1], None, 1),  # counts, not the last vote
    ([2, 1, 1, 2], None, 2),  # a tie: the class seen first
    ([1, 1, 2], [0.2, 0.2, 1.0], 2),  # weighted: 0.4 against 1.0
    ([1, 1, 2], [0.6, 0.6, 1.0], 1),
    ([-1, -1, 3], [9.0, 9.0, 0.1], 3),  # no answer never votes, whatever its weight
    ([-1, -1], None, -1), ([], None, -1),
])  # fmt: skip
def test_majority_class(labels, weights, want):
    assert majority_class(labels, weights) == want


@pytest.mark.parametrize("answers,err_votes,want", [
    ([-1, -1, 2], False, 2), ([-1, -1, 2], True, -1),  # with err_votes, no answer is a class
    ([0, 0, 1], False, 0),  # class 0 is an answer
    ([3], False, 3), ([-1], False, -1), ([], False, -1),
    ([5, 3, 3, 5], False, 5),  # a tie: the one that appears first, not the smallest
    ([1, 2, 2, 7, 7, 7], False, 7),
])  # fmt: skip
def test_consensus(answers, err_votes, want):
    assert consensus(np.array(answers, dtype=int), err_votes) == want
