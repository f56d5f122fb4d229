"""Live DeepPrune equals its replay on random small pools (issue 38): through `solve` on the replay
backend, resume and stream mode, random tau, K, K2, K3 and prefix cut, answers that disagree, are
missing or tie, traces that end before, at or after the cut. Resume mode: the same traces
completed, the same fallback, vote, tokens and judge calls as the simulator. Stream mode differs
by design in one column: pruned traces ran on while the clusterer decided, so its tokens are the
replay's plus that in-flight waste (checked: never fewer, and exactly the waste more).

The traces carry text: on a pool without text the replay backend streams the recorded answer as
the trace's last words (so the live vote can read it), which a judge reading the prefix text (the
noisy oracle hashes it) sees where a trace ends before the cut and the replay does not."""

import json

import numpy as np
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepprune.engine.solve import SolveConfig, solve
from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.problems import Problem
from deepprune.replay.batched import cluster_runs, select_completed
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions, orders_for
from deepprune.replay.methods import DeepPrune
from deepprune.rng import run_key

ANSWERS = st.sampled_from(["1", "1", "2", "3", None])


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), n=st.integers(2, 10), tau=st.sampled_from([0.3, 0.5, 0.9]), k2=st.integers(1, 6),
       k3=st.integers(1, 6), cut=st.sampled_from([3, 6, 12]),
       mode=st.sampled_from(["resume", "stream"]), seed=st.integers(0, 5),
       spec=st.sampled_from(["oracle", "noisy-oracle:auroc=0.75", "lexical:jaccard"]),
       k=st.sampled_from([2, 3, 32]))  # fmt: skip
def test_live_deepprune_equals_its_replay(tmp_path, data, n, tau, k2, k3, cut, mode, seed, spec, k):
    answers = data.draw(st.lists(ANSWERS, min_size=n, max_size=n))
    assume(any(a is not None for a in answers))  # the replay refuses a pool with no answer at all
    # traces with text (what every judge, the noisy oracle's hash included, reads alike on both
    # sides), some ending before or at the cut: their prefix is the whole trace
    words = data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    texts = [" ".join(f"t{i}w{j}" for j in range(w)) + ("" if a is None else f" so \\boxed{{{a}}}")
             for i, (a, w) in enumerate(zip(answers, words, strict=True))]  # fmt: skip
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "gold": "1", "traces": [{"text": t, "answer": a}
                                for t, a in zip(texts, answers, strict=True)]}) + "\n")  # fmt: skip
    cl = ClusterConfig(tau=tau, K=k, K2=k2, K3=k3)  # a small K: traces join below tau (ties decide)
    cfg = SolveConfig(n=n, methods=("deepprune",), judge=spec, trunc=f"tokens:{cut}", deterministic=True,
                      max_tokens=10**6, seed=seed, mode=mode, cluster=cl)  # fmt: skip
    rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)[
        "records"
    ][0]
    oc = OnlineConfig(trunc=f"tokens:{cut}", repeats=1, seed=seed)
    (q,) = load_questions(path, oc)
    judge = get_judge(spec)  # 0/1 (oracle), in between (noisy oracle: tau decides), ties (jaccard)
    attach_judge([q], judge)
    order = orders_for(q, oc)[0]
    key = run_key("deepprune", seed, 0, q.qid)
    runs = cluster_runs(
        np.array([order]), np.array([tau]), np.array([key], dtype=np.uint64), q.scores[judge.id], cl
    )
    done, fallback = select_completed(runs, 0, cl, key)
    assert rec["completed"] == done and rec["fallback"] == fallback, (texts, rec)
    sim = DeepPrune(judge.id, cl).run_repeats(q, [order], seed)[0]
    want = None if sim.answer < 0 else answers[list(q.labels).index(sim.answer)]
    assert rec["answer"] == want
    assert rec["judge_calls"] == sim.aux_calls
    if mode == "resume":
        assert rec["tokens"] == sim.tokens
    else:  # by design: the pruned traces' tokens past their prefix, streamed before they were stopped
        assert rec["tokens"] == sim.tokens + rec["inflight_waste"] >= sim.tokens
