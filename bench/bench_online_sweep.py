"""Online sweep at the paper's scale: 30 questions x 512 traces, 17 tau values x 16 repeats, noisy oracle.

    python bench/bench_online_sweep.py [--questions 30 --traces 512 --repeats 16]

Prints wall time, peak memory, judge comparisons, distinct pairs judged (no pair is
judged twice across the sweep) and judge calls per trace as N grows.
"""

import argparse
import random
import resource
import tempfile
import time
from pathlib import Path

from deepprune.greedy import ClusterConfig
from deepprune.judges import get_judge
from deepprune.pools import write_pool
from deepprune.replay.harness import (
    OnlineConfig,
    attach_judge,
    load_questions,
    run_method,
    run_sweep,
)
from deepprune.replay.methods import DeepPrune
from deepprune.replay.prune import parse_sweep
from deepprune.synth import SynthConfig, synth_pool

ap = argparse.ArgumentParser()
ap.add_argument("--questions", type=int, default=30)
ap.add_argument("--traces", type=int, default=512)
ap.add_argument("--repeats", type=int, default=16)
ap.add_argument("--workers", type=int, default=2, help="processes over questions (2 cores here)")
a = ap.parse_args()

with tempfile.TemporaryDirectory() as d:
    pool = Path(d) / "pool.jsonl"
    write_pool(pool, synth_pool(SynthConfig(questions=a.questions, traces=a.traces, steps=30)))
    t0 = time.perf_counter()
    cfg = OnlineConfig(repeats=a.repeats, workers=a.workers)
    qs = load_questions(pool, cfg)
    t_load = time.perf_counter() - t0
    judge = get_judge("noisy-oracle:auroc=0.87")
    attach_judge(qs, judge)
    t1 = time.perf_counter()
    taus = parse_sweep("tau=0.1:0.9:0.05")
    rows = run_sweep(DeepPrune(judge.id, cfg.cluster), taus, qs, cfg)
    comparisons = sum(row["aux_calls"] * len(qs) * a.repeats for row in rows)
    t_sweep = time.perf_counter() - t1
    calls = sum(q.scores[judge.id].calls for q in qs)
    distinct = sum(q.scores[judge.id].distinct() for q in qs)
    assert calls == distinct, (calls, distinct)
    peak = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
               resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss) / 1024  # fmt: skip
    print(
        f"workload: {a.questions} questions x {a.traces} traces, {len(taus)} tau values x {a.repeats} repeats, "
        f"{a.workers} worker(s)"
    )
    print(
        f"load+prefixes: {t_load:.1f} s; sweep: {t_sweep:.1f} s; total {t_load + t_sweep:.1f} s; peak RSS {peak:.0f} MiB (largest process)"
    )
    print(
        f"judge comparisons consulted: {comparisons:,.0f}; judge calls: {calls:,}; "
        f"distinct pairs in the memo: {distinct:,} (no pair judged twice)"
    )

    print("judge calls per trace vs N (tau=0.5, 4 repeats):")
    for n in (64, 128, 256, 512):
        sub = Path(d) / f"n{n}.jsonl"
        write_pool(sub, synth_pool(SynthConfig(questions=10, traces=n, seed=1)))
        qn = load_questions(sub, OnlineConfig(repeats=4))
        attach_judge(qn, judge)
        row = run_method(DeepPrune(judge.id, ClusterConfig()), qn, OnlineConfig(repeats=4))
        print(f"  N={n:4d}: {row['aux_calls'] / n:6.1f} calls/trace (bound K*K1 = 320)")
random.seed(0)
