"""`deepprune solve` on a replayed pool: the same decisions as the simulator, pruned traces really stop, resume."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from deepprune.cli import main
from deepprune.engine.solve import SolveConfig, solve
from deepprune.errors import ConfigError
from deepprune.grading import AnswerClasses
from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.pools import read_pool
from deepprune.replay.batched import cluster_runs, select_completed
from deepprune.replay.harness import OnlineConfig, attach_judge, load_questions, orders_for
from deepprune.replay.methods import DeepPrune
from deepprune.rng import run_key
from tests.conftest import DEMO_POOL, ROOT, shared_pool


@pytest.mark.parametrize("pool,judge", [("demo", "oracle"), ("demo", "lexical:jaccard"),
                                        ("qwen3-8b-mmlu-think-n50.jsonl", "lexical:jaccard"),
                                        ("qwen3-8b-mmlu-think-n50.jsonl", "oracle")])  # fmt: skip
def test_solve_on_a_replayed_pool_makes_the_simulators_decisions(pool, judge):
    path = DEMO_POOL if pool == "demo" else shared_pool(pool)
    n = len(read_pool(path)[0].traces)
    cfg = SolveConfig(n=n, methods=("deepprune",), judge=judge, trunc="tokens:40", deterministic=True,
                      max_tokens=10**7, seed=3)  # fmt: skip
    res = solve(None, cfg, backend="replay", pool=str(path), progress=False)
    recs = {r["question"]: r for r in res["records"]}
    oc = OnlineConfig(trunc="tokens:40", repeats=1, seed=3)
    qs = load_questions(path, oc)
    j = get_judge(judge)
    attach_judge(qs, j)
    for q in qs:
        order = orders_for(q, oc)[0]
        key = run_key("deepprune", 3, 0, q.qid)
        runs = cluster_runs(np.array([order]), np.array([0.5]), np.array([key], dtype=np.uint64), q.scores[j.id],
                            ClusterConfig())  # fmt: skip
        done, fallback = select_completed(runs, 0, ClusterConfig(), key)
        rec = recs[q.qid]
        assert rec["completed"] == done and rec["fallback"] == fallback  # the same traces completed
        sim = DeepPrune(j.id).run_repeats(q, [order], 3)[0]
        assert rec["tokens"] == sim.tokens  # the same tokens: N prefixes + the completions' rest
        assert (
            rec["judge_calls"] == sim.aux_calls > 0
        )  # one call per pair compared, as the simulator counts
        src = next(x for x in read_pool(path) if x.id == q.qid)
        classes = AnswerClasses([t.answer for t in src.traces] + [rec["answer"]], src.answer_type)
        assert classes.labels[-1] == sim.answer  # the same voted answer


def test_stream_mode_stops_pruned_traces_and_counts_their_waste():
    import asyncio

    from deepprune.engine.backends.replay import ReplayBackend
    from deepprune.engine.live import prepare
    from deepprune.engine.problems import Problem
    from deepprune.engine.solve import _solve

    backend = ReplayBackend(str(DEMO_POOL), rate=0)
    q = read_pool(DEMO_POOL)[0]
    cfg = SolveConfig(n=32, methods=("cons@N", "deepprune"), trunc="tokens:40", mode="stream", max_tokens=10**7,
                      judge="lexical:jaccard")  # fmt: skip
    setup = prepare(cfg, backend)
    res = asyncio.run(
        _solve([Problem(q.id, "", q.gold, q.answer_type)], backend, setup, None, False)
    )
    dp = next(r for r in res["records"] if r["method"] == "deepprune")
    cn = next(r for r in res["records"] if r["method"] == "cons@N")
    served = backend.served
    pruned = [i for i in range(32) if i not in dp["completed"]]
    assert pruned and dp["tokens"] < cn["tokens"]
    streamed = {rid: n for rid, n in dp["requests"]}
    for (
        i
    ) in pruned:  # a pruned trace stopped: what was streamed is its prefix plus the counted waste
        assert streamed[f"{q.id}/{i}"] == served[f"{q.id}/{i}"] < len(q.traces[i].text)
    assert dp["inflight_waste"] == sum(streamed[f"{q.id}/{i}"] - 40 for i in pruned)


def test_bad_solve_configs_are_config_errors(tmp_path, capsys):
    with pytest.raises(ConfigError, match="frac"):
        SolveConfig(trunc="frac:0.3")
    with pytest.raises(ConfigError, match="unknown method"):
        SolveConfig(methods=("cons@N", "best-of-n"))
    rc = main(
        ["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--judge", "lexcal:jaccard"]
    )
    assert rc == 2 and "unknown judge 'lexcal'" in capsys.readouterr().err


def test_a_killed_solve_resumes_without_redoing_finished_problems(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "deepprune.cli", "solve", "--backend", "replay", "--pool", str(DEMO_POOL),
           "--n", "32", "--judge", "lexical:jaccard", "--trunc", "tokens:40", "--max-tokens", "100000",
           "--methods", "cons@N,deepprune",
           "--rate", "20000", "--concurrent-problems", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    rec = out / "records.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (
        not rec.exists() or len(rec.read_text().splitlines()) < 3
    ):
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    before = [json.loads(x) for x in rec.read_text().splitlines() if x.strip()]
    assert 3 <= len(before) < 24  # killed part-way
    finished = {r["question"] for r in before if r["method"] == "deepprune"}
    res = solve(None, SolveConfig(n=32, judge="lexical:jaccard", trunc="tokens:40", max_tokens=100000,
                                methods=("cons@N", "deepprune")),
                backend="replay", pool=str(DEMO_POOL), out=out, progress=False)  # fmt: skip
    assert res["solved_now"] == 12 - len(finished)  # finished problems are not redone
    keys = [(r["question"], r["method"]) for r in res["records"]]
    assert len(keys) == len(set(keys)) == 24


@pytest.mark.slow  # 30 questions x 128 traces, twice (CI runs it; the fast suite leaves it)
@pytest.mark.parametrize("pool,trunc,judge", [("probe-qwen3-8b-aime24-n128.jsonl", "probe:1", "probe"),
                                              ("probe-qwen3-8b-hmmt25-n128.jsonl", "probe:2", "probe:last=2")])  # fmt: skip
def test_solve_with_answer_probes_makes_prunes_decisions_on_the_probe_pools(pool, trunc, judge):
    """Probes served from the pool's recorded answers: the live engine clusters, completes, votes
    and pays exactly as `deepprune prune --judge probe` on every question of both probe pools."""
    from deepprune.probes import cue_tokens

    path = shared_pool(pool)
    cfg = SolveConfig(n=128, methods=("deepprune",), judge=judge, trunc=trunc, probe_every=500,
                      deterministic=True, max_tokens=10**7, seed=3)  # fmt: skip
    res = solve(None, cfg, backend="replay", pool=str(path), progress=False)
    recs = {r["question"]: r for r in res["records"]}
    oc = OnlineConfig(trunc=trunc, repeats=1, seed=3)
    qs = load_questions(path, oc)
    j = get_judge(judge)
    attach_judge(qs, j)
    src = {x.id: x for x in read_pool(path)}
    assert len(qs) == 30
    for q in qs:
        order = orders_for(q, oc)[0]
        key = run_key("deepprune", 3, 0, q.qid)
        runs = cluster_runs(np.array([order]), np.array([0.5]), np.array([key], dtype=np.uint64), q.scores[j.id],
                            ClusterConfig())  # fmt: skip
        done, fallback = select_completed(runs, 0, ClusterConfig(), key)
        rec = recs[q.qid]
        assert rec["completed"] == done and rec["fallback"] == fallback
        sim = DeepPrune(j.id).run_repeats(q, [order], 3)[0]
        assert rec["tokens"] == sim.tokens
        # the probes asked are the probes the replay charges (the cue is the prompt's part there)
        assert rec["probe_tokens"] + rec["probe_calls"] * cue_tokens() == sim.probe_tokens > 0
        classes = AnswerClasses(
            [t.answer for t in src[q.qid].traces] + [rec["answer"]], src[q.qid].answer_type
        )
        assert classes.labels[-1] == sim.answer


def test_probe_requests_have_their_own_columns_and_the_ledger_sums_the_requests():
    path = shared_pool("probe-qwen3-8b-aime24-n128.jsonl")
    cfg = SolveConfig(n=32, methods=("cons@N", "deepprune", "cons@k"), judge="probe", trunc="probe:2",
                      probe_every=500, deterministic=True, max_tokens=10**7)  # fmt: skip
    qs = read_pool(path)[:3]
    from deepprune.engine.problems import Problem

    res = solve([Problem(q.id, "", q.gold, q.answer_type) for q in qs], cfg, backend="replay", pool=str(path),
                progress=False)  # fmt: skip
    for rec in res["records"]:
        probes = [n for rid, n in rec["requests"] if "/probe" in rid]
        traces = [n for rid, n in rec["requests"] if "/probe" not in rid]
        assert rec["tokens"] == sum(traces) and rec["probe_tokens"] == sum(probes)
        assert rec["probe_calls"] == len(probes)
        # no cache use reported: the net adds the probes' generated tokens only
        assert rec["net_tokens"] == rec["tokens"] + rec["probe_tokens"]
        if rec["method"] == "deepprune":
            assert (
                rec["probe_calls"] == 32 and rec["probe_tokens"] > 0
            )  # one probe per trace at the cut
        else:
            assert rec["probe_calls"] == 0
    rows = {r["method"]: r for r in res["rows"]}
    dp, cn = rows["deepprune"], rows["cons@N"]
    assert dp["net_tokens"] == pytest.approx(dp["tokens"] + dp["probe_tokens"])
    assert dp["net_reduction_vs_consN"] == pytest.approx(1 - dp["net_tokens"] / cn["tokens"])
    assert dp["net_reduction_vs_consN"] < dp["reduction_vs_consN"]


def test_parallel_probe_live_on_a_hand_built_pool(tmp_path):
    """3 traces, a probe every 10 tokens. Probes: t0 1,1,1,1; t1 2,2,1,1; t2 2,3,3,3. With T=1,
    patience 1, no warm-up: round 0 holds (1,2,2); round 1 (1,2,3) ties, the first trace's answer
    1 wins, t1 and t2 disagree and are pruned; round 2: t0 still says 1, the consensus held one
    round: stop, answer 1 (the replay method decides the same)."""
    from deepprune.engine.problems import Problem
    from deepprune.replay.methods.probing import ParallelProbe

    probes = [["1", "1", "1", "1"], ["2", "2", "1", "1"], ["2", "3", "3", "3"]]
    row = {"id": "q", "gold": "1", "probe_every": 10,
           "traces": [{"answer": p[-1], "num_tokens": 40, "probes": p} for p in probes]}  # fmt: skip
    pool = tmp_path / "p.jsonl"
    pool.write_text(json.dumps(row) + "\n")
    cfg = SolveConfig(n=3, methods=("parallel-probe",), probe_every=10, pp_T=1, pp_patience=1, pp_warm_up=0,
                      max_tokens=1000)  # fmt: skip
    rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(pool), progress=False)[
        "records"
    ][0]
    assert (rec["answer"], rec["rounds"], rec["pruned"], rec["finished"]) == ("1", 2, 2, 0)
    assert rec["correct"] is True and rec["probe_calls"] >= 3 and rec["probe_tokens"] > 0
    oc = OnlineConfig(trunc="probe:1", repeats=1, shuffle=False)
    q = load_questions(pool, oc)[0]
    out = ParallelProbe(chains=3, T=1, patience=1, warm_up=0, max_rounds=100).run(
        q, [0, 1, 2], None
    )
    assert out.answer == q.labels[0] and out.info["rounds"] == 2


def test_short_m_at_k_live_stops_the_others_when_m_have_ended(tmp_path):
    """Four traces of 30, 120, 60 and 200 tokens (answers 1, 2, 1, 3); short-1@3 streams the first
    three, the 30-token trace ends first: answer 1; the other two are stopped near 30 tokens.
    short-2@3: the 30- and 60-token traces end, 1 and 1. The replay method agrees on both."""
    from deepprune.engine.problems import Problem
    from deepprune.replay.methods.sequential import ShortMK

    lens, answers = [30, 120, 60, 200], ["1", "2", "1", "3"]
    row = {
        "id": "q",
        "gold": "1",
        "traces": [{"answer": a, "num_tokens": n} for a, n in zip(answers, lens)],
    }
    pool = tmp_path / "p.jsonl"
    pool.write_text(json.dumps(row) + "\n")
    q = load_questions(pool, OnlineConfig(trunc="tokens:5", repeats=1, shuffle=False))[0]
    for m in (1, 2):
        cfg = SolveConfig(n=4, methods=("short-m@k",), short_k=3, short_m=m, max_tokens=1000)
        rec = solve([Problem("q", "", "1")], cfg, backend="replay", pool=str(pool), progress=False)[
            "records"
        ][0]
        cut = sorted(lens[:3])[m - 1]
        want = sum(
            min(n, cut) for n in lens[:3]
        )  # an ended trace costs its length, a stopped one the cut
        assert (rec["answer"], rec["k"], rec["m"], rec["ended"]) == ("1", 3, m, m) and rec[
            "correct"
        ] is True
        # every stopped trace ran to about the m-th end (the replay streams textless traces in chunks)
        assert want <= rec["tokens"] <= want + 100
        replay = ShortMK(m, 3).run(q, [0, 1, 2, 3], None)
        assert q.labels[[0, 2]].tolist() == [q.labels[0]] * 2 and replay.answer == q.labels[0]
        assert replay.tokens == want and replay.seq_tokens == cut
    with pytest.raises(ConfigError, match="short-m@k needs"):
        SolveConfig(methods=("short-m@k",), short_k=2, short_m=3)


def test_a_run_directory_belongs_to_one_source_and_says_where_it_came_from(tmp_path, capsys):
    """The resume key holds the backend, server, model and input files: a rerun into the same --out
    from another pool is refused with what differs; config.json carries the provenance."""
    import shutil

    other = tmp_path / "other.jsonl"
    shutil.copy(DEMO_POOL, other)
    other.write_text(other.read_text().replace('"synth-0"', '"synth-0b"', 1))
    args = ["solve", "--backend", "replay", "--judge", "lexical:jaccard", "--trunc", "tokens:8", "--n", "4",
            "--out", str(tmp_path / "run"), "--no-progress"]  # fmt: skip
    assert main([*args, "--pool", str(DEMO_POOL)]) == 0
    saved = json.loads((tmp_path / "run" / "config.json").read_text())
    assert saved["source"]["backend"] == "replay" and len(saved["source"]["pool_sha256"]) == 64
    prov = saved["provenance"]
    assert (
        prov["deepprune_version"]
        and prov["command"]
        and prov["date"]
        and str(DEMO_POOL) in prov["inputs"]
    )
    capsys.readouterr()
    assert main([*args, "--pool", str(other)]) == 2
    err = capsys.readouterr().err
    assert "other settings (pool, pool_sha256)" in err


def test_version_flag():
    with pytest.raises(SystemExit) as e:
        main(["--version"])
    assert e.value.code == 0


def test_solve_refuses_a_cut_past_max_tokens_and_warns_when_n_is_too_small(capsys, tmp_path):
    with pytest.raises(ConfigError, match="at or past --max-tokens 256"):
        SolveConfig(judge="lexical:jaccard", trunc="tokens:500")
    with pytest.raises(ConfigError, match="cuts at 1000 tokens"):
        SolveConfig(trunc="probe:2", probe_every=500)
    assert SolveConfig(n=16, judge="lexical:jaccard", trunc="tokens:64").warnings()
    assert not SolveConfig(n=64, judge="lexical:jaccard", trunc="tokens:64").warnings()
    assert main(["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "8", "--judge", "lexical:jaccard",
                 "--trunc", "tokens:8", "--max-tokens", "100000", "--no-progress", "--out", str(tmp_path / "r")]) == 0  # fmt: skip
    assert "warning: --n 8 <= K2 = 20" in capsys.readouterr().err


def test_without_gold_solve_reports_agreement_with_cons_n(tmp_path):
    rows = [json.loads(x) for x in DEMO_POOL.read_text().splitlines()]
    for r in rows:
        r.pop("gold", None)
    pool = tmp_path / "nogold.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = SolveConfig(
        n=8,
        judge="lexical:jaccard",
        trunc="tokens:8",
        max_tokens=10**6,
        deterministic=True,
        cluster=ClusterConfig(K2=2, K3=2),
    )
    res = solve(None, cfg, backend="replay", pool=str(pool), progress=False)
    by = {r["method"]: r for r in res["rows"]}
    assert all(r["accuracy"] is None for r in res["rows"])
    assert by["cons@N"]["agrees_with_consN"] is None  # itself: not a measure
    recs = [r for r in res["records"] if r["method"] == "deepprune"]
    assert by["deepprune"]["agrees_with_consN"] == pytest.approx(
        sum(r["agrees_with_consN"] for r in recs) / len(recs)
    )
    assert 0 < by["deepprune"]["agrees_with_consN"] <= 1


def test_solve_and_generate_run_where_an_event_loop_already_runs(tmp_path):
    """Jupyter runs an event loop: the sync calls get a worker thread, the async ones run on it."""
    import asyncio

    from deepprune.engine.generate import GenerateConfig, generate, generate_async
    from deepprune.engine.solve import solve_async

    cfg = SolveConfig(n=4, methods=("cons@N",), max_tokens=10**6)

    async def inside_a_loop():
        a = solve(None, cfg, backend="replay", pool=str(DEMO_POOL), progress=False)
        b = await solve_async(None, cfg, backend="replay", pool=str(DEMO_POOL), progress=False)
        g = generate(None, tmp_path / "a.jsonl", GenerateConfig(n=2), backend="replay", pool=str(DEMO_POOL),
                     progress=False)  # fmt: skip
        h = await generate_async(None, tmp_path / "b.jsonl", GenerateConfig(n=2), backend="replay",
                                 pool=str(DEMO_POOL), progress=False)  # fmt: skip
        return a, b, g, h

    a, b, g, h = asyncio.run(inside_a_loop())
    assert a["rows"][0]["tokens"] == b["rows"][0]["tokens"] > 0
    assert (tmp_path / "a.jsonl").read_text() == (tmp_path / "b.jsonl").read_text()
    assert g["problems"] == h["problems"] == 12


def test_a_live_run_reads_like_compare_ci_percentiles_figure_and_its_traces_as_a_pool(
    tmp_path, capsys
):
    from deepprune.metrics import paired_ci
    from deepprune.pools import read_pool

    out, pool = tmp_path / "run", tmp_path / "traces.jsonl"
    args = ["solve", "--backend", "replay", "--pool", str(DEMO_POOL), "--n", "8", "--judge", "lexical:jaccard",
            "--trunc", "tokens:8", "--max-tokens", "1000000", "--K2", "2", "--K3", "2", "--deterministic",
            "--out", str(out), "--save-traces", str(pool), "--no-progress", "--json"]  # fmt: skip
    assert main(args) == 0
    rows = {r["method"]: r for r in json.loads(capsys.readouterr().out)}
    recs = [json.loads(x) for x in (out / "records.jsonl").read_text().splitlines()]
    dp = sorted((r for r in recs if r["method"] == "deepprune"), key=lambda r: r["question"])
    cn = sorted((r for r in recs if r["method"] == "cons@N"), key=lambda r: r["question"])
    diff = np.array(
        [float(a["correct"]) - float(b["correct"]) for a, b in zip(dp, cn, strict=True)]
    )
    assert rows["deepprune"]["delta_vs_consN"] == pytest.approx(diff.mean())
    assert rows["deepprune"]["delta_vs_consN_ci95"] == pytest.approx(paired_ci(diff, 1000))
    assert rows["deepprune"]["wall_p90"] == pytest.approx(
        np.percentile([r["wall_s"] for r in dp], 90)
    )
    # the traces as a pool: cons@N's 8 full traces per problem, read by prune
    saved = read_pool(pool)
    src = {q.id: q for q in read_pool(DEMO_POOL)}
    assert [q.id for q in saved] == list(src) and all(len(q.traces) == 8 for q in saved)
    q = saved[0]
    assert [t.text for t in q.traces] == [t.text for t in src[q.id].traces[:8]]
    assert sum(t.num_tokens for q in saved for t in q.traces) == sum(r["tokens"] for r in cn)
    assert main(["prune", "--pool", str(pool), "--repeats", "1", "--judge", "lexical:jaccard", "--trunc", "tokens:8",
                 "--out", str(tmp_path / "prune")]) == 0  # fmt: skip
    # and the figure of the run
    capsys.readouterr()
    assert main(["figures", "--results", str(out), "--out", str(tmp_path / "fig")]) == 0
    assert (tmp_path / "fig" / "run_solve.png").stat().st_size > 10_000


def test_deepconf_live_stops_low_confidence_traces_early(tmp_path):
    """Odd traces carry low confidences: after the warm-up, each is stopped once its window falls
    below the threshold, so it streams fewer tokens than its length; high ones run to the end."""
    rng = np.random.default_rng(0)
    rows = [{"id": f"q{q}", "gold": "1", "traces": [
        {"text": " ".join(f"w{k}" for k in range(29)) + f" \\boxed{{{t % 3}}}", "answer": str(t % 3),
         "confs": (rng.uniform(0.5, 3.0, 200) if t % 2 else rng.uniform(3.0, 6.0, 200)).tolist()}
        for t in range(8)]} for q in range(3)]  # fmt: skip
    pool = tmp_path / "c.jsonl"
    pool.write_text("".join(json.dumps(r) + "\n" for r in rows))
    cfg = SolveConfig(n=8, methods=("cons@N", "deepconf"), deepconf_warmup=2, deepconf_window=4, max_tokens=10**6,
                      logprobs=1)  # fmt: skip
    res = solve(None, cfg, backend="replay", pool=str(pool), progress=False)
    cn = {r["question"]: r for r in res["records"] if r["method"] == "cons@N"}
    for r in (r for r in res["records"] if r["method"] == "deepconf"):
        assert r["stopped"] >= 1 and r["tokens"] < cn[r["question"]]["tokens"]
        full = dict(cn[r["question"]]["requests"])
        streamed = dict(r["requests"])
        assert (
            sum(streamed[k] < full[k] for k in full) == r["stopped"]
        )  # exactly the stopped ones were cut


@pytest.mark.slow  # a subprocess run twice (~6 s): CI runs it
def test_ctrl_c_is_one_line_and_the_resume_says_what_it_kept(tmp_path):
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "deepprune.cli", "solve", "--backend", "replay", "--pool", str(DEMO_POOL),
           "--n", "32", "--methods", "cons@N", "--max-tokens", "100000", "--rate", "8000",
           "--concurrent-problems", "1", "--no-progress", "--out", str(out)]  # fmt: skip
    # the child gets Ctrl-C's default handling even when this test runs with SIGINT ignored (a
    # background job of a shell without job control: a dry run of CI started with `cmd &` ignored
    # the signal three times, and the run finished all 12 problems)
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    rec = out / "records.jsonl"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and (
        not rec.exists() or len(rec.read_text().splitlines()) < 2
    ):
        time.sleep(0.1)
    proc.send_signal(signal.SIGINT)
    err = proc.communicate(timeout=120)[1].strip()
    kept = len([x for x in rec.read_text().splitlines() if x.strip()])
    # at 8,000 tokens/s a trace a problem takes ~0.4 s: the signal lands mid-run even under load
    assert proc.returncode == 130 and "Traceback" not in err, (proc.returncode, kept, err)
    assert err.splitlines()[-1].startswith("deepprune: interrupted (Ctrl-C)")
    again = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    assert f"{kept} of 12 problems already solved, {12 - kept} to go" in again.stderr


def test_a_run_whose_every_trace_is_empty_fails_naming_the_likely_cause(tmp_path, capsys):
    from deepprune.cli import main
    from tests.conftest import write_jsonl

    pool = write_jsonl(tmp_path / "empty.jsonl", [{"id": f"q{k}", "gold": "1", "traces": [
        {"text": "", "answer": None, "num_tokens": 0} for _ in range(4)]} for k in range(2)])  # fmt: skip
    rc = main(["solve", "--backend", "replay", "--pool", str(pool), "--methods", "cons@N", "--n", "4",
               "--no-progress", "--out", str(tmp_path / "run")])  # fmt: skip
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert rc == 2 and "every trace came back empty" in err and "--api completions" in err
    assert not (tmp_path / "run" / "results.json").exists()  # nothing that looks like a result
