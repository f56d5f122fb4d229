import pytest

from deepprune.stats import agreement_by_question, pool_stats


def test_agreement_by_question(tiny_pool):
    agree = agreement_by_question(tiny_pool)
    # q1 answers 5, 5, 7 (one unanswered): 1 of 3 pairs agree; q2 answers B, B, C: 1 of 3
    assert agree == {"q1": pytest.approx(1 / 3), "q2": pytest.approx(1 / 3)}
    assert pool_stats(tiny_pool)["pairwise_agreement"] == pytest.approx(2 / 6)
