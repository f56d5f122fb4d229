"""Every comparison method's stopping rule on hand-made questions where it is computed by hand."""

import random

import numpy as np
import pytest

from deepprune.replay.batched import PairScores
from deepprune.replay.harness import ReplayQuestion
from deepprune.replay.methods.confidence import ConfidenceVote, trace_confidence
from deepprune.replay.methods.prefix_cluster import PoLR, SlimSC
from deepprune.replay.methods.sequential import (
    ESC,
    AdaptiveConsistency,
    ConSol,
    EntropyStop,
    ShortMK,
)


def _q(labels, tokens=None, gold=0, sim=None, confs=None):
    n = len(labels)
    q = ReplayQuestion(qid="q", labels=np.array(labels), gold_class=gold,
                     tokens=np.array(tokens if tokens is not None else [100.0] * n, dtype=float),
                     prefix_tokens=np.full(n, 10.0), judge_tokens=np.full(n, 10.0), confs=confs)  # fmt: skip
    if sim is not None:
        sim = np.asarray(sim, dtype=float)
        q.scores["sim"] = PairScores(n, lambda i, j: sim[i, j])
    return q


def _run(method, q, order=None):
    return method.run(q, list(order if order is not None else range(q.n)), random.Random(0))


def test_esc_stops_after_first_unanimous_window():
    q = _q([0, 1, 0, 0, 0, 0, 0, 1, 1, 1])
    o = _run(ESC(window=3), q)  # windows [0,1,0] mixed, [0,0,0] unanimous -> 6 traces
    assert o.info["k"] == 6 and o.tokens == 600 and o.answer == 0
    assert _run(ESC(window=4), _q([0, 1] * 4)).info["k"] == 8  # never unanimous: all N
    assert _run(ESC(window=2), _q([-1, -1, 2, 2])).info["k"] == 4  # unanswered never agree


def test_adaptive_consistency_beta_stops_at_hand_computed_point():
    # all agree: P(Beta(v+1, 1) > 1/2) = 1 - 2^-(v+1) >= 0.95 first at v = 4
    assert _run(AdaptiveConsistency(0.95), _q([3] * 10, gold=3)).info["k"] == 4
    # 0,0,1,0,0,0: after 6 traces v1=5, v2=1: P(Beta(6,2) > .5) = 0.9375 < .95; after 7: Beta(7,2) = 0.9648
    o = _run(AdaptiveConsistency(0.95), _q([0, 0, 1, 0, 0, 0, 0, 0, 0]))
    assert o.info["k"] == 7
    d = _run(AdaptiveConsistency(0.95, "dirichlet"), _q([3] * 10, gold=3))
    assert 3 <= d.info["k"] <= 5  # one vote alone is never conclusive


def test_consol_sprt_bound():
    # p1=.75, alpha=.05, beta=.2: bound log(16) = 2.77; each leader vote log(1.5) = .405 -> 7 votes
    assert _run(ConSol(), _q([0] * 12)).info["k"] == 7
    # a vote for the runner-up costs log(.5) = -.693: 0,1 then zeros -> needs 7 + 2 = 9 leader votes... check
    k = _run(ConSol(), _q([0, 1] + [0] * 20)).info["k"]
    a = k - 1  # leader votes
    assert a * np.log(1.5) + np.log(0.5) >= np.log(16) > (a - 1) * np.log(1.5) + np.log(0.5)


def test_entropy_stop():
    assert _run(EntropyStop(0.5, min_traces=3), _q([0, 0, 0, 1])).info["k"] == 3
    # 0,1,0,0,0,0: entropies 1.0 (k=2, below min), .918, .811, .722, .650 ... <= .5 first at k=... compute
    labels = [0, 1] + [0] * 20
    k = _run(EntropyStop(0.5, min_traces=3), _q(labels)).info["k"]
    p = 1 / k
    h = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    assert h <= 0.5 and k == 10  # 1/10: H = .469; 1/9: H = .503


def test_short_m_at_k_votes_the_first_m_finishers():
    q = _q([1, 0, 0, 1, 1], tokens=[50, 10, 30, 20, 90])
    o = _run(ShortMK(m=3), q)  # finishers 10 (0), 20 (1), 30 (0) -> answer 0; cutoff 30
    assert o.answer == 0 and o.tokens == 30 + 10 + 30 + 20 + 30
    o1 = _run(ShortMK(m=1), q)
    assert o1.answer == 0 and o1.tokens == 5 * 10
    tie = _run(ShortMK(m=2), q)  # 10 (0), 20 (1): tie -> the shorter trace's answer
    assert tie.answer == 0


def test_polr_expands_the_dominant_prefix_cluster():
    sim = np.array([[1, .9, .9, .1, .1], [.9, 1, .9, .1, .1], [.9, .9, 1, .1, .1],
                    [.1, .1, .1, 1, .9], [.1, .1, .1, .9, 1]])  # fmt: skip
    q = _q([0, 0, 0, 1, 1], sim=sim)
    o = _run(PoLR("sim", tau=0.5), q)
    assert o.info["k"] == 3 and o.answer == 0
    assert o.tokens == 5 * 10 + 3 * 90 and o.aux_calls == 5


def test_slim_sc_prunes_near_duplicates_in_arrival_order():
    sim = np.array([[1, 0.99, 0.5], [0.99, 1, 0.5], [0.5, 0.5, 1]])
    q = _q([1, 1, 0], sim=sim, gold=1)
    o = _run(SlimSC("sim", threshold=0.95), q)
    assert o.info["k"] == 2 and o.tokens == 3 * 10 + 2 * 90  # trace 1 pruned after its prefix
    assert o.answer == 1  # kept 0 (answer 1) and 2 (answer 0): tie -> first seen


def test_confidence_vote_weights_and_top_eta():
    confs = [np.full(10, 0.9), np.full(10, 0.2), np.full(10, 0.3)]
    q = _q([0, 1, 1], confs=confs)
    assert _run(ConfidenceVote("mean"), q).answer == 0  # 0.9 > 0.2 + 0.3
    assert _run(ConfidenceVote("mean", eta=50), q).answer == 0
    c = np.concatenate([np.full(3000, 0.9), np.full(2048, 0.1)])
    assert trace_confidence(c, "tail") == pytest.approx(0.1)
    assert trace_confidence(c, "lowest") == pytest.approx(0.1)
    assert trace_confidence(c, "mean") == pytest.approx((3000 * 0.9 + 2048 * 0.1) / 5048)
    with pytest.raises(ValueError, match="unknown confidence score"):
        ConfidenceVote("median")


def test_vote_ties_go_to_the_answer_seen_first_in_arrival_order():
    from deepprune.replay.methods import ConsN, DeepPrune

    q = _q([1, 0, 0, 1])  # two answers, two traces each
    assert _run(ConsN(), q, [3, 0, 1, 2]).answer == 1  # trace 3 (answer 1) arrives first
    assert _run(ConsN(), q, [1, 3, 0, 2]).answer == 0
    # DeepPrune completes the whole single cluster (one answer class per trace does not matter to a
    # judge that calls everything the same): its vote tie is broken the same way
    q.scores["same"] = PairScores(4, lambda i, j: np.ones(len(i)))
    assert _run(DeepPrune("same"), q, [3, 0, 1, 2]).answer == 1
    assert _run(DeepPrune("same"), q, [2, 3, 0, 1]).answer == 0


def test_pass_at_1_cons_n_and_cons_k_by_hand():
    from deepprune.errors import ConfigError
    from deepprune.replay.methods.voting import ConsK, ConsN, PassAt1

    q = _q([0, 1, -1, 0], tokens=[10.0, 20.0, 30.0, 60.0], gold=0)
    p = _run(PassAt1(), q)
    # two of four traces hold the gold; a trace with no answer is never right, even when gold is -1
    assert (p.answer, p.correct, p.tokens, p.seq_tokens, p.info) == (
        -1,
        0.5,
        30.0,
        30.0,
        {"expectation": True},
    )
    assert _run(PassAt1(), _q([-1, -1, 0], gold=-1)).correct == 0.0
    assert _run(PassAt1(), _q([0, 1], gold=None)).correct is None
    c = _run(ConsN(), q, [1, 0, 2, 3])
    assert (c.answer, c.tokens, c.seq_tokens) == (0, 120.0, 60.0)
    k2 = _run(ConsK(2), q, [1, 3, 0, 2])
    assert (k2.answer, k2.tokens, k2.seq_tokens, k2.info, ConsK(2).name) == (
        1,
        80.0,
        60.0,
        {"k": 2},
        "cons@2",
    )
    assert ConsK(1.5, name="budget").name == "budget" and ConsK(2.5).name == "cons@2.5"
    assert _run(ConsK(9), q).info == {"k": 4}  # never more traces than the question has
    assert _run(ConsK(0.25), q).info == {"k": 1}  # never fewer than one
    with pytest.raises(ConfigError, match=r"^cons@k needs k > 0, got 0$"):
        ConsK(0)
    # a fractional k: floor(k) or ceil(k) traces, ceil with probability k - floor(k)
    draws = [ConsK(2.25).run(q, [0, 1, 2, 3], random.Random(s)).info["k"] for s in range(2000)]
    assert set(draws) == {2, 3} and abs(draws.count(3) / 2000 - 0.25) < 0.03
    rng = random.Random(7)
    first = rng.random()
    assert ConsK(2.25).run(q, [0, 1, 2, 3], random.Random(7)).info["k"] == 2 + (first < 0.25)


def test_the_method_base_by_hand():
    from deepprune.replay.methods.base import Method, needs_of, prefix_then_finish, vote

    class Echo(Method):
        name = "echo"

        def run(self, q, order, rng):
            return rng.random()

    q = _q([0, 1, 1])
    got = Echo().run_repeats(q, [[0, 1, 2], [2, 1, 0]], seed=5)
    assert got == [random.Random(f"echo:5:{r}:q").random() for r in range(2)]
    with pytest.raises(NotImplementedError):
        Method().run(q, [0], random.Random(0))
    assert vote(q, [0, 1]) == 0 and vote(q, [0, 1, 2]) == 1
    assert vote(q, [0, 1, 2], weights=[5.0, 1.0, 1.0]) == 0  # weights decide
    q2 = _q([0, 1, 1], tokens=[5.0, 50.0, 7.0])  # prefixes of 10 tokens
    assert prefix_then_finish(q2, [0, 2]) == 10.0 and prefix_then_finish(q2, [1]) == 50.0
    assert prefix_then_finish(q2, []) == 10.0
    assert (
        needs_of("oracle")
        == needs_of("noisy-oracle:0.1")
        == needs_of("probe,calib=x")
        == ("prefix",)
    )
    assert needs_of("lexical:jaccard") == needs_of("model:/m") == ("prefix", "text")


def test_a_methods_skip_reason_names_what_the_pool_lacks():
    from deepprune.replay.methods.base import Method

    class Needs(Method):
        def __init__(self, *needs):
            self.needs = needs

    q = _q([0, 1])
    assert Needs("confs").skip_reason([q]) == "pool has no per-token confidences ('confs')"
    assert Needs("confs").skip_reason([_q([0], confs=[np.ones(3)])]) is None
    q.prefix_known = False
    assert (
        Needs("prefix")
        .skip_reason([q])
        .startswith("the prefix spec needs trace text the pool lacks")
    )
    assert Needs("text").skip_reason([q]) is None  # every trace has text
    q.text_missing = 1
    q3 = _q([0, 1, 1])
    q3.text_missing = 2
    assert (
        Needs("text").skip_reason([q, q3])
        == "3 of 5 traces have no text; this method reads the prefixes' text"
    )
    assert Needs().skip_reason([q, q3]) is None


def test_trace_confidence_and_the_confidence_vote_by_hand():
    from deepprune.errors import ConfigError

    c = np.arange(12.0)  # windows of 2: means 0.5, 1.5, ..., 10.5 (11 groups)
    assert trace_confidence(np.array([]), "mean") == 0.0
    assert trace_confidence(c, "mean") == 5.5
    assert trace_confidence(c, "tail", window=2) == 10.5
    assert trace_confidence(c, "lowest", window=2) == 0.5
    assert trace_confidence(c, "bottom10", window=2) == 1.0  # ceil(1.1) = 2 lowest groups
    assert trace_confidence(c[:6], "bottom10", window=2) == 0.5  # ceil(0.5) = 1 group
    with pytest.raises(
        ConfigError, match=r"^unknown confidence score 'x'; known: mean, tail, bottom10, lowest$"
    ):
        trace_confidence(c, "x")
    assert ConfidenceVote().name == "conf-vote(mean)"
    assert ConfidenceVote("tail", eta=50).name == "conf-vote(tail,top50%)"
    assert ConfidenceVote(name="mine").name == "mine"
    confs = [np.full(4, 0.9), np.full(4, 0.3), np.full(4, 0.3)]
    q = _q([0, 1, 1], tokens=[10.0, 20.0, 40.0], confs=confs)
    out = _run(ConfidenceVote("mean"), q)
    assert (out.answer, out.tokens, out.seq_tokens) == (0, 70.0, 40.0)  # 0.9 against 0.3 + 0.3
    q = _q([0, 1, 1], confs=[np.full(4, 0.5), np.full(4, 0.3), np.full(4, 0.3)])
    assert _run(ConfidenceVote("mean"), q).answer == 1  # 0.5 against 0.6
    assert _run(ConfidenceVote("mean", eta=40), q).answer == 0  # only the top 40% (trace 0) votes
    assert _run(ConfidenceVote("mean", eta=99.9), q).answer == 1


def test_deepconf_offline_and_online_by_hand():
    from deepprune.replay.methods.deepconf import DeepConfOffline, DeepConfOnline

    confs = [np.full(4, 0.9), np.full(4, 0.5), np.full(4, 0.45)]
    q = _q([0, 1, 1], tokens=[10.0, 20.0, 40.0], confs=confs)
    off = _run(DeepConfOffline(100, "all"), q)  # everyone votes: 0.9 against 0.95
    assert (off.answer, off.tokens, off.seq_tokens) == (1, 70.0, 40.0)
    assert _run(DeepConfOffline(10, "low"), q).answer == 0  # the top 10%: trace 0 alone
    # online, windows of 2, warm-up 2: both warm-up traces at confidence 1 set s = 1
    ones = np.ones(10)
    dip = np.array(
        [1, 1, 0.1, 0.1, 1, 1, 1, 1, 1, 1.0]
    )  # window means 1, .55, .1, ...: below s at window 1
    q = _q([0, 0, 1, 0], tokens=[100.0, 50.0, 100.0, 70.0], confs=[ones, ones, dip, ones])
    agree = _run(
        DeepConfOnline(90, "on", warmup=2, window=2), q
    )  # 2 of 2 agree: consensus, no more traces
    assert (agree.answer, agree.tokens, agree.seq_tokens, agree.info) == (
        0,
        150.0,
        100.0,
        {"stopped": 0, "threshold": 1.0},
    )
    on = _run(DeepConfOnline(90, "on", warmup=2, window=2, consensus=1.01), q)
    # trace 2 stops at the end of its first window below s: (1 + 2) tokens of 10, scaled to its 100
    assert (on.answer, on.tokens, on.seq_tokens, on.info["stopped"]) == (
        0,
        150.0 + 30.0 + 70.0,
        200.0,
        1,
    )
    short = _q([0, 0, 1], tokens=[10.0, 10.0, 8.0], confs=[ones, ones, np.array([0.2, 0.2])])
    s = _run(DeepConfOnline(90, "on", warmup=2, window=2, consensus=1.01), short)
    # a trace of one window that ends below s: generated whole, stopped, no vote
    assert (s.answer, s.tokens, s.info["stopped"]) == (0, 28.0, 1)
    none = _q([-1, -1, 1], confs=[ones, ones, ones])
    assert (
        _run(DeepConfOnline(90, "on", warmup=2, window=2), none).answer == 1
    )  # no-answers never reach consensus


def test_the_registry_grids_each_with_its_papers_default():
    """The operating points compare runs (COMPARISON.md's rows): each paper's default among them."""
    from deepprune.replay.methods import families

    names = {f: [m.name for m in make()] for f, make in families().items()}
    tf = "lexical:tfidf"
    assert names == {
        "pass@1": ["pass@1"],
        "cons@N": ["cons@N"],
        "esc": [f"esc(w={w})" for w in (2, 3, 5, 8)],
        "adaptive-consistency": [f"adaptive-consistency(beta,{t})" for t in (0.8, 0.9, 0.95, 0.99)]
        + ["adaptive-consistency(dirichlet,0.95)"],
        "short-m@k": [f"short-{m}@N" for m in (1, 3, 5, 9)]
        + [
            "short-1@2",
            "short-1@4",
            "short-3@4",
            "short-1@8",
            "short-3@8",
            "short-1@16",
            "short-3@16",
        ],
        "consol": [f"consol(alpha={a})" for a in (0.2, 0.1, 0.05, 0.01)],
        "entropy-stop": [f"entropy-stop(H<={h})" for h in ("1", "0.5", "0.25", "0")],
        "polr": [f"polr[{tf}](tau={t})" for t in (0.3, 0.5, 0.7, 0.9)],
        "slim-sc": [f"slim-sc[{tf}](>{t})" for t in (0.8, 0.9, 0.95, 0.98)],
        "deepprune": [f"deepprune[{tf}](tau={t})" for t in (0.3, 0.5, 0.7, 0.9)],
        "deepprune-adaptive": [f"deepprune-adaptive[{tf}](N,wave=2,asc=0.95)"]
        + [f"deepprune-adaptive[{tf}](n0={n},agree=0.75,wave=2,asc=0.95)" for n in (4, 8)]
        + [f"deepprune-adaptive[{tf}](n0=4,agree=0.75,wave=2,asc=0.8)"],
        "deepprune-sketch": [f"deepprune-sketch[{tf}](K1=3)"],
        "deepprune-oracle": ["deepprune[oracle] (ceiling)"],
        "deepconf": [
            "deepconf-low-offline",
            "deepconf-high-offline",
            "deepconf-low",
            "deepconf-high",
        ],
        "parallel-probe": [f"parallel-probe(n=64,T={t},p=7,w=15)" for t in (10, 20, 40)],
        "conf-vote": [
            f"conf-vote({s}{e})"
            for s in ("mean", "tail", "bottom10", "lowest")
            for e in ("", ",top10%")
        ],
    }
    f = families(sim="lexical:jaccard", taus=(0.6,))
    assert [m.name for m in f["deepprune"]()] == ["deepprune[lexical:jaccard](tau=0.6)"]
    assert [(m.eta, m.warmup, m.consensus) for m in families()["deepconf"]()[2:]] == [
        (10, 16, 0.95),
        (90, 16, 0.95),
    ]
    assert [m.eta for m in families()["deepconf"]()[:2]] == [10, 90]


def test_every_transfer_setting_runs_live_as_its_replay_method():
    """Each operating point's live settings (what `solve` runs) are its replay method's own."""
    from deepprune.engine.solve_config import SolveConfig
    from deepprune.replay.methods import transfer_settings
    from deepprune.replay.methods.sequential import ESC, ShortMK
    from deepprune.replay.methods.voting import ConsK
    from deepprune.replay.methods.waves import CappedConsK, WaveStop

    settings = transfer_settings()
    assert len({s.name for s in settings}) == len(settings) == 113
    fams = {}
    for s in settings:
        fams.setdefault(s.family, []).append(s)
        m, live = s.make(), s.live
        if live is None:  # Parallel-Probe: not runnable live from a transfer pick
            assert s.family == "parallel-probe" and m.T in (10, 20, 40)
            continue
        cfg = SolveConfig(**live)
        assert list(cfg.methods) == live["methods"]
        if isinstance(m, ConsK):
            assert cfg.k == m.k and list(cfg.methods) == ["cons@k"]
        elif isinstance(m, CappedConsK):
            assert (cfg.k, cfg.max_tokens) == (m.k, m.budget)
        elif isinstance(m, WaveStop):
            assert cfg.wave == m.wave
            if s.family.startswith("asc"):
                assert (cfg.asc_threshold, cfg.asc_criterion) == (
                    m.rule.threshold,
                    m.rule.criterion,
                )
                assert m.rule.criterion == ("beta" if s.family == "asc" else "dirichlet")
            else:
                assert (
                    s.family == "consol"
                    and m.name == f"consol(alpha={cfg.consol_alpha:g})/w={m.wave}"
                )
        elif isinstance(m, ESC):
            assert cfg.wave == m.window
        else:
            assert isinstance(m, ShortMK) and (cfg.short_m, cfg.short_k) == (m.m, m.k or 0)
    assert {f: len(v) for f, v in fams.items()} == {"cons@k": 14, "asc": 35, "asc-dirichlet": 9, "consol": 20,
                                                    "esc": 6, "short-m@k": 10, "capped-cons@k": 16, "parallel-probe": 3}  # fmt: skip
    assert [s.live["k"] for s in fams["cons@k"]] == [
        1,
        2,
        3,
        4,
        6,
        8,
        12,
        16,
        24,
        32,
        48,
        64,
        96,
        128,
    ]
    assert sorted({(s.live["asc_threshold"]) for s in fams["asc"]}) == [0.8, 0.85, 0.9, 0.95, 0.99]
    assert sorted({(s.live["wave"]) for s in fams["asc"]}) == [1, 2, 3, 4, 6, 8, 16]
    assert sorted({(s.live["asc_threshold"], s.live["wave"]) for s in fams["asc-dirichlet"]}) == [
        (t, w) for t in (0.8, 0.9, 0.95) for w in (1, 4, 8)]  # fmt: skip
    assert sorted({s.live["consol_alpha"] for s in fams["consol"]}) == [0.01, 0.05, 0.1, 0.2, 0.3]
    assert sorted({s.live["wave"] for s in fams["consol"]}) == [1, 2, 4, 8]
    assert [s.live["wave"] for s in fams["esc"]] == [2, 3, 4, 5, 8, 16]
    assert [(s.live["short_m"], s.live["short_k"]) for s in fams["short-m@k"]] == [
        (1, 2), (1, 4), (3, 4), (1, 8), (3, 8), (1, 16), (3, 16), (5, 16), (1, 0), (3, 0)]  # fmt: skip
    assert sorted({(s.live["k"], s.live["max_tokens"]) for s in fams["capped-cons@k"]}) == [
        (k, b) for k in (4, 8, 16, 32) for b in (4096, 8192, 16384, 32768)]  # fmt: skip


def test_prefix_methods_outcomes_by_hand():
    """PoLR and Slim-SC: every prefix generated, members completed, the judge read once per
    trace (its input tokens), sequential tokens a prefix then the longest member's rest; a
    similarity exactly at Slim-SC's threshold is not above it (kept)."""
    sim = np.array([[1, 0.95, 0.2], [0.95, 1, 0.2], [0.2, 0.2, 1]])
    q = _q([1, 1, 0], tokens=[100.0, 300.0, 50.0], sim=sim, gold=1)
    q.judge_tokens = np.array([7.0, 8.0, 9.0])
    o = _run(SlimSC("sim", threshold=0.95), q)
    assert (o.info, o.tokens, o.aux_calls, o.aux_tokens, o.seq_tokens, o.probe_tokens) == (
        {"k": 3}, 450.0, 3, 24, 300.0, 0.0)  # fmt: skip
    o = _run(SlimSC("sim", threshold=0.9), q, [1, 0, 2])  # trace 0 pruned after trace 1
    assert (o.info, o.tokens, o.seq_tokens) == ({"k": 2}, 30.0 + 290.0 + 40.0, 300.0)
    o = _run(PoLR("sim", tau=0.9), q, [2, 0, 1])  # distance 0.05 <= 0.1: {0, 1} vs {2}
    assert (o.info, o.answer, o.tokens, o.aux_tokens, o.seq_tokens) == (
        {"k": 2},
        1,
        30.0 + 90.0 + 290.0,
        24,
        300.0,
    )
    o = _run(
        PoLR("sim", tau=0.99), q, [2, 0, 1]
    )  # distance 0.05 > 0.01: singletons, the earliest (2)
    assert (o.info, o.answer, o.tokens) == ({"k": 1}, 0, 30.0 + 40.0)
    one = _q([0], sim=np.ones((1, 1)))
    assert _run(PoLR("sim"), one).info == {"k": 1}
    assert PoLR("sim").tau == 0.5 and SlimSC("sim").threshold == 0.95
    # average linkage: 0-1 at 0.05, then {0,1}-2 at the mean of 0.8 and 0.4 = 0.6 (tau 0.45: cut 0.55)
    sim3 = np.array([[1, 0.95, 0.2], [0.95, 1, 0.6], [0.2, 0.6, 1]])
    q3 = _q([1, 1, 0], sim=sim3)
    assert _run(PoLR("sim", tau=0.45), q3).info == {"k": 2} and _run(
        PoLR("sim", tau=0.35), q3
    ).info == {"k": 3}


def test_deepconf_by_hand_weights_ties_and_repeated_stops():
    from deepprune.replay.methods.deepconf import DeepConfOffline, DeepConfOnline

    q = _q([0, 1, 1], confs=[np.full(4, 0.9), np.full(4, 0.3), np.full(4, 0.3)])
    assert (
        _run(DeepConfOffline(100, "all"), q).answer == 0
    )  # weighted 0.9 against 0.6; unweighted: 1
    ones, dip = np.ones(10), np.array([1, 1, 0.1, 0.1, 1, 1, 1, 1, 1, 1.0])
    q = _q([0, 0, 1, 1, 0], tokens=[100.0] * 5, confs=[ones, ones, dip, dip, ones])
    on = _run(DeepConfOnline(90, "on", warmup=2, window=2, consensus=1.01), q)
    assert (on.info["stopped"], on.tokens, on.answer) == (2, 300.0 + 30.0 + 30.0, 0)
    # consensus exactly at 0.95 stops: two warm-up voters of weights 19 : 1 (the 95% holder first)
    q = _q([0, 1, 0], confs=[np.full(3, 0.95), np.full(3, 0.05), np.ones(3)])
    at = _run(DeepConfOnline(100, "on", warmup=2, window=2, consensus=0.95), q)
    assert (at.tokens, at.info["stopped"]) == (200.0, 0)
    # top 50% of five: the median (0.5) and above vote: 1.1 for answer 0 against 0.9 for answer 1
    q = _q([1, 0, 0, 0, 0], confs=[np.full(2, v) for v in (0.9, 0.5, 0.3, 0.6, 0.2)])
    assert _run(ConfidenceVote("mean", eta=50), q).answer == 0


def test_sequential_methods_costs_names_and_budgets_by_hand():
    from deepprune.errors import ConfigError

    q = _q([0, 1, 0, 0, 0, 0], tokens=[10.0, 20.0, 30.0, 40.0, 50.0, 60.0])
    esc = _run(ESC(window=2), q)  # [0,1] mixed, [0,0] unanimous: 4 traces, windows in parallel
    assert (esc.info, esc.tokens, esc.seq_tokens, esc.answer) == ({"k": 4}, 100.0, 20.0 + 40.0, 0)
    capped = _run(ESC(window=4, max_traces=5), q)  # [0,1,0,0] mixed, then [0] alone: unanimous
    assert (capped.info, capped.tokens, capped.seq_tokens) == ({"k": 5}, 150.0, 40.0 + 50.0)
    asc = _run(
        AdaptiveConsistency(0.95, max_traces=3), q
    )  # never sure within 3: all 3, one after another
    assert (asc.info, asc.tokens, asc.seq_tokens) == ({"k": 3}, 60.0, 60.0)
    assert (
        ESC(3).name == "esc(w=3)"
        and ESC(3, max_traces=8).name == "esc(w=3)@8"
        and ESC(name="e").name == "e"
    )
    assert AdaptiveConsistency(0.9, max_traces=16).name == "adaptive-consistency(beta,0.9)@16"
    ac = AdaptiveConsistency()
    assert (ac.threshold, ac.criterion, ac.draws) == (0.95, "beta", 2000)
    assert ac.confidence([3, 1]) == pytest.approx(0.8125)  # P(Beta(4, 2) > 1/2)
    assert ConSol(alpha=0.1).name == "consol(alpha=0.1)" and ConSol(name="c").name == "c"
    assert EntropyStop().name == "entropy-stop(H<=0.5)" and (
        EntropyStop().max_entropy,
        EntropyStop().min_traces,
    ) == (0.5, 3)
    assert (
        ShortMK().name == "short-3@N"
        and ShortMK(1, 4).name == "short-1@4"
        and ShortMK(name="s").name == "s"
    )
    with pytest.raises(ConfigError, match=r"^ESC window must be >= 1, got 0$"):
        ESC(0)
    with pytest.raises(ConfigError, match=r"^short-m@k needs m >= 1, got 0$"):
        ShortMK(0)
    small = _run(ShortMK(m=5, k=2), q, [5, 4, 3, 2, 1, 0])  # k = 2 started; m above k: both vote
    assert (small.info, small.tokens, small.seq_tokens) == ({"k": 2}, 110.0, 60.0)
    # entropy exactly at its bound stops: 0,1 after 2 of min 2 traces is 1 bit
    assert _run(EntropyStop(1.0, min_traces=2), _q([0, 1, 0])).info["k"] == 2
    assert _run(EntropyStop(0.99, min_traces=2), _q([0, 1, 0, 0, 0, 0, 0])).info["k"] > 2


def test_deepprune_replay_outcome_by_hand():
    """Two clusters by a similarity matrix: {0, 1, 2} (answer 0) and {3} (answer 1); K2 = 2 of the
    largest completed. Its info, costs and sequential tokens; judge calls new to the memo once."""
    from deepprune.greedy import ClusterConfig
    from deepprune.replay.methods import DeepPrune

    sim = np.full((4, 4), 0.9)
    sim[3, :] = sim[:, 3] = 0.1
    q = _q([0, 0, 1, 1], tokens=[100.0, 200.0, 300.0, 400.0], sim=sim)
    q.labels[2] = 0
    dp = DeepPrune("sim", ClusterConfig(tau=0.5, K2=2, K3=1))
    first = dp.run_repeats(q, [[0, 1, 2, 3], [3, 2, 1, 0]], seed=3)
    a, b = first
    assert a.info == {"clusters": 2, "largest": 3, "completed": 2, "fallback": False,
                      "new_judge_calls": a.info["new_judge_calls"]}  # fmt: skip
    assert (
        a.info["new_judge_calls"] > 0 and b.info["new_judge_calls"] == 0
    )  # counted once, on repeat 0
    assert a.answer == 0 and a.tokens == 4 * 10 + 90 + 190  # the first two of the cluster: 0 and 1
    assert a.seq_tokens == 200.0 and a.probe_tokens == 0.0  # a prefix, then the longest completed
    assert b.tokens == 4 * 10 + 290 + 190 and b.seq_tokens == 300.0  # in that order: 2 and 1
    again = dp.run_repeats(q, [[0, 1, 2, 3], [3, 2, 1, 0]], seed=3)
    assert again[0].info["new_judge_calls"] == 0  # the memo holds every pair now
    # run() draws its seed from the generator; a sweep over taus is one batch, [tau][repeat]
    assert dp.run(q, [0, 1, 2, 3], random.Random(5)).tokens == dp.run_repeats(
        q, [[0, 1, 2, 3]], random.Random(5).getrandbits(32))[0].tokens  # fmt: skip
    sweep = dp.sweep(q, [[0, 1, 2, 3], [3, 2, 1, 0]], 3, [0.5, 0.95])
    assert [o.tokens for o in sweep[0]] == [a.tokens, b.tokens]  # tau 0.5: the same runs
    # tau 0.95: singletons, K3 = 1 trace completed (drawn by the repeat's key)
    assert [(o.info["clusters"], o.info["fallback"], o.info["completed"]) for o in sweep[1]] == [
        (4, True, 1)
    ] * 2
    assert all(o.tokens in {40.0 + t - 10 for t in (100, 200, 300, 400)} for o in sweep[1])


def test_the_registry_passes_its_cluster_settings_and_defaults():
    from deepprune.greedy import ClusterConfig
    from deepprune.replay.methods import families
    from deepprune.replay.methods.sequential import ConSol

    f = families(cluster=ClusterConfig(K=9, K2=5, K3=2))
    for fam in ("deepprune", "deepprune-adaptive", "deepprune-sketch", "deepprune-oracle"):
        assert all((m.cfg.K, m.cfg.K2, m.cfg.K3) == (9, 5, 2) for m in f[fam]()), fam
    assert [m.cfg.tau for m in f["deepprune"]()] == [0.3, 0.5, 0.7, 0.9]
    assert [m.eta for m in f["conf-vote"]()] == [100.0, 10.0] * 4
    assert [(m.m, m.k) for m in f["short-m@k"]()][4:] == [(1, 2), (1, 4), (3, 4), (1, 8), (3, 8), (1, 16), (3, 16)]  # fmt: skip
    assert ESC().window == 5 and ESC(1).window == 1  # a window of one is a window
    assert np.isclose(ConSol(p1=0.9).rule.up, np.log(1.8))
    # twenty traces of one length: the first m in launch order end first (a stable sort)
    q = _q(list(range(20)), tokens=[50.0] * 20)
    assert (
        _run(ShortMK(m=1), q).answer == 0
        and _run(ShortMK(m=1), q, list(range(19, -1, -1))).answer == 19
    )
