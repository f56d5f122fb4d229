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
