"""DeepConf's confidence, one definition: hand-computed windows and the streaming watch."""

import numpy as np
import pytest

from deepprune.confidence import WindowWatch, lowest_group_conf, token_confidence, window_means


def test_token_confidence_is_minus_the_mean_top_k_logprob():
    assert token_confidence([-0.5, -1.5]) == pytest.approx(1.0)
    assert token_confidence([0.0]) == 0.0


def test_window_means_by_hand():
    assert window_means([1.0, 2.0, 3.0, 6.0], 2).tolist() == [1.5, 2.5, 4.5]
    assert window_means([1.0, 3.0], 4).tolist() == [2.0]  # shorter than a window: one mean
    assert window_means([], 4).tolist() == [0.0]
    assert lowest_group_conf([5.0, 1.0, 1.0, 5.0], 2) == 1.0


def test_the_watch_agrees_with_the_offline_windows():
    rng = np.random.default_rng(0)
    confs = rng.uniform(0, 5, 50)
    w = WindowWatch(8)
    seen_below = []
    for k in range(0, 50, 3):
        w.add(confs[k : k + 3].tolist())
        seen_below.append(w.below(2.5))
        last = window_means(confs[: len(w)], 8)[-1]
        assert seen_below[-1] == (len(w) >= 8 and last < 2.5)
    assert w.lowest() == pytest.approx(lowest_group_conf(confs, 8))
