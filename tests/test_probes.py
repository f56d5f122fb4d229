"""Answer probes: what a probe answered, and what it costs (the replay's token model)."""

import json

import numpy as np
import pytest

from deepprune.judges import get_judge
from deepprune.probes import (
    DEFAULT_CUE,
    PROBE_MAX_TOKENS,
    box_closed,
    cue_tokens,
    probe_answer,
    probe_tokens,
)
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions, run_method
from deepprune.replay.methods import DeepPrune
from deepprune.replay.methods.probing import ParallelProbe
from tests.conftest import write_jsonl


@pytest.mark.parametrize("completion,answer", [("42}", "42"), ("42} and more", "42"), ("\\frac{1}{2}} so", "\\frac{1}{2}"),
                                               ("42", None), ("", None), ("{7", None)])  # fmt: skip
def test_a_probe_answers_only_when_it_closes_the_box(completion, answer):
    assert probe_answer(DEFAULT_CUE, completion) == answer


@pytest.mark.parametrize(
    "completion,end",
    [("42} so", 3), ("\\frac{1}{2}} so", 12), ("}", 1), ("{}", None), ("42", None)],
)
def test_box_closed_is_just_past_the_closing_brace(completion, end):
    assert box_closed(DEFAULT_CUE, completion) == end
    assert (
        box_closed("\nThe answer is ", completion) == 0
    )  # a cue that opens no brace: closed at once


def test_a_probe_reads_its_answer_by_the_answer_type():
    """A letter cue (no brace) and a boxed letter, read as a choice: the letter, where ``math``
    reads the text as written."""
    assert probe_answer("\nThe answer is ", " b", "choice") == "B"
    assert probe_answer("\nThe answer is ", " b", "math") == "b"
    assert probe_answer(DEFAULT_CUE, "(B)} so", "choice") == "B"
    assert probe_answer(DEFAULT_CUE, "(B)} so", "math") == "(B)"


def test_the_token_model_by_hand():
    assert cue_tokens() == 10  # "\nThe final answer is \\boxed{" by the fallback counter
    assert probe_tokens("42") == 10 + 2  # the answer's token and its closing brace
    assert probe_tokens(None) == 10 + PROBE_MAX_TOKENS  # no answer: ran to the probe limit


def _pool(tmp_path):
    # 4 traces, a probe every 100 tokens; trace 3 ends after one probe
    probes = [["1", "1", "1"], ["1", "2", "2"], ["2", "2", None], ["3"]]
    row = {"id": "q", "gold": "1", "probe_every": 100,
           "traces": [{"answer": p[-1] or "2", "num_tokens": 100 * len(p), "probes": p} for p in probes]}  # fmt: skip
    return write_jsonl(tmp_path / "p.jsonl", [row])


def test_deepprune_with_the_probe_judge_pays_each_traces_probes_at_the_cut(tmp_path):
    pool = _pool(tmp_path)
    for trunc, last, read in [("probe:2", 1, [["1"], ["2"], ["2"], []]),
                              ("probe:2", 2, [["1", "1"], ["1", "2"], ["2", "2"], ["3"]])]:  # fmt: skip
        qs = load_questions(pool, OnlineConfig(trunc=trunc, repeats=1))
        judge = get_judge("probe" if last == 1 else f"probe:last={last}")
        cost = judge.cost(qs[0].prefixes)
        want = [sum(probe_tokens(a) for a in r) for r in read]  # trace 3 has no probe at position 1
        assert cost.per_trace.tolist() == want and not cost.per_prefix.any()
        attach_judge(qs, judge)
        row = run_method(DeepPrune(judge.id), qs, OnlineConfig(trunc=trunc, repeats=1))
        assert row["probe_tokens"] == sum(want)


def test_parallel_probe_pays_every_probe_it_reads(tmp_path):
    pool = _pool(tmp_path)
    q = load_questions(pool, OnlineConfig(trunc="probe:1", repeats=1))[0]
    out = ParallelProbe(chains=4, T=1, patience=1, warm_up=0).run(q, [0, 1, 2, 3], None)
    # round 0: every trace's first probe; round 1: traces 0-2 their second, trace 3 has none
    # (it ends with its answer 3): consensus (1,2,2,3) -> 2, trace 0 disagrees and is pruned;
    # round 2: traces 1, 2 their third probe (2, none): (1,2,-,3) ties -> 1 (first position), both
    # live traces disagree and are pruned: every trace is done
    p = [["1", "1", "1"], ["1", "2", "2"], ["2", "2", None], ["3"]]
    want = sum(probe_tokens(a[0]) for a in p) + sum(probe_tokens(a[1]) for a in p[:3])
    want += probe_tokens(p[1][2]) + probe_tokens(p[2][2])
    assert out.probe_tokens == want and out.info["rounds"] == 2


def test_prune_reports_probe_tokens_and_the_net_includes_them(tmp_path):
    from deepprune.replay.prune import prune_pool

    res = prune_pool(_pool(tmp_path), ["probe"], OnlineConfig(trunc="probe:1", repeats=2), ceiling=False,
                     noisy_auroc=None)  # fmt: skip
    dp = next(r for r in res["rows"] if r["method"] == "deepprune[probe]")
    cons = next(r for r in res["rows"] if r["method"] == "cons@N")
    assert dp["probe_tokens"] == sum(probe_tokens(a) for a in ["1", "1", "2", "3"])
    assert dp["net_tokens"] == pytest.approx(dp["tokens"] + dp["probe_tokens"])
    assert dp["net_reduction_vs_consN"] == pytest.approx(1 - dp["net_tokens"] / cons["tokens"])
    assert cons["probe_tokens"] == 0 and json.dumps(res, default=str)
    assert np.isclose(cons["net_tokens"], cons["tokens"])


def test_prefix_similarity_methods_on_probes_pay_the_probes_too(tmp_path):
    from deepprune.replay.methods.prefix_cluster import PoLR, SlimSC

    qs = load_questions(_pool(tmp_path), OnlineConfig(trunc="probe:1", repeats=1))
    judge = get_judge("probe")
    attach_judge(qs, judge)
    want = sum(probe_tokens(a) for a in ["1", "1", "2", "3"])  # every trace's first probe
    for m in (PoLR(judge.id), SlimSC(judge.id)):
        assert run_method(m, qs, OnlineConfig(trunc="probe:1", repeats=1))["probe_tokens"] == want
