"""DeepPrune with adaptive N / adaptive completion, and short-m@k at small k, on hand-built pools."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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


def _adaptive_by_definition(q, order, sim, cl, n0, agree, wave, threshold, bits):
    """AdaptiveDeepPrune written out naively: prefix waves of n0 (all at once without n0) until
    the largest cluster holds `agree` of those launched; then the largest cluster's first K2
    members (all singletons: the first K3 launched) finished `wave` at a time until the Beta
    criterion on the finished answers passes."""
    from deepprune.greedy import GreedyClusterer
    from deepprune.rng import run_key
    from deepprune.stopping import beta_leader
    from deepprune.vote import majority_class

    calls = []
    g = GreedyClusterer(cl, lambda t, m: (calls.append(len(m)), sim[t, list(m)])[1],
                        run_key("deepprune-adaptive", bits, 0, q.qid))  # fmt: skip
    waves = [order[s : s + (n0 or len(order))] for s in range(0, len(order), n0 or len(order))]
    seq, launched = 0.0, []
    for w in waves:
        for t in w:
            g.add(t)
        launched += w
        seq += max(q.prefix_tokens[t] for t in w)
        if max(len(c) for c in g.clusters) >= agree * len(launched):
            break
    singletons = all(len(c) == 1 for c in g.clusters)
    largest = max(g.clusters, key=len)  # the first of equal sizes
    cand = launched[: cl.K3] if singletons else largest[: cl.K2]
    done = []
    for s in range(0, len(cand), wave):
        done += cand[s : s + wave]
        seq += max(q.tokens[t] - q.prefix_tokens[t] for t in cand[s : s + wave])
        votes = [int(q.labels[t]) for t in done if q.labels[t] >= 0]
        counts = sorted((votes.count(c) for c in set(votes)), reverse=True) + [0]
        if votes and beta_leader(counts[0], counts[1]) >= threshold:
            break
    tokens = sum(q.prefix_tokens[t] for t in launched) + sum(
        q.tokens[t] - q.prefix_tokens[t] for t in done
    )
    return {"answer": majority_class([int(q.labels[t]) for t in done]), "tokens": tokens, "seq": seq,
            "calls": sum(calls), "launched": len(launched), "completed": len(done), "fallback": singletons,
            "clusters": len(g.clusters), "largest": len(largest)}  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(data=st.data(), n=st.integers(1, 10), n0=st.sampled_from([None, 1, 2, 3]), agree=st.sampled_from([0.5, 0.75, 1.0]),
       wave=st.integers(1, 3), threshold=st.sampled_from([0.6, 0.8, 0.95]), k2=st.integers(1, 4), k3=st.integers(1, 3),
       tau=st.sampled_from([0.3, 0.5, 0.7]), k1=st.sampled_from([1, 2, 100]))  # fmt: skip
def test_adaptive_deepprune_equals_its_definition(
    data, n, n0, agree, wave, threshold, k2, k3, tau, k1
):
    import numpy as np

    from deepprune.greedy import ClusterConfig
    from tests.replay.test_methods import _q

    labels = data.draw(st.lists(st.integers(-1, 2), min_size=n, max_size=n))
    tokens = data.draw(st.lists(st.integers(20, 200), min_size=n, max_size=n))
    sim = np.array(
        data.draw(st.lists(st.sampled_from([0.0, 0.4, 0.6, 1.0]), min_size=n * n, max_size=n * n))
    )
    sim = np.triu(sim.reshape(n, n), 1)
    sim = sim + sim.T  # a judge's scores are symmetric
    q = _q(labels, tokens=[float(t) for t in tokens], sim=sim)
    order = data.draw(st.permutations(range(n)))
    cl = ClusterConfig(
        tau=tau, K1=k1, K2=k2, K3=k3
    )  # K1 < a cluster: its members sampled by the key
    seed = data.draw(st.integers(0, 3))
    o = AdaptiveDeepPrune("sim", cl, n0=n0, agree=agree, wave=wave, threshold=threshold).run(
        q, list(order), random.Random(seed)
    )
    want = _adaptive_by_definition(
        q, list(order), sim, cl, n0, agree, wave, threshold, random.Random(seed).getrandbits(32)
    )
    assert (o.answer, o.tokens, o.seq_tokens, o.aux_calls, o.aux_tokens, o.probe_tokens) == (
        want["answer"], want["tokens"], want["seq"], want["calls"], 0, 0.0), (o, want, labels, tokens, sim.tolist(), order)  # fmt: skip
    assert o.info == {
        k: want[k] for k in ("launched", "completed", "clusters", "largest", "fallback")
    }


def test_adaptive_deepprunes_names_and_refusals():
    assert (
        AdaptiveDeepPrune("oracle").name
        == "deepprune-adaptive[oracle](n0=8,agree=0.75,wave=2,asc=0.95)"
    )
    assert AdaptiveDeepPrune("oracle", n0=None, wave=3, threshold=0.9).name == (
        "deepprune-adaptive[oracle](N,wave=3,asc=0.9)")  # fmt: skip
    assert AdaptiveDeepPrune("x", name="mine").name == "mine" and AdaptiveDeepPrune(
        "oracle"
    ).needs == ("prefix",)
    a = AdaptiveDeepPrune("lexical:tfidf")
    assert (a.n0, a.agree, a.wave, a.threshold, a.needs) == (8, 0.75, 2, 0.95, ("prefix", "text"))
    for ok in (
        {"n0": 1},
        {"wave": 1},
        {"agree": 1.0},
        {"agree": 0.01},
        {"threshold": 0.51},
        {"threshold": 0.99},
    ):
        AdaptiveDeepPrune("oracle", **ok)
    for kw, says in (({"n0": 0}, "n0 and wave must be >= 1"), ({"wave": 0}, "n0 and wave must be >= 1"),
                     ({"agree": 0.0}, "agree in"), ({"agree": 1.01}, "agree in"), ({"threshold": 0.5}, "threshold in"),
                     ({"threshold": 1.0}, "threshold in")):  # fmt: skip
        with pytest.raises(ConfigError) as e:
            AdaptiveDeepPrune("oracle", **kw)
        assert says in str(e.value) and str(e.value).startswith("adaptive deepprune: ")


def test_adaptive_completion_reads_the_runner_up(tmp_path):
    # one cluster (the oracle: all answer 0 ... except trace 1); finished in pairs: {0: 1, 1: 1} is
    # P(Beta(2, 2) > 1/2) = 0.5 < 0.6, so a second pair: {0: 3, 1: 1}, 0.8125 >= 0.6
    import numpy as np

    from deepprune.greedy import ClusterConfig
    from tests.replay.test_methods import _q

    q = _q([0, 1, 0, 0], tokens=[50.0] * 4, sim=np.ones((4, 4)))
    o = AdaptiveDeepPrune("sim", ClusterConfig(K2=4), n0=None, wave=2, threshold=0.6).run(
        q, [0, 1, 2, 3], random.Random(0)
    )
    assert (o.info["completed"], o.answer, o.tokens) == (4, 0, 4 * 10 + 4 * 40)
