"""DeepPrune with adaptive N / adaptive completion, and short-m@k at small k, on hand-built pools."""

from __future__ import annotations

import random

import pytest

from deepprune.errors import ConfigError
from deepprune.judges import get_judge
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions
from deepprune.replay.methods import AdaptiveDeepPrune, families
from deepprune.replay.methods.sequential import ShortMK
from tests.conftest import write_jsonl


def _question(tmp_path, answers, tokens=100):
    rows = [{"id": "q", "gold": "0", "answer_type": "math",
             "traces": [{"answer": str(a), "num_tokens": tokens} for a in answers]}]  # fmt: skip
    qs = load_questions(write_jsonl(tmp_path / "p.jsonl", rows), OnlineConfig(trunc="tokens:10"))
    attach_judge(qs, get_judge("oracle"))
    return qs[0]


def test_adaptive_n_stops_launching_when_the_judge_agrees_and_completion_stops_on_beta(tmp_path):
    q = _question(tmp_path, [0, 0, 1, 0, 0, 0, 0, 0])
    order = list(range(8))
    # wave 1 (traces 0-3): clusters {0,1,3}, {2}; 3 >= 0.75 x 4 launched: no second wave.
    # completion in pairs: {0,1} -> Beta(3,1) 0.875 < 0.95, {3} -> Beta(4,1) 0.9375 < 0.95, cluster exhausted
    o = AdaptiveDeepPrune("oracle", n0=4).run(q, order, random.Random(0))
    assert o.answer == 0 and o.info["launched"] == 4 and o.info["completed"] == 3
    assert o.tokens == 4 * 10 + 3 * 90 and o.seq_tokens == 10 + 90 + 90
    # a looser threshold stops after the first pair (0.875 >= 0.8)
    o = AdaptiveDeepPrune("oracle", n0=4, threshold=0.8).run(q, order, random.Random(0))
    assert o.info["completed"] == 2 and o.tokens == 40 + 180 and o.seq_tokens == 100


def test_adaptive_n_launches_more_while_the_judge_disagrees(tmp_path):
    q = _question(tmp_path, [0, 1, 2, 3, 0, 0, 0, 0, 0, 0])
    # wave 1: four singletons (1 < 0.75 x 2); wave 2 (traces 2,3): still 1 of 4; wave 3 (4,5):
    # {0,4,5} = 3 < 4.5; wave 4 (6,7): {0,4,5,6,7} = 5 < 6; wave 5 (8,9): 7 >= 7.5? no: all launched
    o = AdaptiveDeepPrune("oracle", n0=2, threshold=0.8).run(q, list(range(10)), random.Random(0))
    assert o.info["launched"] == 10 and o.answer == 0
    assert o.seq_tokens == 5 * 10 + 90  # five prefix waves, then one completion pair (0.875 >= 0.8)


def test_adaptive_with_every_prefix_and_its_bad_settings(tmp_path):
    q = _question(tmp_path, [1, 0, 0, 0])
    o = AdaptiveDeepPrune("oracle", n0=None, threshold=0.8).run(q, [0, 1, 2, 3], random.Random(0))
    assert (
        o.info["launched"] == 4 and o.answer == q.labels[1] and o.info["completed"] == 2
    )  # {1,2}: 0.875
    with pytest.raises(ConfigError):
        AdaptiveDeepPrune("oracle", wave=0)
    with pytest.raises(ConfigError):
        AdaptiveDeepPrune("oracle", threshold=0.4)


def test_short_m_at_small_k_pays_k_traces_up_to_the_mth_finish(tmp_path):
    rows = [{"id": "q", "gold": "1", "answer_type": "math", "traces": [
        {"answer": "2", "num_tokens": 50}, {"answer": "1", "num_tokens": 30}, {"answer": "1", "num_tokens": 10}]}]  # fmt: skip
    q = load_questions(write_jsonl(tmp_path / "p.jsonl", rows), OnlineConfig(trunc="tokens:5"))[0]
    o = ShortMK(1, 2).run(q, [0, 1, 2], random.Random(0))  # starts 0 and 1; 1 finishes at 30
    assert o.answer == q.labels[1] and o.tokens == 60 and o.seq_tokens == 30
    assert "short-1@2" in [m.name for m in families()["short-m@k"]()]


def test_sketch_gating_compares_at_most_three_members():
    (m,) = families("oracle")["deepprune-sketch"]()
    assert m.cfg.K1 == 3


def test_adaptive_n_pays_the_probes_of_the_launched_traces_only(tmp_path):
    # eight traces agreeing from their first probe on; n0 = 2: one wave is enough (2 >= 0.75 x 2)
    rows = [{"id": "q", "gold": "4", "answer_type": "math", "probe_every": 10,
             "traces": [{"answer": "4", "num_tokens": 50, "probes": ["4", "4", "4", "4"]} for _ in range(8)]}]  # fmt: skip
    qs = load_questions(write_jsonl(tmp_path / "p.jsonl", rows), OnlineConfig(trunc="probe:1"))
    attach_judge(qs, get_judge("probe"))
    q = qs[0]
    o = AdaptiveDeepPrune("probe", n0=2, threshold=0.8).run(q, list(range(8)), random.Random(0))
    per_trace = q.costs["probe"].per_trace
    assert o.info["launched"] == 2 and o.probe_tokens == per_trace[:2].sum() > 0
    assert (
        o.tokens == 2 * 10 + 2 * 40
    )  # two 10-token prefixes, both completed (Beta(3,1) 0.875 >= 0.8)
