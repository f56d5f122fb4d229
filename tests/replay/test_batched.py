import random

import numpy as np
import pytest

from deepprune.greedy import ClusterConfig
from deepprune.judges import JudgeCost
from deepprune.replay.batched import PairScores, cluster_runs, deepprune_question
from deepprune.rng import floyd_sample, run_key


def _scores(classes):
    classes = np.array(classes)

    def fn(i, j):
        return (classes[i] == classes[j]).astype(float)

    return PairScores(len(classes), fn)


def test_all_agree_collapses_to_one_cluster():
    n = 30
    res = deepprune_question(list(range(n)), _scores([0] * n), ClusterConfig())
    assert len(res.clusters) == 1 and res.completed == list(range(20)) and not res.fallback


def test_all_singletons_trigger_fallback():
    n = 25
    res = deepprune_question(list(range(n)), _scores(list(range(n))), ClusterConfig(K=32, K3=7))
    assert res.fallback and len(res.completed) == 7 and len(set(res.completed)) == 7


def test_k_reached_joins_most_similar():
    # classes 0,1,2 then a new class 9 and more of class 2: K=3 -> the class-9 trace joins its best cluster
    res = deepprune_question(list(range(5)), _scores([0, 1, 2, 9, 2]), ClusterConfig(K=3))
    assert res.clusters == [
        [0, 3],
        [1],
        [2, 4],
    ]  # all averages 0 -> the first cluster (ties: created first)


def test_largest_cluster_ties_go_to_first_created_and_k1_sampling():
    res = deepprune_question([0, 1, 2, 3], _scores([0, 1, 1, 0]), ClusterConfig())
    assert res.completed == [0, 3]
    res = deepprune_question(list(range(50)), _scores([0] * 50), ClusterConfig(K1=10))
    assert res.comparisons == sum(min(t, 10) for t in range(1, 50))  # min(K1, |c|) per new trace


def test_arrival_order_decides_completed_members():
    order = [5, 3, 0, 4, 1, 2]
    res = deepprune_question(order, _scores([0] * 6), ClusterConfig(K2=3))
    assert res.clusters == [order] and res.completed == [5, 3, 0]


def test_judge_tokens_cost_two_prefixes_per_comparison():
    jt = JudgeCost(np.array([3, 5, 7]))
    res = deepprune_question([0, 1, 2], _scores([0, 0, 0]), ClusterConfig(), judge_cost=jt)
    assert res.comparisons == 3 and res.comparison_tokens == (5 + 3) + (7 + 3) + (7 + 5)
    # a prompt around each pair and both orders (an LLM judge) count too
    jt = JudgeCost(np.array([3, 5, 7]), per_pair=100, passes=2)
    res = deepprune_question([0, 1, 2], _scores([0, 0, 0]), ClusterConfig(), judge_cost=jt)
    assert res.comparison_tokens == 2 * (3 * 100 + (5 + 3) + (7 + 3) + (7 + 5))


def test_member_samples_are_uniform_and_fresh():
    # 4000 clusters of 40 members, k=10: each member is in the sample with probability 1/4
    rows, size, k = 4000, 40, 10
    out = floyd_sample(np.full(rows, size), k, np.arange(rows), np.zeros(rows))
    assert all(len(set(r)) == k for r in out) and out.min() >= 0 and out.max() < size
    freq = np.bincount(out.ravel(), minlength=size) / rows
    assert np.allclose(freq, k / size, atol=0.03)
    assert len({tuple(sorted(r)) for r in out}) > 3990  # subsets, not a few repeated ones
    # fresh per position: another position key gives other samples
    out2 = floyd_sample(np.full(rows, size), k, np.arange(rows), np.ones(rows))
    assert (np.sort(out, 1) != np.sort(out2, 1)).any(axis=1).mean() > 0.99
    # size == k takes everything
    assert sorted(floyd_sample(np.array([k]), k, np.array([7]))[0]) == list(range(k))


def test_memo_never_scores_a_pair_twice_and_batches_agree_with_single_runs():
    classes = [0, 1, 2] * 15
    s = _scores(classes)
    cfg = ClusterConfig(K=4, K1=3)
    orders = []
    for seed in range(6):
        order = list(range(45))
        random.Random(seed).shuffle(order)
        orders.append(order)
    keys = np.array([run_key(k) for k in range(6)], dtype=np.uint64)
    batch = cluster_runs(np.array(orders), np.full(6, 0.5), keys, s, cfg)
    assert s.calls == s.distinct()
    s2 = _scores(classes)
    for r in range(6):
        single = deepprune_question(orders[r], s2, cfg, key=int(keys[r]))
        assert single.clusters == batch.clusters(r)
        assert single.comparisons == batch.comparisons[r]
    assert s2.calls == s2.distinct() == s.calls


def test_bad_config():
    with pytest.raises(ValueError, match="tau"):
        ClusterConfig(tau=1.5)
