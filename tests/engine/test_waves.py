"""ASC, ConSol and ESC live in waves equal their replay methods on the replay backend: the same
vote and the same traces ended, the tokens of closed traces within one streamed chunk (a random
small pool per example: disagreeing and missing answers, ties)."""

import json
import random

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from deepprune.engine.backends.replay import CHUNK
from deepprune.engine.solve import SolveConfig, solve
from deepprune.problems import Problem
from deepprune.replay.harness import OnlineConfig, load_questions
from deepprune.replay.methods.sequential import ESC, AdaptiveConsistency, ConSol
from deepprune.replay.methods.waves import WaveStop

ANSWERS = st.sampled_from(["1", "1", "2", "3", None])


def _pool(path, answers, lens):
    row = {
        "id": "q",
        "gold": "1",
        "traces": [{"answer": a, "num_tokens": n} for a, n in zip(answers, lens)],
    }
    path.write_text(json.dumps(row) + "\n")
    return load_questions(path, OnlineConfig(trunc="tokens:1", repeats=1, shuffle=False))[0]


def _live(cfg, pool) -> list[dict]:
    """The records of ``cfg`` on the replayed one-question pool."""
    return solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(pool), progress=False)[
        "records"
    ]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), n=st.integers(2, 9), wave=st.integers(1, 4),
       method=st.sampled_from(["asc", "asc-dirichlet", "consol", "esc"]), threshold=st.sampled_from([0.6, 0.8, 0.9]))  # fmt: skip
def test_live_waves_equal_their_replay(tmp_path, data, n, wave, method, threshold):
    answers = data.draw(st.lists(ANSWERS, min_size=n, max_size=n))
    assume(any(a is not None for a in answers))  # the replay refuses a pool with no answer at all
    # distinct lengths in whole chunks: traces end in one order, live and replayed alike
    lens = [CHUNK * c for c in data.draw(st.permutations(range(1, 13)))[:n]]
    q = _pool(tmp_path / "p.jsonl", answers, lens)
    crit = "dirichlet" if method == "asc-dirichlet" else "beta"
    cfg = SolveConfig(n=n, methods=("esc" if method == "esc" else method.split("-")[0],), wave=wave,
                      asc_threshold=threshold, asc_criterion=crit, consol_alpha=1 - threshold, max_tokens=10**6)  # fmt: skip
    rec = _live(cfg, tmp_path / "p.jsonl")[0]
    rule = {"asc": AdaptiveConsistency(threshold), "asc-dirichlet": AdaptiveConsistency(threshold, "dirichlet"),
            "consol": ConSol(alpha=1 - threshold)}.get(method)  # fmt: skip
    replay = (ESC(wave) if rule is None else WaveStop(rule, wave)).run(q, list(range(n)), None)
    want = None if replay.answer < 0 else answers[list(q.labels).index(replay.answer)]
    assert rec["answer"] == want, (answers, lens, rec)
    assert rec["ended"] == replay.info["k"]
    # a closed trace streams on until the stop reaches it: the ending trace's finish comes one chunk
    # after its last tokens, the closed trace stops after its next chunk (at most 2 chunks late)
    closed = replay.info.get("launched", replay.info["k"]) - replay.info["k"]
    assert replay.tokens <= rec["tokens"] <= replay.tokens + 2 * CHUNK * closed
    waves = -(-replay.info.get("launched", replay.info["k"]) // wave)
    assert replay.seq_tokens <= rec["sequential_tokens"] <= replay.seq_tokens + 2 * CHUNK * waves


def test_a_hand_mutated_rule_is_caught(tmp_path):
    """The stop rule ignored (never stop) must differ from the replay: ASC(0.8) on four agreeing
    traces in one wave stops after the second end (P(Beta(3, 1) > 1/2) = 7/8)."""
    q = _pool(tmp_path / "p.jsonl", ["1"] * 4, [50, 100, 150, 200])
    cfg = SolveConfig(n=4, methods=("asc",), wave=4, asc_threshold=0.8, max_tokens=10**6)
    rec = _live(cfg, tmp_path / "p.jsonl")[0]
    replay = WaveStop(AdaptiveConsistency(0.8), 4).run(q, [0, 1, 2, 3], None)
    assert replay.info["k"] == 2 and rec["ended"] == 2 and rec["answer"] == "1"
    assert replay.tokens == 50 + 100 + 100 + 100 and 350 <= rec["tokens"] <= 350 + 2 * 2 * 50


def test_auto_runs_the_recipes_method(tmp_path):
    recipe = tmp_path / "r.json"
    recipe.write_text(json.dumps({"method": "x", "live": {"methods": ["esc"], "wave": 2}}))
    cfg = SolveConfig(n=4, methods=("cons@N", "auto"), recipe=str(recipe))
    assert cfg.methods == ("cons@N", "esc") and cfg.wave == 2
    recipe.write_text(json.dumps({"live": {"methods": ["esc"], "api_key": "x"}}))
    with pytest.raises(Exception, match="unknown live settings"):
        SolveConfig(methods=("auto",), recipe=str(recipe))


@settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data(), n=st.integers(2, 8), m=st.integers(1, 3), k=st.integers(0, 8))
def test_live_short_m_at_k_and_cons_k_equal_their_replay(tmp_path, data, n, m, k):
    """short-m@k (m voters among the first k, the shortest ending first) and cons@k (the first k,
    whole), live on the replay backend against their replay methods, on random small pools."""
    from deepprune.replay.methods.sequential import ShortMK
    from deepprune.replay.methods.voting import ConsK

    answers = data.draw(st.lists(ANSWERS, min_size=n, max_size=n))
    assume(any(a is not None for a in answers))
    lens = [CHUNK * c for c in data.draw(st.permutations(range(1, 13)))[:n]]
    q = _pool(tmp_path / "p.jsonl", answers, lens)
    k = min(k, n)
    m = min(m, k or n)
    cfg = SolveConfig(
        n=n, methods=("short-m@k", "cons@k"), short_k=k, short_m=m, k=max(k, 1), max_tokens=10**6
    )
    recs = {r["method"]: r for r in _live(cfg, tmp_path / "p.jsonl")}
    order = list(range(n))

    def answer(label):
        return None if label < 0 else answers[list(q.labels).index(label)]

    short = ShortMK(m, k or None).run(q, order, None)
    assert recs["short-m@k"]["answer"] == answer(short.answer), (answers, lens, k, m)
    started = k or n
    # the stopped traces stream on until the stop reaches them (at most 2 chunks late, see above)
    assert short.tokens <= recs["short-m@k"]["tokens"] <= short.tokens + 2 * CHUNK * (started - m)
    rec = recs["short-m@k"]  # the first m to end vote; the longest chain is the m-th to end's,
    # or a stopped trace's that streamed on up to 2 chunks past it
    assert (rec["k"], rec["m"], rec["ended"]) == (started, m, m)
    assert short.seq_tokens <= rec["sequential_tokens"] <= short.seq_tokens + 2 * CHUNK
    cons = ConsK(max(k, 1)).run(q, order, random.Random(0))  # a whole k: the rng draws nothing
    assert (
        recs["cons@k"]["answer"] == answer(cons.answer) and recs["cons@k"]["tokens"] == cons.tokens
    )


def test_live_short_m_at_k_by_hand_completes_the_first_m_to_end(tmp_path):
    """Four traces of 50..200 tokens, m = 2: the two shortest end first, vote, and are the run's
    completed traces (whole, finished); the others are stopped, not completed."""
    import asyncio

    from deepprune.engine.backends import get_backend
    from deepprune.engine.live import prepare, solve_one

    _pool(tmp_path / "p.jsonl", ["1", "2", "2", "2"], [50, 100, 150, 200])
    cfg = SolveConfig(n=4, methods=("short-m@k",), short_m=2, max_tokens=10**6)
    backend = get_backend("replay", pool=str(tmp_path / "p.jsonl"))
    setup = prepare(cfg, backend)
    res = asyncio.run(solve_one(setup, backend, Problem("q", "", "1"), setup.methods[0]))
    assert (res.result["answer"], res.result["k"], res.result["m"], res.result["ended"]) == (
        "1",
        4,
        2,
        2,
    )
    assert sorted(res.completed) == [0, 1] and all(res.completed[i][1] for i in (0, 1))
    assert [len(res.completed[i][0]) > 0 for i in (0, 1)] == [True, True]
    assert res.ledger.sequential_tokens >= 100
