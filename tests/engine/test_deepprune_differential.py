"""Live DeepPrune equals its replay on random small pools (issue 38): through `solve` on the replay
backend, resume and stream mode, random tau, K, K2, K3 and prefix cut, answers that disagree, are
missing or tie, traces that end before, at or after the cut. Resume mode: the same traces
completed, the same fallback, vote, tokens and judge calls as the simulator. Stream mode differs
by design in one column: pruned traces ran on while the clusterer decided, so its tokens are the
replay's plus that in-flight waste (checked: never fewer, and exactly the waste more).

The traces carry text: on a pool without text the replay backend streams the recorded answer as
the trace's last words (so the live vote can read it), which a judge reading the prefix text (the
noisy oracle hashes it) sees where a trace ends before the cut and the replay does not.

Also here, since every differential test stands on them: the probe judge live against its replay,
live cons@k's budget, and the replay backend itself by hand (this file is in `make mutation`'s
test selection; tests/engine/test_backends.py, which starts servers, is not)."""

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


def _text_pool(tmp_path, answers, words):
    """A one-question pool of traces with text (``words`` words each, then the boxed answer), what
    every judge reads alike on both sides; (texts, path)."""
    texts = [" ".join(f"t{i}w{j}" for j in range(w)) + ("" if a is None else f" so \\boxed{{{a}}}")
             for i, (a, w) in enumerate(zip(answers, words, strict=True))]  # fmt: skip
    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "gold": "1", "traces": [{"text": t, "answer": a}
                                for t, a in zip(texts, answers, strict=True)]}) + "\n")  # fmt: skip
    return texts, path


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
    texts, path = _text_pool(
        tmp_path, answers, data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    )
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
    texts, path = _text_pool(
        tmp_path, answers, data.draw(st.lists(st.integers(1, 12), min_size=n, max_size=n))
    )
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


def _served(backend, **meta_and_limits):
    """Everything ``backend`` streams for one request (the replay backend, by hand below)."""
    import asyncio

    from deepprune.engine.backends.base import Request

    max_tokens = meta_and_limits.pop("max_tokens", 10**6)
    logprobs = meta_and_limits.pop("logprobs", 0)
    req = Request("r", "", 0, max_tokens, logprobs=logprobs, meta=meta_and_limits)

    async def collect():
        return [item async for item in backend.stream(req)]

    return asyncio.run(collect())


def test_the_replay_backend_by_hand(tmp_path):
    """What the replay backend streams: a textless trace in chunks of CHUNK and its recorded answer
    (finished only when whole), a probe's recorded answer and its estimated tokens, a trace with
    text token by token with its confidences, a continuation from a start token; its refusals."""
    import pytest

    from deepprune.engine.backends.base import Delta, Finish
    from deepprune.engine.backends.replay import ReplayBackend
    from deepprune.errors import ConfigError
    from deepprune.probes import cue_tokens, probe_tokens
    from deepprune.tokens import get_counter

    text = "alpha beta gamma delta \\boxed{4}"
    n = get_counter(None).count(text)
    rows = [{"id": "q", "gold": "4", "probe_every": 50, "traces": [
        {"answer": "7", "num_tokens": 120, "probes": ["7", None, "7"]},
        {"text": text, "answer": "4", "confs": [float(c) for c in range(1, n + 1)], "probes": ["4"]},
        {"answer": None, "num_tokens": 60, "finished": False, "probes": [None]},
        {"text": "cut off here", "finished": False, "probes": [None]}]}]  # fmt: skip
    path = tmp_path / "p.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    b = ReplayBackend(str(path))
    assert (b.name, b.source, b.rate) == ("replay", str(path), 0.0)
    got = _served(b, question="q", index=0)
    assert [d.tokens for d in got[:-1]] == [CHUNK, CHUNK, 120 - 2 * CHUNK, 0] and got[
        -2
    ].text == "\\boxed{7}"
    assert got[-1] == Finish(120, None, True, "usage") and b.served["r"] == 120
    part = _served(b, question="q", index=0, start=50, max_tokens=60)  # a continuation, cut short
    assert [d.tokens for d in part[:-1]] == [50, 10] and all(d.text == "" for d in part[:-1])
    assert part[-1] == Finish(60, None, False, "usage") and b.served["r"] == 60
    probe = _served(b, question="q", index=0, probe=2)
    cost = probe_tokens("7") - cue_tokens()
    assert (
        probe == [Delta("7}", cost), Finish(cost, None, True, "estimate")] and b.served["r"] == cost
    )
    assert _served(b, question="q", index=0, probe=1)[-1].finished is False  # no answer at probe 1
    assert _served(b, question="q", index=0, probe=9) == [
        Finish(probe_tokens(None) - cue_tokens(), None, False, "estimate")
    ]
    whole = _served(b, question="q", index=1, logprobs=1)
    assert "".join(d.text for d in whole[:-1]) == text and all(d.tokens == 1 for d in whole[:-1])
    assert [d.top_logprobs for d in whole[:-1]] == [[[-float(c)]] for c in range(1, n + 1)]
    assert whole[-1] == Finish(n, None, True, "usage") and b.served["r"] == n
    rest = _served(b, question="q", index=1, start=2, max_tokens=2)
    assert (
        len(rest) == 3
        and rest[0].top_logprobs is None
        and rest[-1] == Finish(2, None, False, "usage")
    )
    tail = _served(b, question="q", index=1, start=n - 1)
    assert tail[-1] == Finish(1, None, True, "usage") and tail[0].text == text[-len(tail[0].text) :]
    for meta, says in (({"question": "x", "index": 0}, "replay: the pool has no trace 0 of question 'x'"),
                       ({"question": "q", "index": 4}, "replay: the pool has no trace 4 of question 'q'"),
                       ({"question": "q", "index": -1}, "replay: the pool has no trace -1 of question 'q'"),
                       ({"question": "q"}, "replay: the pool has no trace None of question 'q'")):  # fmt: skip
        with pytest.raises(ConfigError) as e:
            _served(b, **meta)
        assert str(e.value) == says
    # a trace the pool marks unfinished (it hit its token limit) streams whole but not finished
    assert _served(b, question="q", index=2)[-1] == Finish(60, None, False, "usage")
    assert _served(b, question="q", index=3)[-1].finished is False
    b.require_probes(50)
    with pytest.raises(
        ConfigError, match=r"the pool's probes are every 50 tokens, not --probe-every 40: set"
    ):
        b.require_probes(40)
    with pytest.raises(ConfigError) as e:
        b.require_text()
    assert str(e.value).startswith(
        f"{path}: 2 of 4 traces have no text, and the judge reads the prefixes' text"
    )
    bare = tmp_path / "b.jsonl"
    bare.write_text(
        json.dumps({"id": "q", "traces": [{"text": "x \\boxed{1}"}, {"answer": "2"}]}) + "\n"
    )
    nb = ReplayBackend(str(bare), rate=5.0)
    with pytest.raises(ConfigError) as e:
        nb.require_probes()
    assert str(e.value).startswith(
        f"{bare}: the pool has no answer probes, which --judge probe and parallel-probe need"
    )
    with pytest.raises(ConfigError, match="has neither text nor num_tokens to stream"):
        _served(nb, question="q", index=1)
    with pytest.raises(ConfigError, match=r"^replay: trace 0 of 'q' has no answer probes to serve"):
        _served(nb, question="q", index=0, probe=0)
    assert (
        ReplayBackend(
            b.questions.values().__iter__().__next__() and list(b.questions.values())
        ).source
        == "replay"
    )


def test_the_context_warning_at_its_edge(tmp_path):
    from deepprune.engine.backends.replay import ReplayBackend

    path = tmp_path / "p.jsonl"
    path.write_text(json.dumps({"id": "q", "traces": [{"answer": "1", "num_tokens": 5}]}) + "\n")
    b = ReplayBackend(str(path))
    assert b.context_warning(10**9) is None  # a server that did not say its context
    b.context = 4096
    assert b.context_warning(4095) is None
    assert b.context_warning(4096) == (
        "warning: --max-tokens 4096 is not below the server's context of 4096 tokens (prompt included): a "
        "long trace stops at the context, not at --max-tokens; set --max-tokens below 4096")  # fmt: skip
