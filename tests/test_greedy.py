"""The readable GreedyClusterer is the truth; the batched replay engine must agree with it."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deepprune.errors import ConfigError
from deepprune.greedy import ClusterConfig, GreedyClusterer
from deepprune.replay.batched import PairScores, cluster_runs, select_completed
from deepprune.rng import run_key


def _matrix_scorer(mat):
    return lambda t, members: [mat[t, m] for m in members]


def test_hand_worked_clusters_and_completion():
    # traces 0..5 with answers a a b a b c; a perfect judge; K2 = 2
    ans = np.array([0, 0, 1, 0, 1, 2])
    mat = (ans[:, None] == ans[None, :]).astype(float)
    g = GreedyClusterer(ClusterConfig(K2=2), _matrix_scorer(mat))
    assert [g.add(t) for t in range(6)] == [0, 0, 1, 0, 1, 2]
    assert g.clusters == [[0, 1, 3], [2, 4], [5]]
    assert g.completed() == ([0, 1], False)
    assert g.comparisons == 0 + 1 + 2 + 3 + 4 + 5  # min(K1, |c|) members of every cluster


def test_a_mean_equal_to_tau_does_not_join():
    mat = np.full((2, 2), 0.5)
    g = GreedyClusterer(ClusterConfig(tau=0.5), _matrix_scorer(mat))
    g.add(0)
    assert g.add(1) == 1  # 0.5 is not > 0.5: a new cluster
    g = GreedyClusterer(ClusterConfig(tau=0.49), _matrix_scorer(mat))
    g.add(0)
    assert g.add(1) == 0


def test_cluster_cap_joins_the_most_similar_even_below_tau():
    mat = np.array([[1, 0, 0.2], [0, 1, 0.3], [0.2, 0.3, 1]])
    g = GreedyClusterer(ClusterConfig(K=2), _matrix_scorer(mat))
    assert [g.add(t) for t in range(3)] == [0, 1, 1]


def test_every_singleton_falls_back_to_k3_keyed_traces():
    mat = np.eye(6)
    a = GreedyClusterer(ClusterConfig(K3=3), _matrix_scorer(mat), key=7)
    b = GreedyClusterer(ClusterConfig(K3=3), _matrix_scorer(mat), key=8)
    for t in range(6):
        a.add(t), b.add(t)
    (pa, fa), (pb, _) = a.completed(), b.completed()
    assert fa and len(set(pa)) == 3 and pa != pb


def test_members_are_sampled_afresh_for_every_arrival():
    seen = []

    def spy(t, members):
        seen.append(tuple(members))
        return [1.0] * len(members)

    g = GreedyClusterer(ClusterConfig(K1=3), spy, key=1)
    for t in range(30):
        g.add(t)
    big = seen[5:]  # the cluster has more than K1 members from here on
    assert all(len(s) == 3 for s in big) and len(set(big)) > 15


def test_bad_config_is_a_config_error():
    with pytest.raises(ConfigError, match="tau"):
        ClusterConfig(tau=1.25)
    with pytest.raises(ConfigError, match="K1"):
        ClusterConfig(K1=0)


@settings(max_examples=150, deadline=None)
@given(
    n=st.integers(1, 40),
    runs=st.integers(1, 4),
    data=st.data(),
    seed=st.integers(0, 2**32),
    tau=st.sampled_from([0.0, 0.25, 0.5, 0.5625, 0.75, 1.0, 0.3]),
    K=st.integers(1, 8),
    K1=st.integers(1, 6),
    K2=st.integers(1, 12),
    K3=st.integers(1, 12),
)
def test_batched_engine_equals_one_greedy_clusterer_per_run(
    n, runs, data, seed, tau, K, K1, K2, K3
):
    rng = np.random.default_rng(seed)
    # dyadic scores (k/16): sums are exact, so ties and tau-equality are exercised exactly
    mat = rng.integers(0, 17, size=(n, n)) / 16
    mat = np.triu(mat, 1) + np.triu(mat, 1).T
    cfg = ClusterConfig(tau=tau, K=K, K1=K1, K2=K2, K3=K3)
    orders = np.array([rng.permutation(n) for _ in range(runs)])
    keys = np.array([run_key(seed, r) for r in range(runs)], dtype=np.uint64)
    taus = np.array(data.draw(st.lists(st.sampled_from([0.0, 0.5, 0.75, tau]), min_size=runs,
                                       max_size=runs)))  # fmt: skip
    memo = PairScores(n, lambda i, j: mat[i, j])
    batch = cluster_runs(orders, taus, keys, memo, cfg)
    for r in range(runs):
        g = GreedyClusterer(ClusterConfig(tau=float(taus[r]), K=K, K1=K1, K2=K2, K3=K3),
                            _matrix_scorer(mat), key=int(keys[r]))  # fmt: skip
        for t in orders[r]:
            g.add(int(t))
        assert g.clusters == batch.clusters(r)
        assert g.completed() == select_completed(batch, r, cfg, int(keys[r]))
        assert g.comparisons == batch.comparisons[r]
