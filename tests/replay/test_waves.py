"""Adaptive stopping in waves and the budget-capped cons@k, on hand-built pools with outcomes
worked out by hand."""

import json
import math

import numpy as np
import pytest

from deepprune.errors import ConfigError
from deepprune.replay.harness import OnlineConfig, load_questions, orders_for
from deepprune.replay.methods.sequential import ESC, AdaptiveConsistency, ConSol
from deepprune.replay.methods.waves import CappedConsK, WaveStop
from deepprune.stopping import AscRule, ConsolRule, beta_leader


def _q(tmp_path, answers, lens, probes=None, probe_every=None):
    traces = [{"answer": a, "num_tokens": n} for a, n in zip(answers, lens, strict=True)]
    if probes is not None:
        for t, p in zip(traces, probes, strict=True):
            t["probes"] = p
    row = {"id": "q", "gold": "1", "traces": traces}
    if probe_every:
        row["probe_every"] = probe_every
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps(row) + "\n")
    return load_questions(path, OnlineConfig(trunc="tokens:1", repeats=1, shuffle=False))[0]


def test_the_beta_rule_by_hand():
    # P(X > 1/2), X ~ Beta(4, 1) = 1 - 0.5^4 = 0.9375; Beta(5, 1): 1 - 0.5^5 = 0.96875
    assert beta_leader(3, 0) == pytest.approx(0.9375) and beta_leader(4, 0) == pytest.approx(
        0.96875
    )
    rule = AscRule(0.95)
    assert not rule.stop({0: 3}, 3) and rule.stop({0: 4}, 4)
    assert rule.stop({0: 4, -1: 9}, 13) and not rule.stop({-1: 5}, 5)  # no answer never votes
    # ConsolRule: a log 1.5 + b log 0.5 >= log 16: a = 7 (2.84 >= 2.77), not 6 (2.43)
    assert ConsolRule().stop({0: 7}, 7) and not ConsolRule().stop({0: 6}, 6)


def test_a_wave_decides_as_its_traces_end_and_closes_the_rest(tmp_path):
    """Wave of 4: lengths 40, 10, 30, 20 end in the order 10, 20, 30, 40, answers 1, 2, 1, 1:
    P(Beta(4, 2) > 1/2) = P(Bin(5, 1/2) <= 3) = 26/32 = 0.8125 < 0.85, the wave ends whole. Wave 2
    (50, 60 tokens): the 50-token trace ends with 1, P(Beta(5, 2) > 1/2) = 57/64 = 0.890625 >= 0.85:
    stop at t = 50, the 60-token trace closed at 50."""
    q = _q(tmp_path, ["1", "1", "1", "2", "1", "1"], [40, 10, 30, 20, 50, 60])
    out = WaveStop(AdaptiveConsistency(0.85), wave=4).run(q, [0, 1, 2, 3, 4, 5], None)
    assert beta_leader(3, 1) == pytest.approx(26 / 32) and beta_leader(4, 1) == pytest.approx(
        57 / 64
    )
    assert out.answer == q.labels[0] and out.info["k"] == 5
    assert out.tokens == 40 + 10 + 30 + 20 + 50 + 50  # the 60-token trace closed at 50
    assert out.seq_tokens == 40 + 50


def test_wave_one_is_the_sequential_method_exactly(tmp_path):
    rng = np.random.default_rng(0)
    answers = [str(a) for a in rng.integers(0, 3, 40)]
    q = _q(tmp_path, answers, [int(x) for x in rng.integers(10, 500, 40)])
    for order in orders_for(q, OnlineConfig(trunc="tokens:1", repeats=5)):
        for seq in (AdaptiveConsistency(0.9), AdaptiveConsistency(0.8, "dirichlet"), ConSol(0.1)):
            a, b = seq.run(q, order, None), WaveStop(seq, wave=1).run(q, order, None)
            assert (a.answer, a.tokens, a.seq_tokens, a.info["k"]) == (
                b.answer,
                b.tokens,
                b.seq_tokens,
                b.info["k"],
            )


def test_a_tie_goes_to_the_trace_that_ended_first(tmp_path):
    # never stops (threshold 0.99 on two votes): the vote is 1-1, the 5-token trace (answer 2) ended first
    q = _q(tmp_path, ["1", "2"], [50, 5])
    assert WaveStop(AdaptiveConsistency(0.99), wave=2).run(q, [0, 1], None).answer == q.labels[1]
    assert ESC(2).run(q, [0, 1], None).answer == q.labels[0]  # ESC: the first launched


def test_capped_cons_k_by_hand(tmp_path):
    q = _q(tmp_path, ["1", "1", "2"], [100, 900, 300])
    out = CappedConsK(3, 500).run(q, [0, 1, 2], None)
    # the 900-token trace is cut at 500 and gives no answer: 1 vs 2, tie to the first launched
    assert out.tokens == 100 + 500 + 300 and out.seq_tokens == 500 and out.info["cut"] == 1
    assert out.answer == q.labels[0]
    out = CappedConsK(3, 200).run(q, [2, 1, 0], None)  # only the 100-token trace answers
    assert out.answer == q.labels[0] and out.tokens == 200 + 200 + 100


def test_capped_cons_k_reads_the_probe_at_the_cap(tmp_path):
    """probe_every 100: a 500 cap reads probe 4 (the answer at 500 tokens)."""
    q = _q(tmp_path, ["1", "1", "2"], [950, 950, 300],
           probes=[["2"] * 9, ["2"] * 4 + ["1"] * 5, ["2"] * 3], probe_every=100)  # fmt: skip
    out = CappedConsK(3, 500).run(q, [0, 1, 2], None)
    assert out.answer == q.labels[2] and out.probe_tokens > 0  # 2, 2 (probes at the cap) and 2


def test_bad_settings_are_refused():
    for bad in (
        lambda: WaveStop(AdaptiveConsistency(), 0),
        lambda: CappedConsK(0, 5),
        lambda: AscRule(1.0),
    ):
        with pytest.raises(ConfigError):
            bad()


@pytest.mark.parametrize("kw", [{"p1": 0.5}, {"p1": 1.0}, {"alpha": 0.0}, {"alpha": 1.0}, {"beta": 0.0},
                                {"beta": 1.0}, {"alpha": 0.0, "beta": 0.5}, {"alpha": 0.5, "beta": 1.0}])  # fmt: skip
def test_consol_refuses_settings_outside_its_open_intervals(kw):
    from deepprune.errors import ConfigError

    with pytest.raises(ConfigError, match="p1 must be in|alpha and beta must be in"):
        ConsolRule(**kw)


def test_consols_test_by_hand():
    """alpha 0.1, beta 0.1, p1 0.8: stop once a log 1.6 + b log 0.4 >= log 9 (2.197): a = 5 alone
    (2.350), not 4 (1.880); a = 7 against b = 1 (3.290 - 0.916 = 2.374), not a = 6, b = 1 (1.904);
    the runner-up is the second largest count, no-answer (-1) never counts."""
    rule = ConsolRule(alpha=0.1, beta=0.1, p1=0.8)
    assert (rule.bound, rule.up, rule.down) == pytest.approx(
        (math.log(9), math.log(1.6), math.log(0.4))
    )
    assert rule.stop({0: 5}, 5) and not rule.stop({0: 4}, 4)
    assert rule.stop({0: 7, 1: 1}, 8) and not rule.stop({0: 6, 1: 1}, 7)
    assert rule.stop({0: 7, 1: 1, 2: 1}, 9)  # a third class does not count against the leader
    assert (
        rule.stop({2: 1, 0: 7, -1: 30}, 38) and not rule.stop({-1: 9}, 9) and not rule.stop({}, 0)
    )
    # exactly at the bound stops: a log 1.6 = log 9 needs a non-integer a; with p1 = 0.75, alpha =
    # 0.5 and beta = 0.25 the bound is log 1.5 = one vote's log(2 p1)
    assert ConsolRule(alpha=0.5, beta=0.25, p1=0.75).stop({0: 1}, 1)


def test_capped_cons_k_by_hand_at_every_edge(tmp_path):
    """A trace exactly at the cap is whole (its own answer); probes every 100 tokens: a 250 cap reads
    probe 1 (the answer at 200 tokens; 250 // 100 - 1), a cap below the first probe or past the
    last has no answer; a no-answer probe (null) is -1; probe tokens are those of the probes read."""
    probes = [["3", "1", "2", None, "2"], ["3", "3", None, "1", "1"], ["2", "2", "2"]]
    q = _q(tmp_path, ["1", "1", "2"], [500, 500, 300], probes=probes, probe_every=100)
    pc = q.probe_cost
    out = CappedConsK(3, 500).run(q, [0, 1, 2], None)  # 500: both at the cap exactly, whole
    assert (out.answer, out.tokens, out.seq_tokens, out.probe_tokens, out.info) == (
        q.labels[0], 1300.0, 500.0, 0.0, {"k": 3, "cut": 0})  # fmt: skip
    out = CappedConsK(3, 250).run(
        q, [2, 0, 1], None
    )  # probe 1 of traces 0 and 1: "1" and "3"; trace 2: at 250 too
    assert out.info == {"k": 3, "cut": 3} and out.tokens == 750.0 and out.seq_tokens == 250.0
    assert out.probe_tokens == float(pc[[2, 0, 1], 1].sum())
    lab = {a: int(q.probes[i][j]) for i, j, a in ((0, 1, "1"), (1, 0, "3"), (2, 0, "2"))}
    assert out.answer == lab["2"]  # 2, 1, 3: one each, the first launched (trace 2) wins
    out = CappedConsK(2, 350).run(q, [0, 1], None)  # probe 2: trace 0 "2", trace 1 no answer
    assert out.answer == lab["2"] and out.probe_tokens == float(pc[[0, 1], 2].sum())
    out = CappedConsK(2, 150).run(q, [1, 0], None)  # probe 0: "3" and "3"
    assert out.answer == lab["3"] and out.probe_tokens == float(pc[[1, 0], 0].sum())
    out = CappedConsK(2, 99).run(q, [0, 1], None)  # below the first probe: no answer, no probe cost
    assert (out.answer, out.probe_tokens, out.tokens) == (-1, 0.0, 198.0)
    long = _q(tmp_path, ["1", "2"], [5000, 5000], probes=[["1"] * 3, ["2"] * 3], probe_every=100)
    for cap in (400, 4000):  # probe 3 of 3, probe 39: past the last probe, no answer
        out = CappedConsK(2, cap).run(long, [1, 0], None)
        assert (out.answer, out.probe_tokens) == (-1, 0.0)
    out = CappedConsK(2, 300).run(long, [1, 0], None)  # probe 2, the last
    assert out.answer == long.labels[1]
    plain = _q(tmp_path, ["1", "2"], [900, 100])  # no probes: a cut trace has no answer
    out = CappedConsK(5, 500).run(plain, [0, 1], None)  # k above N: N
    assert (out.answer, out.probe_tokens, out.info) == (plain.labels[1], 0.0, {"k": 2, "cut": 1})
    assert (
        CappedConsK(4, 8192).name == "cons@4|cap=8192" and CappedConsK(1, 1, name="x").name == "x"
    )
    with pytest.raises(
        ConfigError, match=r"^capped cons@k needs k >= 1 and budget >= 1, got 1, 0$"
    ):
        CappedConsK(1, 0)
    with pytest.raises(ConfigError, match=r"^wave must be >= 1, got 0$"):
        WaveStop(AdaptiveConsistency(), 0)
    assert WaveStop(AdaptiveConsistency()).wave == 4  # the default wave


def test_a_wave_reports_how_many_traces_it_launched(tmp_path):
    # waves of 3: traces 0-2 launched; the two agreeing ones end first (P(Beta(3, 1) > 1/2) = 7/8)
    q = _q(tmp_path, ["1", "1", "2", "1", "1"], [5, 10, 20, 10, 10])
    out = WaveStop(AdaptiveConsistency(0.8), wave=3).run(q, [0, 1, 2, 3, 4], None)
    assert out.info == {"k": 2, "launched": 3} and out.tokens == 5 + 10 + 10
    out = WaveStop(AdaptiveConsistency(0.999), wave=3).run(q, [0, 1, 2, 3, 4], None)
    assert out.info == {"k": 5, "launched": 5}  # never sure: every trace, the last wave short


def test_the_stopping_rules_at_their_bounds_by_hand():
    """Adaptive-Consistency's rule: the paper's defaults (0.95, beta; 2,000 Dirichlet draws ours),
    each refusal in one line, the beta and Dirichlet criteria each its own, and a stop once the
    confidence reaches the threshold (equal is enough). ConSol's SPRT: stop exactly where
    a log(2 p1) + b log(2 (1 - p1)) reaches log((1 - beta) / alpha), by hand over every count."""
    import math

    from deepprune.errors import ConfigError
    from deepprune.stopping import AscRule, ConsolRule, beta_leader, dirichlet_leader

    r = AscRule()
    assert (r.threshold, r.criterion, r.draws) == (0.95, "beta", 2000)
    for kw, says in (({"criterion": "gamma"}, "criterion must be beta or dirichlet, got 'gamma'"),
                     ({"threshold": 0.5}, "threshold must be in (0.5, 1), got 0.5"),
                     ({"threshold": 1}, "threshold must be in (0.5, 1), got 1")):  # fmt: skip
        with pytest.raises(ConfigError) as e:
            AscRule(**kw)
        assert str(e.value) == says
    assert AscRule(criterion="beta").confidence([5, 1]) == beta_leader(5, 1) == 0.9375
    assert (
        AscRule(criterion="dirichlet").confidence([5, 1])
        == dirichlet_leader((5, 1), 2000)
        != 0.9375
    )
    assert AscRule(criterion="dirichlet", draws=500).confidence([5, 1]) == dirichlet_leader(
        (5, 1), 500
    )
    assert AscRule().confidence([]) == 0.0 and AscRule().confidence([4]) == beta_leader(4, 0)
    at = AscRule(threshold=0.9375)  # the confidence of 5 votes against 1, exactly
    assert at.stop({0: 5, 1: 1}, 6) and not at.stop({0: 4, 1: 1}, 5)
    c = ConsolRule()
    up, down, bound = math.log(1.5), math.log(0.5), math.log(0.8 / 0.05)
    for a in range(12):
        for b in range(a + 1):
            counts = {0: a, 1: b} if b else ({0: a} if a else {})
            assert c.stop(counts, a + b) == (a > 0 and a * up + b * down >= bound - 1e-12), (a, b)
