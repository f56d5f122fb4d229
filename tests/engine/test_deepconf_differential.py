"""Live DeepConf-online equals its replay on random small pools (issue 38): through `solve` on the
replay backend (token confidences streamed as log-probabilities) with random n, warm-up, window
and kept share, confidences that cross the threshold anywhere, traces shorter than, as long as
and longer than a window, answers that agree, disagree and tie. The same threshold, answer,
stopped traces and generated tokens.

Two differences by design, each checked rather than hidden:
- the replay (DeepConf's published online form) starts the traces after the warm-up one at a time
  and stops starting them once 95% of the weighted vote agrees; the live form starts them all at
  once, so it has no consensus stop: the replay runs here with its consensus stop off;
- a trace no longer than a window that ends below the threshold never had a full window to stop
  on: neither form lets it vote, the replay counts it "stopped", the live form does not (it was
  not cut; it spent all its tokens in both).
"""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deepprune.answers import extract_answer
from deepprune.confidence import window_means
from deepprune.engine.solve import SolveConfig, solve
from deepprune.problems import Problem
from deepprune.replay.harness import OnlineConfig, load_questions
from deepprune.replay.methods.deepconf import DeepConfOnline
from deepprune.tokens import get_counter

CONFS = st.sampled_from([0.5, 1.0, 2.0, 3.0, 4.0])


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    n=st.integers(3, 6),
    window=st.integers(2, 5),
    keep=st.sampled_from([10.0, 50.0, 90.0]),
)
def test_live_deepconf_equals_its_replay(tmp_path, data, n, window, keep):
    warmup = data.draw(st.integers(1, n - 1))
    counter = get_counter(None)
    traces = []
    for _ in range(n):
        words, answer = (
            data.draw(st.integers(0, 10)),
            data.draw(st.sampled_from(["1", "2", "2", "3"])),
        )
        text = " ".join(f"w{k}" for k in range(words)) + f" \\boxed{{{answer}}}"
        confs = data.draw(
            st.lists(CONFS, min_size=counter.count(text), max_size=counter.count(text))
        )
        traces.append({"text": text, "answer": answer, "confs": confs})
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "gold": "1", "traces": traces}) + "\n")
    cfg = SolveConfig(n=n, methods=("deepconf",), deepconf_warmup=warmup, deepconf_window=window,
                      deepconf_keep=keep, logprobs=1, max_tokens=10**6)  # fmt: skip
    rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)[
        "records"
    ][0]
    (q,) = load_questions(path, OnlineConfig(repeats=1, shuffle=False))
    sim = DeepConfOnline(
        keep, "deepconf", warmup=warmup, consensus=float("inf"), window=window
    ).run(q, list(range(n)), None)
    assert rec["threshold"] == sim.info["threshold"]
    answer = {int(q.labels[i]): t["answer"] for i, t in enumerate(traces)}
    assert rec["answer"] == (None if sim.answer < 0 else answer[int(sim.answer)]), (
        traces,
        rec,
        sim,
    )
    assert rec["tokens"] == sim.tokens, (traces, rec, sim)
    s = sim.info["threshold"]
    # shorter than a window and below the threshold: no window to stop on (exactly one window:
    # the live form cuts it at its last token, and both count it stopped)
    short_below = sum(
        len(t["confs"]) < window and window_means(t["confs"], window).min() < s
        for t in traces[warmup:]
    )
    assert rec["stopped"] == sim.info["stopped"] - short_below, (traces, rec, sim)
    assert np.isfinite(s)


def _deepconf_pool(tmp_path, full_confs=True):
    """Three traces: 0 and 2 confident, 1 (two tokens of confidence 0.5) below any threshold."""
    counter = get_counter(None)
    traces = [{"text": "a b c \\boxed{1}", "answer": "1", "confs": [1, 2, 3, 4, 5, 6, 7]},
              {"text": "a \\boxed{2}", "answer": "2", "confs": [0.5]},
              {"text": "a b c d e \\boxed{1}", "answer": "1", "confs": [3]}]  # fmt: skip
    for t in traces:
        n = counter.count(t["text"]) - (0 if full_confs else 1)
        t["confs"] = (t["confs"] * 20)[:n]
    path = tmp_path / "dc.jsonl"
    path.write_text(json.dumps({"id": "q", "gold": "1", "traces": traces}) + "\n")
    return path, traces


def test_live_deepconf_by_hand_its_voters_are_the_completed_traces(tmp_path):
    """Warm-up 1, window 2, keep 90%: trace 0's lowest window mean (1.5) is the threshold; trace 1
    falls below it and stops; 0 and 2 vote and are the completed traces, whole and finished."""
    import asyncio

    from deepprune.engine.backends import get_backend
    from deepprune.engine.live import prepare, solve_one

    path, traces = _deepconf_pool(tmp_path)
    cfg = SolveConfig(n=3, methods=("deepconf",), deepconf_warmup=1, deepconf_window=2, deepconf_keep=90.0,
                      logprobs=1, max_tokens=10**6)  # fmt: skip
    backend = get_backend("replay", pool=str(path))
    setup = prepare(cfg, backend)
    res = asyncio.run(solve_one(setup, backend, Problem("q", "", "1"), setup.methods[0]))
    assert (res.result["answer"], res.result["threshold"], res.result["stopped"], res.result["completed"]) == (
        "1", 1.5, 1, 2)  # fmt: skip
    assert sorted(res.completed) == [0, 2]
    assert [res.completed[i][1] for i in (0, 2)] == [True, True]
    assert [extract_answer(res.completed[i][0], "math") for i in (0, 2)] == ["1", "1"]
    lengths = dict(res.ledger.requests)
    assert res.ledger.sequential_tokens == max(lengths.values()) == lengths["q/2"]


def test_live_deepconf_refuses_a_stream_without_logprobs(tmp_path):
    import pytest

    from deepprune.errors import DeepPruneError

    path, _ = _deepconf_pool(tmp_path, full_confs=False)  # the last token has no logprobs
    cfg = SolveConfig(n=3, methods=("deepconf",), deepconf_warmup=1, logprobs=1, max_tokens=10**6)
    with pytest.raises(DeepPruneError) as e:
        solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)
    assert str(e.value) == "deepconf needs logprobs, and the server returned none"
