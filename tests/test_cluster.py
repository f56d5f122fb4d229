import random

import numpy as np
import pytest

from deepprune.cluster import ClusterConfig, PairScores, deepprune_question, greedy_cluster


def _scores(classes):
    classes = np.array(classes)

    def fn(pairs):
        return np.array([1.0 if classes[i] == classes[j] else 0.0 for i, j in pairs])

    return PairScores(len(classes), fn)


def test_all_agree_collapses_to_one_cluster():
    n = 30
    res = deepprune_question(list(range(n)), _scores([0] * n), ClusterConfig(), random.Random(0))
    assert len(res.clusters) == 1 and res.completed == list(range(20)) and not res.fallback


def test_all_singletons_trigger_fallback():
    n = 25
    res = deepprune_question(
        list(range(n)), _scores(list(range(n))), ClusterConfig(K=32, K3=7), random.Random(0)
    )
    assert res.fallback and len(res.completed) == 7 and len(set(res.completed)) == 7


def test_k_reached_joins_most_similar():
    # classes 0,1,2 then more of class 2 and a new class 9: K=3 -> the class-9 trace joins its best cluster
    classes = [0, 1, 2, 9, 2]
    s = _scores(classes)
    clusters, comparisons, _ = greedy_cluster(
        list(range(5)), s, ClusterConfig(K=3), random.Random(0)
    )
    assert clusters == [[0, 3], [1], [2, 4]]
    assert 3 in clusters[0]  # all averages are 0 -> the first cluster (ties: created first)


def test_largest_cluster_ties_go_to_first_created_and_k1_sampling():
    res = deepprune_question([0, 1, 2, 3], _scores([0, 1, 1, 0]), ClusterConfig(), random.Random(0))
    assert res.completed == [0, 3]
    s = _scores([0] * 50)
    clusters, comparisons, _ = greedy_cluster(
        list(range(50)), s, ClusterConfig(K1=10), random.Random(0)
    )
    assert comparisons == sum(min(t, 10) for t in range(1, 50))  # min(K1, |c|) per new trace


def test_memo_never_scores_a_pair_twice():
    s = _scores([0, 1] * 20)
    for seed in range(5):
        order = list(range(40))
        random.Random(seed).shuffle(order)
        greedy_cluster(order, s, ClusterConfig(), random.Random(seed))
    assert s.calls == len(set(s.call_pairs))


def test_bad_config():
    with pytest.raises(ValueError, match="tau"):
        ClusterConfig(tau=1.5)
