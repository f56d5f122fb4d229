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

from deepprune.engine.backends.replay import CHUNK
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
       k=st.sampled_from([2, 3, 32]), unit=st.sampled_from(["tokens", "words"]))  # fmt: skip
def test_live_deepprune_equals_its_replay(
    tmp_path, data, n, tau, k2, k3, cut, mode, seed, spec, k, unit
):
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
    cfg = SolveConfig(n=n, methods=("deepprune",), judge=spec, trunc=f"{unit}:{cut}", deterministic=True,
                      max_tokens=10**6, seed=seed, mode=mode, cluster=cl)  # fmt: skip
    rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)[
        "records"
    ][0]
    oc = OnlineConfig(trunc=f"{unit}:{cut}", repeats=1, seed=seed)
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


EVERY = 10  # tokens between answer probes


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), n=st.integers(2, 8), tau=st.sampled_from([0.3, 0.5, 0.9]), j=st.integers(1, 3),
       mode=st.sampled_from(["resume", "stream"]), seed=st.integers(0, 3),
       spec=st.sampled_from(["probe", "probe:last=2"]))  # fmt: skip
def test_live_deepprune_with_the_probe_judge_equals_its_replay(
    tmp_path, data, n, tau, j, mode, seed, spec
):
    """The probe judge reads each trace's answer probes up to its cut (probe:J): live, the probes
    are asked of the server as the trace passes each position (a trace that ends first: at its
    end); the replay reads the pool's. Traces end before, at and after the cut. One difference by
    design, found by this test and checked in its own branch: when no trace reaches the cut."""
    traces = []
    for _ in range(n):
        probes = data.draw(st.lists(ANSWERS, min_size=1, max_size=5))
        traces.append(
            {"answer": data.draw(ANSWERS), "num_tokens": EVERY * len(probes), "probes": probes}
        )
    assume(any(t["answer"] is not None for t in traces))
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"id": "q", "gold": "1", "probe_every": EVERY, "traces": traces}) + "\n"
    )
    cl = ClusterConfig(tau=tau, K=32, K2=3, K3=3)
    cfg = SolveConfig(n=n, methods=("deepprune",), judge=spec, trunc=f"probe:{j}", probe_every=EVERY,
                      deterministic=True, max_tokens=10**6, seed=seed, mode=mode, cluster=cl)  # fmt: skip
    rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)[
        "records"
    ][0]
    oc = OnlineConfig(trunc=f"probe:{j}", repeats=1, seed=seed)
    (q,) = load_questions(path, oc)
    judge = get_judge(spec)
    attach_judge([q], judge)
    order = orders_for(q, oc)[0]
    sim = DeepPrune(judge.id, cl).run_repeats(q, [order], seed)[0]
    if max(len(t["probes"]) for t in traces) < j:
        # by design: no trace reached the cut. Live, the judge reads positions J-last .. J-1, where
        # a trace that ended before has no answer (unknown); the replay reads the deepest positions
        # any trace reached. The clusters may differ; what was generated may not: every trace
        # ended before its cut, whole, on both sides
        assert rec["tokens"] == sum(t["num_tokens"] for t in traces) == sim.tokens
        assert set(rec["completed"]) <= set(range(n)) and rec["completed"]
        return
    key = run_key("deepprune", seed, 0, q.qid)
    runs = cluster_runs(
        np.array([order]), np.array([tau]), np.array([key], dtype=np.uint64), q.scores[judge.id], cl
    )
    done, fallback = select_completed(runs, 0, cl, key)
    assert (rec["completed"], rec["fallback"], rec["judge_calls"]) == (
        done,
        fallback,
        sim.aux_calls,
    ), (traces, rec)
    labels = {int(q.labels[i]): t["answer"] for i, t in enumerate(traces)}
    assert rec["answer"] == (None if sim.answer < 0 else labels[int(sim.answer)])
    if mode == "resume":
        assert rec["tokens"] == sim.tokens, (traces, rec, sim)
    else:  # by design: pruned traces streamed on, in chunks (the prefix is read at a chunk's end)
        pruned = n - len(done)
        assert sim.tokens <= rec["tokens"] <= sim.tokens + rec["inflight_waste"] + CHUNK * pruned
    # the probes asked: one per position the judge reads (the last `last` before the cut) that the
    # trace reached, or the one it ended in
    asked = sorted(rid for rid, _ in rec["requests"] if "/probe" in rid)
    last = getattr(judge, "last", 1)
    want = sorted(f"q/{i}/probe{k}" for i, t in enumerate(traces) for k in range(max(j - last, 0), j)
                  if k < len(t["probes"]))  # fmt: skip
    assert asked == want, (traces, asked)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    data=st.data(),
    n=st.integers(2, 8),
    cut=st.sampled_from([2, 5]),
    k=st.sampled_from([0, 0, 1, 3, 20]),
)
def test_live_cons_k_takes_deepprunes_budget_in_cons_n_traces(tmp_path, data, n, cut, k):
    """cons@k with k = 0: DeepPrune's tokens in traces of cons@N's mean length, rounded, at least
    1 and at most N; then the first k traces, whole, voted. A k given is used as is (at most N)."""
    from deepprune.vote import majority_class

    answers = data.draw(st.lists(ANSWERS, min_size=n, max_size=n))
    words = data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    texts = [" ".join(f"t{i}w{j}" for j in range(w)) + ("" if a is None else f" so \\boxed{{{a}}}")
             for i, (a, w) in enumerate(zip(answers, words, strict=True))]  # fmt: skip
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "gold": "1", "traces": [{"text": t, "answer": a}
                                for t, a in zip(texts, answers, strict=True)]}) + "\n")  # fmt: skip
    cfg = SolveConfig(n=n, methods=("cons@N", "deepprune", "cons@k"), judge="lexical:jaccard", k=k,
                      trunc=f"tokens:{cut}", deterministic=True, max_tokens=10**6,
                      cluster=ClusterConfig(K2=1, K3=1))  # fmt: skip
    recs = {r["method"]: r for r in solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path),
                                          progress=False)["records"]}  # fmt: skip
    per = dict(recs["cons@N"]["requests"])  # request id -> tokens, in the order they ended
    lengths = [per[f"q/{i}"] for i in range(n)]
    assert recs["cons@N"]["tokens"] == sum(lengths) and recs["cons@N"]["completed"] == list(
        range(n)
    )
    want = k or recs["deepprune"]["tokens"] / (recs["cons@N"]["tokens"] / n)
    want = int(min(max(round(want), 1), n))
    got = recs["cons@k"]
    assert got["k"] == want and got["completed"] == list(range(want))
    assert got["tokens"] == sum(lengths[:want]) and got["sequential_tokens"] == max(lengths[:want])
    labels = [-1 if a is None else {"1": 0, "2": 1, "3": 2}[a] for a in answers[:want]]
    win = majority_class(labels)
    assert got["answer"] == (None if win < 0 else answers[labels.index(win)])


def test_an_oracle_judge_live_needs_the_replayed_pools_answers():
    import pytest

    from deepprune.dev.fault_server import FaultServer
    from deepprune.errors import ConfigError

    cfg = SolveConfig(n=2, methods=("deepprune",), judge="oracle", trunc="tokens:4", max_tokens=8)
    with FaultServer() as fs, pytest.raises(ConfigError) as e:
        solve([Problem("q", "1+1?", "2")], cfg, base_url=fs.url(), model="fault-model", timeout=2.0,
              progress=False)  # fmt: skip
    assert str(e.value) == "judge 'oracle' needs the final answers: use it with --backend replay"
