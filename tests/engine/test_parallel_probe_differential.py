"""Live Parallel-Probe equals its replay on random small probe pools (issue 38): through `solve` on
the replay backend with random T, patience and warm-up, probes that disagree, are missing (no
answer) or tie, traces of different lengths. The same answer, rounds and traces pruned; generated, sequential and probe tokens
and finished traces never below the replay's (by design: live traces run ahead of the rounds)."""

import json

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepprune.engine.solve import SolveConfig, solve
from deepprune.probes import cue_tokens
from deepprune.problems import Problem
from deepprune.replay.harness import OnlineConfig, load_questions
from deepprune.replay.methods.probing import ParallelProbe

EVERY = 10  # tokens between probes
ANSWERS = st.sampled_from(["1", "1", "2", "3", None])


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), n=st.integers(2, 6), T=st.integers(1, 3), patience=st.integers(1, 3),
       warm_up=st.integers(0, 2))  # fmt: skip
def test_live_parallel_probe_equals_its_replay(tmp_path, data, n, T, patience, warm_up):
    traces = []
    for _ in range(n):
        probes = data.draw(st.lists(ANSWERS, min_size=1, max_size=6))
        final = data.draw(ANSWERS)
        traces.append({"answer": final, "num_tokens": EVERY * len(probes), "probes": probes})
    assume(any(t["answer"] is not None for t in traces))  # the replay refuses a pool with no answer
    path = tmp_path / "p.jsonl"
    path.write_text(
        json.dumps({"id": "q", "gold": "1", "probe_every": EVERY, "traces": traces}) + "\n"
    )
    cfg = SolveConfig(n=n, methods=("parallel-probe",), probe_every=EVERY, pp_T=T, pp_patience=patience,
                      pp_warm_up=warm_up, max_tokens=10**6)  # fmt: skip
    rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)[
        "records"
    ][0]
    (q,) = load_questions(path, OnlineConfig(trunc="probe:1", repeats=1, shuffle=False))
    sim = ParallelProbe(chains=n, T=T, patience=patience, warm_up=warm_up, max_rounds=100).run(
        q, list(range(n)), None
    )
    name = {}  # each class id the replay uses, and an answer string of it
    for i, t in enumerate(traces):
        name.setdefault(int(q.labels[i]), t["answer"])
        for j, a in enumerate(t["probes"]):
            name.setdefault(int(q.probes[i][j]), a)
    assert (rec["rounds"], rec["pruned"]) == (sim.info["rounds"], sim.info["pruned"]), (
        traces,
        rec,
        sim,
    )
    assert rec["answer"] == (None if sim.answer < 0 else name[int(sim.answer)]), (traces, rec, sim)
    # by design the live traces run ahead of the rounds: a trace streams on while the round loop
    # waits for the others' probes, so it may generate (and be probed) past the point where the
    # replay's lock-step rounds stop it; never less. (Whether a trace that ends exactly as the run
    # stops counts as finished depends on whether its end arrived first: not compared.)
    assert rec["tokens"] >= sim.tokens and rec["sequential_tokens"] >= sim.seq_tokens
    assert rec["probe_tokens"] + rec["probe_calls"] * cue_tokens() >= sim.probe_tokens


def _pp_record(tmp_path, traces, **kw):
    path = tmp_path / "pp.jsonl"
    path.write_text(
        json.dumps({"id": "q", "gold": "1", "probe_every": EVERY, "traces": traces}) + "\n"
    )
    cfg = SolveConfig(n=len(traces), methods=("parallel-probe",), probe_every=EVERY, pp_patience=1, pp_warm_up=0,
                      max_tokens=10**6, **kw)  # fmt: skip
    return solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(path), progress=False)[
        "records"
    ][0]


def test_live_parallel_probe_by_hand_a_stopped_trace_is_not_finished(tmp_path):
    """Three traces of 10 probes that all say 1: the consensus holds from round 1, so with T = 1 the
    run stops after round 2 and stops every trace: none finished by itself, none pruned by the
    rule. The replay backend streams a trace's tokens ahead of the rounds (each trace reaches its
    100th token and 5 probes before the stop is heard): that is what was generated and charged."""
    traces = [{"answer": "1", "num_tokens": 100, "probes": ["1"] * 10} for _ in range(3)]
    rec = _pp_record(tmp_path, traces, pp_T=1)
    assert (rec["answer"], rec["rounds"], rec["finished"], rec["pruned"]) == ("1", 2, 0, 0)
    assert (rec["tokens"], rec["sequential_tokens"]) == (300, 100)
    assert (rec["probe_calls"], rec["probe_tokens"]) == (
        15,
        sum(t for rid, t in rec["requests"] if "/probe" in rid),
    )
    assert sorted(rid for rid, _ in rec["requests"] if "/probe" not in rid) == ["q/0", "q/1", "q/2"]


def test_live_parallel_probe_by_hand_finished_and_pruned_traces(tmp_path):
    """Two 20-token traces that say 1 end by themselves in round 1 (finished 2); the third says 2
    at every probe, is off the consensus once the others end and is pruned with patience 1."""
    traces = [{"answer": "1", "num_tokens": 20, "probes": ["1", "1"]}] * 2 + [
        {"answer": "2", "num_tokens": 100, "probes": ["2"] * 10}
    ]
    for T in (1, 3):
        rec = _pp_record(tmp_path, traces, pp_T=T)
        assert (rec["answer"], rec["rounds"], rec["finished"], rec["pruned"]) == ("1", 2, 2, 1)
        assert (rec["tokens"], rec["sequential_tokens"]) == (140, 100)


def test_a_failing_trace_fails_live_parallel_probe_in_one_line(tmp_path):
    """A server error in one trace reaches the round loop (it does not wait for that trace's probe
    forever) and the run ends with the error: nothing is left running."""
    import pytest

    from deepprune.dev.fault_server import FaultServer
    from deepprune.errors import DeepPruneError

    cfg = SolveConfig(n=3, methods=("parallel-probe",), probe_every=4, max_tokens=20, pp_warm_up=0,
                      pp_patience=1, concurrent_problems=1)  # fmt: skip
    with FaultServer() as fs, pytest.raises(DeepPruneError) as e:
        solve([Problem("q", "1+1?", "2")], cfg, base_url=fs.url("http500"), model="fault-model", timeout=2.0,
              retries=0, progress=False)  # fmt: skip
    assert "\n" not in str(e.value) and "500" in str(e.value)


def test_live_parallel_probes_completed_traces_are_those_that_ended(tmp_path):
    """The traces that ended by themselves are the run's completed traces (whole, finished; what a
    proxy returns as choices); a trace the rule stopped is not among them."""
    import asyncio

    from deepprune.engine.backends import get_backend
    from deepprune.engine.live import prepare, solve_one

    traces = [{"answer": "1", "num_tokens": 20, "probes": ["1", "1"]}] * 2 + [
        {"answer": "2", "num_tokens": 100, "probes": ["2"] * 10}
    ]
    path = tmp_path / "pp.jsonl"
    path.write_text(
        json.dumps({"id": "q", "gold": "1", "probe_every": EVERY, "traces": traces}) + "\n"
    )
    cfg = SolveConfig(n=3, methods=("parallel-probe",), probe_every=EVERY, pp_T=1, pp_patience=1, pp_warm_up=0,
                      max_tokens=10**6)  # fmt: skip
    backend = get_backend("replay", pool=str(path))
    setup = prepare(cfg, backend)
    res = asyncio.run(solve_one(setup, backend, Problem("q", "", "1"), setup.methods[0]))
    assert sorted(res.completed) == [0, 1] and all(res.completed[i][1] for i in (0, 1))
    assert res.result["finished"] == 2
